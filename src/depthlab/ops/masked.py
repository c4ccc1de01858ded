"""Reductions over the valid pixels of [B, 1, H, W] maps, with NaN / inf outside the mask kept out."""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

PRED_EPS = 1e-6  # floor for predictions inside log and ratio terms, so pred <= 0 stays finite


def masked_sum(x: Tensor, mask: Tensor, dim: tuple[int, ...] | None = None) -> Tensor:
    """Sum of x over mask (or over `dim`), NaN/inf outside the mask kept out."""
    kept = torch.where(mask, x, torch.zeros_like(x))
    return kept.sum() if dim is None else kept.sum(dim)


def masked_mean(x: Tensor, mask: Tensor, dim: tuple[int, ...] | None = None) -> Tensor:
    """Mean of x over mask (or over `dim`); 0 for an empty mask, so losses stay finite with a grad path."""
    kept = torch.where(mask, x, torch.zeros_like(x))  # where, not x * mask: NaN/inf outside the mask stay out
    if dim is None:
        return kept.sum() / mask.sum().clamp_min(1)
    return kept.sum(dim) / mask.sum(dim).clamp_min(1)


def masked_median(x: Tensor, valid: Tensor) -> Tensor:
    """Median of each image's valid pixels (np.median: mean of the two middle values), [B, 1, 1, 1]; 0 if none.

    torch's nanmedian returns the lower middle value; minus that of -x is the upper one.
    """
    flat = torch.where(valid, x, torch.full_like(x, torch.nan)).flatten(1)
    median = (flat.nanmedian(dim=1).values - (-flat).nanmedian(dim=1).values) / 2
    return torch.nan_to_num(median, nan=0.0).view(-1, 1, 1, 1)


def masked_ssim_map(pred: Tensor, target: Tensor, valid: Tensor, window: int, data_range: Tensor | float) -> Tensor:
    """Kornia SSIM map of pred vs target over [0, data_range], invalid pixels of both zeroed so holes match.

    The window shrinks to the largest odd size the reflect padding allows (2 * min(H, W) - 1) on tiny images.
    eps = 0 gives the reference SSIM formula (C1, C2 > 0 keep the denominator positive).
    """
    size = min(window, 2 * min(pred.shape[-2:]) - 1)
    zero = torch.zeros_like(pred)
    p = torch.where(valid, pred, zero) / data_range
    g = torch.where(valid, target, torch.zeros_like(target)) / data_range
    return kornia.metrics.ssim(p, g, size, max_val=1.0, eps=0.0)
