"""Ordinal error (WHDR) on sampled point pairs, the score of relative-depth datasets."""

from __future__ import annotations

import torch
from torch import Tensor

from depthlab.ops.masked import PRED_EPS
from depthlab.ops.pairs import ordinal_labels, sample_random_pairs, take


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
