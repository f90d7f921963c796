"""Per-layer weight norms, logged every epoch so a run shows when weight decay and the
loss gradient reach an equilibrium (docs/beyond.md, "Weight decay"), and the norm of each
parameter's loss gradient averaged over the epoch's steps: under weight decay wd the
equilibrium g + wd w = 0 predicts ||w*|| = ||mean g|| / wd."""

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


class EpochGradients:
    """Sums each parameter's loss gradient over an epoch's optimizer steps (a step pre-hook,
    so the gradient is the loss's alone: PyTorch's SGD adds the decay inside its step);
    :meth:`take` returns name -> ||mean gradient|| and starts the next epoch."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.sums = [torch.zeros_like(p, dtype=torch.float32) for _, p in self.named]
        self.steps = 0
        optimizer.register_step_pre_hook(self._add)

    @torch.no_grad()
    def _add(self, optimizer, args, kwargs) -> None:
        for total, (_, p) in zip(self.sums, self.named):
            if p.grad is not None:
                total.add_(p.grad.float())
        self.steps += 1

    @torch.no_grad()
    def take(self) -> dict[str, float]:
        steps, self.steps = max(self.steps, 1), 0
        norms = {}
        for total, (name, _) in zip(self.sums, self.named):
            norms[name] = float(torch.linalg.vector_norm(total)) / steps
            total.zero_()
        return norms
