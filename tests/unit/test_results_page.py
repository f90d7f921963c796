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


@pytest.mark.parametrize("page", [DOCS_RESULTS, DOCS_RESULTS / "evidence"], ids=str)
def test_docs_results_tables_equal_a_regeneration_from_its_parquet_files(page):
    text = (page / "README.md").read_text()
    specs = block_specs(text)
    # Figure 1b/1c's table is generated, from the figures' data committed beside the page
    assert any(s.startswith("sweep ") for s in specs), specs
    assert stale_blocks(text, page) == [], (
        f"{page}/README.md: regenerate with `python benchmarks/summarize_results.py "
        f"{page} --update {page}/README.md`"
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


def test_the_strict_fit_block_sets_both_read_outs_side_by_side(tree):
    slow = pd.read_parquet(tree / "figures" / "fig1b.parquet")
    strict = dict(
        strict_epochs_to_fit=[12.0, 40.0, 44.0, 50.0],
        strict_censored=[False, False, False, True],
        strict_relative_time_to_fit=[1.0, 3.3, 3.7, None],
        strict_test_error=[0.2, 0.9, 0.9, 0.88],
        strict_test_epoch=[12, 40, 44, 50],
    )
    slow = slow.assign(**strict)
    slow.to_parquet(tree / "figures" / "fig1b.parquet")
    slow.assign(test_error=[0.21, 0.91, 0.89, 0.9]).to_parquet(tree / "figures" / "fig1c.parquet")
    lines = build_block("strict_fit fig1b fig1c", tree).splitlines()
    assert "epochs to whole-set ≥ 99%" in lines[0]
    row = next(line for line in lines if line.startswith("| d_1k | m | 1 |"))
    assert "3.20 ± 0.28 (n=2)" in row and "42.0 ± 2.8 (n=2)" in row and "3.50 ± 0.28 (n=2)" in row
    assert "≥ 50.0 (median; 1 of 1 censored)" in lines[2]  # d_500 never reached 99%


def test_the_scorecard_and_runs_blocks(tmp_path):
    from rethinkgen.analysis.scorecard import Readouts, build_scorecard
    from tests.unit.test_scorecard import runs_frame

    runs = runs_frame(
        [dict(dataset="fmnist", corruption="random_labels", final_train_accuracy=0.97)]
    ).assign(params_per_example=20.0, precision="fp32")
    (tmp_path / "tables" / "experiments" / "table1").mkdir(parents=True)
    runs.to_parquet(tmp_path / "tables" / "experiments" / "table1" / "runs.parquet")
    build_scorecard({"table1": [Readouts("table1", runs)]}).to_parquet(
        tmp_path / "tables" / "scorecard.parquet"
    )
    card = build_block("scorecard", tmp_path).splitlines()
    assert card[0].startswith("34 checks: ") and "cannot fail on this data" in card[0]
    assert any(line.startswith("| 2: Random labels fitted") and "| fail |" in line for line in card)
    assert not any("not applicable" in line for line in card[1:])
    listed = build_block("runs table1", tmp_path).splitlines()
    assert listed[2] == (
        "| fmnist | inception | random_labels | none | 0 | 20 | fp32 | budget | 20 | 10 "
        "| 97.0% | 50.0% |"
    )


def test_publish_copies_what_the_blocks_read(tree, tmp_path):
    from rethinkgen.analysis.results_page import publish

    (tree / "tables" / "experiments" / "fig1bc").mkdir(parents=True)
    pd.DataFrame({"a": [1]}).to_parquet(tree / "tables" / "experiments" / "fig1bc" / "runs.parquet")
    pd.DataFrame({"a": [1]}).to_parquet(
        tree / "tables" / "experiments" / "fig1bc" / "curves.parquet"
    )
    page = tmp_path / "page"
    written = {p.relative_to(page).as_posix() for p in publish(tree, page)}
    assert written == {"figures/fig1b.parquet", "tables/experiments/fig1bc/runs.parquet"}
    assert build_block("sweep fig1b", page) == build_block("sweep fig1b", tree)


def test_the_precision_and_batchnorm_gain_blocks(tmp_path):
    from tests.unit.test_batchnorm_gain import curve, run
    from tests.unit.test_precision_comparison import runs as precision_runs

    precision = tmp_path / "tables" / "experiments" / "precision"
    precision.mkdir(parents=True)
    precision_runs([80, 82, 78], [79, 81, 83]).to_parquet(precision / "runs.parquet")
    lines = build_block("precision precision", tmp_path).splitlines()
    assert len(lines) == 4 and "agree (difference within 2 SE)" in lines[2]

    fig2b = tmp_path / "tables" / "experiments" / "fig2b_matched"
    fig2b.mkdir(parents=True)
    pd.DataFrame(
        [run("bn", "inception", 0, 1.0), run("nobn", "inception_nobn", 0, 0.995)]
    ).to_parquet(fig2b / "runs.parquet")
    pd.DataFrame(curve("bn", 0, [0.8] * 6) + curve("nobn", 0, [0.7] * 6)).to_parquet(
        fig2b / "curves.parquet"
    )
    lines = build_block("batchnorm_gain fig2b_matched", tmp_path).splitlines()
    assert lines[2].startswith("| d | 0 | bn / nobn | 12 / 12 | 100.0% / 99.5% | 80.0% / 70.0% |")
    assert lines[-1] == (
        "Mean gain over seeds: +10.0 points (n=1); both nets at least 99% on the whole "
        "training set in 1 of 1 seeds."
    )
    with pytest.raises(PageError, match="curves.parquet is missing"):
        build_block("batchnorm_gain precision", tmp_path)


def test_a_ratio_of_two_censored_values_reads_undefined_not_nan():
    from rethinkgen.analysis.results_page import _estimate

    row = pd.Series(dict(n=3, n_censored=3, estimate=float("nan"), summary="median"))
    assert _estimate(row, 2) == "undefined (3 of 3 censored)"
