"""One epoch of SGD and one evaluation pass, with sums kept on the device and read once
(one sync per epoch), summed over ranks under data-parallel training."""

from __future__ import annotations

import math
import time
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rethinkgen.training import distributed
from rethinkgen.training.examples import correct_and_margin
from rethinkgen.training.preprocess import BatchPipeline


def _topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == labels[:, None]).any(dim=1).sum()


def _sum_over_ranks(
    loss_sum: torch.Tensor, correct: torch.Tensor, correct5: torch.Tensor, seen: int
) -> tuple[float, int, int, int]:
    """The sums as Python numbers; under data-parallel training summed over all ranks,
    each of which saw only its shard."""
    if not distributed.is_active():
        return loss_sum.item(), correct.item(), correct5.item(), seen
    totals = torch.stack(
        [
            loss_sum,
            correct.double(),
            correct5.double(),
            torch.tensor(float(seen), dtype=torch.float64, device=loss_sum.device),
        ]
    )
    loss_total, correct_total, correct5_total, seen_total = distributed.all_reduce_sums(
        totals
    ).tolist()
    return loss_total, int(correct_total), int(correct5_total), int(seen_total)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable,
    optimizer: torch.optim.Optimizer,
    pipeline: BatchPipeline,
    generator: torch.Generator,
    top5: bool = False,
) -> dict:
    """One pass of SGD; returns the online (mean over mini-batches) loss and accuracy.

    Sums stay on the device and are read once at the end, so GPUs never stall per step.
    """
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    correct5 = torch.zeros((), dtype=torch.int64, device=device)
    seen = steps = 0
    start = time.perf_counter()
    for images, labels in batches:
        x = pipeline.inputs(images, train=True, generator=generator)
        with pipeline.autocast():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = labels.shape[0]
        loss_sum += loss.detach().double() * n
        correct += (logits.detach().argmax(dim=1) == labels).sum()
        if top5:
            correct5 += _topk_correct(logits.detach(), labels, 5)
        seen += n
        steps += 1
    loss_total, correct, correct5, seen = _sum_over_ranks(loss_sum, correct, correct5, seen)
    seen = max(seen, 1)
    loss_value, acc = loss_total / seen, correct / seen  # one sync per epoch
    seconds = time.perf_counter() - start
    return {
        "loss": loss_value,
        "accuracy": acc,
        "top5_accuracy": correct5 / seen if top5 else math.nan,
        "steps": steps,
        "images": seen,
        "seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else math.nan,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    pipeline: BatchPipeline,
    top5: bool = False,
    per_example: list | None = None,
) -> dict:
    """Mean loss, top-1 (and top-5) accuracy over a whole split in eval mode; each batch's
    (correct, margin) per example appended to ``per_example`` if given (examples.py)."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    correct5 = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for images, labels in batches:
        x = pipeline.inputs(images, train=False)
        with pipeline.autocast():
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").double()
        correct += (logits.argmax(dim=1) == labels).sum()
        if top5:
            correct5 += _topk_correct(logits, labels, 5)
        if per_example is not None:
            per_example.append(correct_and_margin(logits, labels))
        seen += labels.shape[0]
    loss_total, correct, correct5, seen = _sum_over_ranks(loss_sum, correct, correct5, seen)
    seen = max(seen, 1)
    return {
        "loss": loss_total / seen,
        "accuracy": correct / seen,
        "top5_accuracy": correct5 / seen if top5 else math.nan,
    }
