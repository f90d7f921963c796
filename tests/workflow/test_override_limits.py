"""A YAML alias bomb in `override=` is refused within seconds, before any check walks it
(issue 30 item 10; it used to cost 69 s and 1.2 GB)."""

from __future__ import annotations

import time

from tests.workflow.test_preflight import run


def alias_bomb(levels: int = 8) -> str:
    """About 280 characters that expand to 9**8 (43 million) values."""
    text, previous = "{a: &a [x,x,x,x,x,x,x,x,x]", "a"
    for name in "bcdefghij"[: levels - 1]:
        text += f", {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]"
        previous = name
    return text + "}"


def test_an_alias_bomb_in_override_is_refused_quickly(tmp_path):
    started = time.perf_counter()
    result = run(tmp_path, "-n", "--config", f"override={alias_bomb()}")
    assert result.returncode != 0
    assert "override: more than 1000 values (YAML aliases that expand?)" in (
        result.stdout + result.stderr
    )
    assert time.perf_counter() - started < 30
