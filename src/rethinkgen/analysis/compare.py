"""Two result sets side by side (`rethinkgen compare A B`): every table and figure data file
both hold, row by row, with each value in A, in B and their difference B - A.

A file's rows are matched on its key columns (the text and integer columns: model,
corruption, regularizer, seed, source, split, ...). The dataset key is matched only where
the two sets share a dataset (two configs usually name their subsets differently, e.g.
fashion_mnist_500 and fashion_mnist_tiny); labels written from it (``model_label``) are not
keys. A curve (several rows per key: fig1a, fig2b) is compared at its last point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

NOT_KEYS = ("model_label", "censored")  # labels written from keys; a flag, shown as a value
TEXT_VALUES = ("outcome",)  # text columns that are results, not keys
FOLDERS = ("tables", "figures")


@dataclass
class Comparison:
    name: str  # e.g. tables/table1
    table: pd.DataFrame  # keys, then <value> A, <value> B, <value> B-A
    only_a: int
    only_b: int


def result_files(results: Path) -> dict[str, Path]:
    """tables/<name> and figures/<name> -> its Parquet file (per-experiment tables left out)."""
    return {
        f"{folder}/{path.stem}": path
        for folder in FOLDERS
        for path in sorted((results / folder).glob("*.parquet"))
    }


def _columns(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(key columns, value columns) of two frames of one file."""
    common = [c for c in a.columns if c in b.columns and c not in NOT_KEYS]
    values = [
        c
        for c in common
        if c in TEXT_VALUES
        or (pd.api.types.is_float_dtype(a[c]) or pd.api.types.is_bool_dtype(a[c]))
    ]
    keys = [c for c in common if c not in values]
    if "dataset" in keys and not set(a["dataset"]) & set(b["dataset"]):
        keys.remove("dataset")
    return keys, values


def _last_points(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key: a curve's last row (the file's order is the curve's order)."""
    if not keys:
        return frame.tail(1)
    return frame.groupby(keys, sort=False, dropna=False).tail(1)


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, name: str = "") -> Comparison:
    keys, values = _columns(a, b)
    a, b = _last_points(a, keys), _last_points(b, keys)
    merged = a[keys + values].merge(
        b[keys + values], on=keys, how="outer", suffixes=(" A", " B"), indicator=True
    )
    out = merged[keys].copy()
    for column in values:
        out[f"{column} A"] = merged[f"{column} A"]
        out[f"{column} B"] = merged[f"{column} B"]
        if column not in TEXT_VALUES and not pd.api.types.is_bool_dtype(a[column]):
            out[f"{column} B-A"] = merged[f"{column} B"] - merged[f"{column} A"]
    side = merged["_merge"].astype(str)
    return Comparison(
        name,
        out.reset_index(drop=True),
        int((side == "left_only").sum()),
        int((side == "right_only").sum()),
    )


def compare_results(a: Path, b: Path) -> tuple[list[Comparison], list[str], list[str]]:
    """(each file both hold, compared; files only in A; files only in B)."""
    files_a, files_b = result_files(Path(a)), result_files(Path(b))
    both = [n for n in files_a if n in files_b]
    comparisons = [
        compare_frames(pd.read_parquet(files_a[n]), pd.read_parquet(files_b[n]), n) for n in both
    ]
    return (
        comparisons,
        [n for n in files_a if n not in files_b],
        [n for n in files_b if n not in files_a],
    )


def render(
    comparisons: list[Comparison],
    only_a: list[str],
    only_b: list[str],
    a: str,
    b: str,
    max_rows: int = 30,
) -> str:
    """The comparison as Markdown: one section per file, then what only one side has."""
    lines = [f"# {a} (A) vs {b} (B)", ""]
    for item in comparisons:
        table = item.table
        lines += [f"## {item.name}", ""]
        counts = f"{len(table) - item.only_a - item.only_b} rows in both"
        if item.only_a or item.only_b:
            counts += f", {item.only_a} only in A, {item.only_b} only in B"
        lines += [counts + ".", ""]
        shown = table.head(max_rows)
        lines += [shown.to_markdown(index=False, floatfmt=".4g"), ""]
        if len(table) > max_rows:
            lines += [f"({len(table) - max_rows} more rows; --max-rows to show them)", ""]
    for side, names in (("A", only_a), ("B", only_b)):
        if names:
            lines += [f"Only in {side}: {', '.join(names)}", ""]
    if not comparisons and not only_a and not only_b:
        lines += ["Neither folder holds a table or figure yet (tables/, figures/).", ""]
    return "\n".join(lines)
