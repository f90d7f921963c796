"""Atomic training checkpoints and RNG-state capture for exact resumption."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from rethinkgen.io import atomic_path

logger = logging.getLogger(__name__)


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """torch.save ``state`` to ``path`` via a temp file + os.replace (SIGKILL-safe)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, fingerprint: str | None = None,
                    log: logging.Logger = logger) -> dict | None:
    """The checkpoint at ``path``, or None when there is none, it cannot be read, or its
    fingerprint differs from ``fingerprint`` (another configuration's run)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or damaged file: start over rather than crash
        log.warning("ignoring unreadable checkpoint %s: %s", path, err)
        return None
    if fingerprint is not None and payload.get("fingerprint") != fingerprint:
        log.warning("checkpoint %s belongs to another configuration; starting over", path)
        return None
    return payload


def remove_checkpoint(path: str | os.PathLike | None) -> None:
    """Delete a run's checkpoint once its outputs are safely written."""
    if path is not None:
        Path(path).unlink(missing_ok=True)


def capture_rng_states(generators: dict[str, torch.Generator]) -> dict:
    """The global torch CPU/CUDA RNG states (dropout uses them) plus named generators."""
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
