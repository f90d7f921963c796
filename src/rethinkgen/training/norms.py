"""Per-layer weight norms, logged every epoch so a run shows when weight decay and the
loss gradient reach an equilibrium (docs/beyond.md, "Weight decay")."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def weight_norms(model: nn.Module) -> dict[str, float]:
    """Parameter name -> its L2 (Frobenius) norm, for every trainable parameter."""
    return {
        name: float(torch.linalg.vector_norm(p.detach().float()))
        for name, p in model.named_parameters()
        if p.requires_grad
    }
