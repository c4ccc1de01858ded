"""Per-image scale (and shift) alignment of a prediction onto the ground truth, shared by losses and the protocol."""

from __future__ import annotations

import torch
from torch import Tensor

from depthlab.ops.masked import masked_median

_DIMS = (1, 2, 3)


def median_mad_normalize(x: Tensor, valid: Tensor, eps: float = 1e-6) -> Tensor:
    """(x - median) / mean|x - median| per image (MiDaS): removes scale and shift robustly."""
    t = masked_median(x, valid)
    dev = torch.where(valid, (x - t).abs(), torch.zeros_like(x))
    s = dev.sum(_DIMS, keepdim=True) / valid.sum(_DIMS, keepdim=True).clamp_min(1)
    return (x - t) / s.clamp_min(eps)


def lstsq_scale_shift(pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image (s, t) minimising sum over valid of (s p + t - g)^2, closed form; (1, 0) when degenerate."""
    m = valid.to(pred.dtype)
    g = torch.where(valid, target, torch.zeros_like(target))
    a00, a01, a11 = (m * pred * pred).sum(_DIMS), (m * pred).sum(_DIMS), m.sum(_DIMS)
    b0, b1 = (m * pred * g).sum(_DIMS), (m * g).sum(_DIMS)
    det = a00 * a11 - a01 * a01
    ok = det > 1e-12 * a00 * a11  # Cauchy-Schwarz: det >= 0; ~0 when p is constant or < 2 valid pixels
    safe = torch.where(ok, det, torch.ones_like(det))
    s = torch.where(ok, (a11 * b0 - a01 * b1) / safe, torch.ones_like(det))
    t = torch.where(ok, (a00 * b1 - a01 * b0) / safe, torch.zeros_like(det))
    return s.view(-1, 1, 1, 1), t.view(-1, 1, 1, 1)


def align_median(pred: Tensor, target: Tensor, valid: Tensor, eps: float = 1e-6) -> Tensor:
    """pred * median(g) / median(p): the median scaling of scale-ambiguous (e.g. self-supervised) models."""
    return pred * masked_median(target, valid) / masked_median(pred, valid).clamp_min(eps)


def align_lstsq(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """s p + t with the least-squares scale and shift in depth space."""
    s, t = lstsq_scale_shift(pred, target, valid)
    return s * pred + t


def to_disparity(depth: Tensor, valid: Tensor) -> Tensor:
    """1 / depth on valid pixels, 0 elsewhere (no inf from the zeroed holes)."""
    safe = torch.where(valid, depth, torch.ones_like(depth))
    return torch.where(valid, 1.0 / safe, torch.zeros_like(depth))


def align_lstsq_disparity(disparity: Tensor, target: Tensor, valid: Tensor, floor: float = 1e-3) -> Tensor:
    """Depth from a disparity prediction fitted (s, t) onto 1/g, clipped at `floor` before inverting (MiDaS eval)."""
    s, t = lstsq_scale_shift(disparity, to_disparity(target, valid), valid)
    return 1.0 / (s * disparity + t).clamp_min(floor)
