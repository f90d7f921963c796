"""Training checkpoints: atomic, checksummed, loaded without executing code.

A checkpoint ``last.pt`` has a sidecar ``last.pt.sha256`` holding the SHA-256 of the bytes
that ``save_checkpoint`` wrote. ``load_checkpoint`` checks it before unpickling, unpickles
with ``weights_only=True`` (tensors and plain containers only: a planted pickle cannot run
code), and checks the run's fingerprint. A checkpoint that fails any check is moved aside
(``last.pt.refused-<UTC time>``) for inspection, never deleted, and the run starts over.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from rethinkgen.io import atomic_path, file_sha256

logger = logging.getLogger(__name__)

CHECKSUM_SUFFIX = ".sha256"


def checksum_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def _accepted_digests(path: Path) -> list[str]:
    sidecar = checksum_path(path)
    return sidecar.read_text().split() if sidecar.is_file() else []


def _write_digests(path: Path, digests: list[str]) -> None:
    with atomic_path(checksum_path(path)) as tmp:
        tmp.write_text("\n".join(digests) + "\n")


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """torch.save ``state`` to ``path`` atomically, with its checksum beside it.

    The sidecar lists the new digest together with the old one until the new file is in
    place, so a kill at any moment leaves a checkpoint whose digest is listed.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        _save_deterministic(state, tmp)
        digest = file_sha256(tmp)
        _write_digests(path, [digest, *_accepted_digests(path)])
    _write_digests(path, [digest])


def _save_deterministic(state: dict, path: Path) -> None:
    """torch.save through a handle: given a path, torch names the zip's entries after the
    (random) temporary file name, so identical states would give different bytes."""
    with open(path, "wb") as handle:
        torch.save(state, handle)


def save_model(state: dict, path: str | os.PathLike) -> None:
    """torch.save a finished run's weights (a declared output: no sidecar), atomically."""
    with atomic_path(path) as tmp:
        _save_deterministic(state, tmp)


def _refusal_reason(path: Path, fingerprint, explain=None) -> tuple[str | None, dict | None]:
    """(why ``path`` cannot be resumed, None) or (None, its payload)."""
    accepted = _accepted_digests(path)
    if not accepted:
        return f"it has no checksum file {checksum_path(path).name}", None
    if file_sha256(path) not in accepted:
        return "its SHA-256 does not match its checksum file (damaged or replaced)", None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # whatever the unpickler or zip reader raises: refuse the file
        return f"it is not a plain tensor checkpoint ({_load_error_summary(err)})", None
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not a checkpoint dict", None
    if fingerprint is not None and not _same_run(payload.get("fingerprint"), fingerprint):
        which = explain(payload.get("fingerprint")) if explain else "its fingerprint differs"
        return f"it belongs to another configuration or other input data ({which})", None
    return None, payload


def _load_error_summary(err: Exception) -> str:
    """The useful part of torch.load's error (its own advice is to load unsafely)."""
    found = re.search(r"Unsupported (global: GLOBAL \S+|operand \d+)", str(err))
    if found:
        return f"weights_only=True refused it: unsupported {found.group(1).rstrip('.')}"
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def move_aside(path: Path) -> Path | None:
    """Rename ``path`` (and its checksum file) to ``<name>.refused-<UTC time>``; never delete.

    Returns the new path, or None when another process (a rank) moved it first.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.refused-{stamp}")
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    sidecar = checksum_path(path)
    if sidecar.exists():
        os.replace(sidecar, checksum_path(target))
    return target


def _same_run(recorded, fingerprint: str | Callable[[str | None], bool]) -> bool:
    return fingerprint(recorded) if callable(fingerprint) else recorded == fingerprint


def load_checkpoint(
    path: str | os.PathLike,
    fingerprint: str | Callable[[str | None], bool] | None = None,
    log: logging.Logger = logger,
    explain: Callable[[str | None], str] | None = None,
) -> dict | None:
    """The checkpoint at ``path`` if it is intact, plain data and (given) this run's.

    ``fingerprint``: the run's fingerprint, or a function that says whether a recorded
    fingerprint is this run's (``TrainConfig.resumes``); ``explain`` says how a refused
    one differs (``TrainConfig.explain_difference``: the settings that differ).

    Returns None when there is none, or when it is refused; a refused checkpoint is moved
    aside and the log says why and where it went.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        reason, payload = _refusal_reason(path, fingerprint, explain)
    except FileNotFoundError:  # another rank moved it aside while this one read it
        return None
    if reason is None:
        return payload
    moved = move_aside(path)
    where = f"moved it to {moved}" if moved else "another process moved it aside"
    log.warning(
        "not resuming from checkpoint %s: %s; %s, starting the run over", path, reason, where
    )
    return None


def remove_checkpoint(path: str | os.PathLike | None) -> None:
    """Delete a run's checkpoint and its checksum once its outputs are safely written."""
    if path is not None:
        Path(path).unlink(missing_ok=True)
        checksum_path(path).unlink(missing_ok=True)


def capture_rng_states(generators: dict[str, torch.Generator]) -> dict:
    """The global torch CPU/CUDA RNG states (dropout uses them) plus named generators.

    Only ByteTensors in dicts and lists, so the states load under ``weights_only=True``.
    """
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: gen.get_state() for name, gen in generators.items()},
    }


def restore_rng_states(states: dict, generators: dict[str, torch.Generator]) -> None:
    """Inverse of :func:`capture_rng_states`."""
    torch.set_rng_state(states["torch_cpu"])
    if states["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch_cuda"])
    for name, gen in generators.items():
        gen.set_state(states["generators"][name])
