"""Ordinal error (WHDR) on sampled point pairs, the score of relative-depth datasets; pair sampling helpers."""

from __future__ import annotations

import torch
from torch import Tensor

from depthlab.metrics.functional import PRED_EPS


def take(x: Tensor, index: Tensor) -> Tensor:
    """Values of [B, 1, H, W] x at flat pixel indices [B, N]."""
    return x.flatten(1).gather(1, index)


def ordinal_labels(d_i: Tensor, d_j: Tensor, sigma: float) -> Tensor:
    """+1 where d_i / d_j >= 1 + sigma, -1 where <= 1 / (1 + sigma), 0 (about equal) otherwise."""
    ratio = d_i / d_j.clamp_min(1e-12)
    return (ratio >= 1 + sigma).to(d_i.dtype) - (ratio <= 1 / (1 + sigma)).to(d_i.dtype)


def sample_random_pairs(valid: Tensor, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """[B, n] flat indices of two points drawn uniformly (with replacement) from each image's valid pixels."""
    weights = valid.detach().flatten(1).to(device="cpu", dtype=torch.float32)
    weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))  # empty: any pixel
    pick = torch.multinomial(weights, 2 * n, replacement=True, generator=generator).to(valid.device)
    return pick[:, :n], pick[:, n:]


def whdr_counts(
    pred: Tensor, target: Tensor, valid: Tensor, n_pairs: int = 10000, sigma: float = 0.03, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """(wrong, pairs) per image [B]: sampled valid pairs of distinct pixels whose ordinal label differs.

    Labels are ordinal_labels of the target and of the prediction (floored at PRED_EPS) with the same sigma,
    so about-equal pairs count too; WHDR = wrong / pairs. Pairs come from a generator seeded with `seed`.
    """
    i, j = sample_random_pairs(valid, n_pairs, torch.Generator().manual_seed(seed))
    counted = take(valid, i) & take(valid, j) & (i != j)
    p = pred.clamp_min(PRED_EPS)
    wrong = ordinal_labels(take(p, i), take(p, j), sigma) != ordinal_labels(take(target, i), take(target, j), sigma)
    return (wrong & counted).sum(1).double(), counted.sum(1).double()


def whdr(
    pred: Tensor, target: Tensor, valid: Tensor, n_pairs: int = 10000, sigma: float = 0.03, seed: int = 0
) -> Tensor:
    """Per-image WHDR [B] (NaN for an image without a valid pair)."""
    wrong, pairs = whdr_counts(pred, target, valid, n_pairs, sigma, seed)
    return wrong / pairs
