"""docs/results/README.md's tables are generated from the Parquet files beside it
(rethinkgen.analysis.results_page): the committed tables equal a regeneration, and a
block that cannot be built is an error, never an empty table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rethinkgen.analysis.results_page import (
    PageError,
    block_specs,
    build_block,
    render_page,
    stale_blocks,
)

DOCS_RESULTS = Path(__file__).parents[2] / "docs" / "results"


def test_docs_results_tables_equal_a_regeneration_from_its_parquet_files():
    text = (DOCS_RESULTS / "README.md").read_text()
    specs = block_specs(text)
    # Figure 1b/1c's table is generated, from the figures' data committed beside the page
    assert any(s.startswith("sweep fig1b_convergence_slowdown") for s in specs), specs
    assert stale_blocks(text, DOCS_RESULTS) == [], (
        "docs/results/README.md: regenerate with `python benchmarks/summarize_results.py "
        "docs/results --update docs/results/README.md`"
    )


def figure_rows(rows: list[dict]) -> pd.DataFrame:
    base = dict(source="ours", regularizer="none", outcome="fitted", censored=False)
    return pd.DataFrame([base | r for r in rows])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "figures").mkdir()
    rows = [
        dict(dataset="d_1k", model="m", seed=s, label_corruption=p, readout_epoch=e, ratio=r)
        for s, (p, e, r) in enumerate([(0.0, 10, 1.0), (1.0, 30, 3.0), (1.0, 34, 3.4)])
    ] + [
        dict(dataset="d_500", model="m", seed=0, label_corruption=1.0, readout_epoch=50, ratio=5.0)
    ]
    slow = figure_rows(rows).rename(columns={"ratio": "relative_time_to_fit"})
    slow.loc[slow["dataset"] == "d_500", ["outcome", "censored"]] = ["censored", True]
    slow.to_parquet(tmp_path / "figures" / "fig1b.parquet")
    return tmp_path


def test_the_sweep_block_summarizes_each_cell_and_says_what_is_censored(tree):
    lines = build_block("sweep fig1b", tree).splitlines()
    assert lines[0].startswith("| dataset | model | p | runs | epochs to fit")
    assert lines[2].startswith("| d_500 |")  # sizes in order: 500 before 1k
    assert "≥ 5.00 (median; 1 of 1 censored)" in lines[2] and "| 1 (1 censored) |" in lines[2]
    assert "| d_1k | m | 1 | 2 | 32.0 ± 2.8 (n=2) | 3.20 ± 0.28 (n=2) |" in lines


def test_a_page_is_rewritten_and_a_hand_edit_is_stale(tree):
    page = "intro\n<!-- generated: sweep fig1b -->\nold\n<!-- /generated -->\nend\n"
    assert stale_blocks(page, tree) == ["sweep fig1b"]
    fresh = render_page(page, tree)
    assert fresh.startswith("intro\n<!-- generated: sweep fig1b -->\n| dataset")
    assert fresh.endswith("<!-- /generated -->\nend\n") and stale_blocks(fresh, tree) == []
    assert stale_blocks(fresh.replace("3.20", "3.25"), tree) == ["sweep fig1b"]


@pytest.mark.parametrize(
    "page, message",
    [
        ("<!-- generated: sweep missing_figure -->\n<!-- /generated -->\n", "is missing"),
        ("<!-- generated: nonsense -->\n<!-- /generated -->\n", "unknown generated block"),
        ("<!-- generated: sweep fig1b -->\nno end\n", "needs its own"),
        ("<!-- generated: scorecard -->\n<!-- /generated -->\n", "scorecard.parquet is missing"),
        ("<!-- generated: strict_fit fig1b fig1b -->\n<!-- /generated -->\n", "lack strict_"),
    ],
)
def test_a_block_that_cannot_be_built_is_an_error(tree, page, message):
    with pytest.raises(PageError, match=message):
        render_page(page, tree)
