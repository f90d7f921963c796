"""A screenshot of the live console view (docs/operations.md) from a real terminal session.

    script -q -c "stty cols 118 rows 30; snakemake --cores 2 fig1b ..." session.typescript
    python benchmarks/console_screenshot.py session.typescript docs/console_view.svg

Replays the recorded terminal output through a VT100 emulator (pyte: `pip install pyte`),
frame by frame, keeps the frame with the most training runs in the live table (the latest
such frame), and saves that screen as SVG (rich) and as text beside it (.txt).
"""

from __future__ import annotations

import argparse
from pathlib import Path

REFRESH = "\r\x1b[2K\x1b[1A"  # how rich's Live starts redrawing: erase, line up


def frames(data: str, columns: int, rows: int):
    """The screen just before each redraw of the live view (each frame whole)."""
    import pyte

    screen = pyte.Screen(columns, rows)
    stream = pyte.Stream(screen)
    chunks = data.split(REFRESH)
    for i, chunk in enumerate(chunks):
        stream.feed(chunk if i == 0 else REFRESH + chunk)
        yield [line.rstrip() for line in screen.display]


def training_rows(frame: list[str]) -> int:
    """Training runs in the live table of a frame (0 while the table is half drawn)."""
    if not any(line.startswith("└") and line.endswith("┘") for line in frame):
        return 0
    return sum("train_model" in line and " of " in line and "│" in line for line in frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("typescript", type=Path)
    parser.add_argument("svg", type=Path)
    parser.add_argument("--columns", type=int, default=118)
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    data = args.typescript.read_bytes().decode("utf-8", "replace")
    if data.startswith("Script started"):  # script(1)'s own header, never on the terminal
        data = data.split("\n", 1)[1]
    best, most = None, 0
    for frame in frames(data, args.columns, args.rows):
        count = training_rows(frame)
        if count and count >= most:
            best, most = frame, count
    if best is None:
        raise SystemExit("no frame shows a training run in the live view")
    text = "\n".join(line.strip() if not line.strip() else line for line in best).strip("\n")
    args.svg.with_suffix(".txt").write_text(text + "\n")
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=args.columns, file=open("/dev/null", "w"))
    console.print(Text(text))
    console.save_svg(str(args.svg), title="snakemake --cores 2 (rethinkgen live view)")
    print(f"{args.svg}: the frame with {most} training runs")


if __name__ == "__main__":
    main()
