"""Depth evaluation metrics (FIELD_NOTES section 1), computed per image and vectorised over the batch."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import Tensor

from depthlab.ops.masked import PRED_EPS, masked_ssim_map, masked_sum

DEPTH_METRIC_KEYS: tuple[str, ...] = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "mse",
    "rmse_log",
    "log10",
    "silog",
    "mae",
    "delta1",
    "delta2",
    "delta3",
    "ssim",
)
SSIM_WINDOW = 11
_IMAGE_DIMS = (1, 2, 3)

ArrayLike = Tensor | np.ndarray


def _check_bchw(pred: Tensor, target: Tensor, valid: Tensor) -> None:
    """Fail early on shape mix-ups, which would otherwise broadcast silently."""
    if pred.dim() != 4 or pred.shape[1] != 1 or pred.shape != target.shape or valid.shape != pred.shape:
        raise ValueError(
            f"expected pred, target, valid of one shape [B, 1, H, W], got "
            f"{tuple(pred.shape)}, {tuple(target.shape)}, {tuple(valid.shape)}"
        )


# Per-image sums over valid pixels from which every metric follows, per image or pooled over pixels.
SUM_KEYS: tuple[str, ...] = (
    "count",
    "abs_rel",
    "sq_rel",
    "sq_err",
    "log_sq",
    "log",
    "log_var",
    "log10",
    "abs_err",
    "delta1",
    "delta2",
    "delta3",
    "ssim",
)


def _pixel_sums(p: Tensor, g: Tensor, v: Tensor) -> dict[str, Tensor]:
    """Per-image sums [B] of the FIELD_NOTES error terms over the valid pixels (all SUM_KEYS but ssim)."""
    total = partial(masked_sum, mask=v, dim=_IMAGE_DIMS)
    count = v.sum(_IMAGE_DIMS).to(p.dtype)
    pc = p.clamp_min(PRED_EPS)
    err = g - p
    e = torch.log(pc) - torch.log(g)
    ratio = torch.maximum(g / pc, pc / g)
    mean_e = (total(e) / count.clamp_min(1))[:, None, None, None]
    out = {
        "count": count,
        "abs_rel": total(err.abs() / g),
        "sq_rel": total(err**2 / g),
        "sq_err": total(err**2),
        "log_sq": total(e**2),
        "log": total(e),
        # centred: the per-image variance without the cancellation of mean(e^2) - mean(e)^2 near 0
        "log_var": total((e - mean_e) ** 2),
        "log10": total((torch.log10(g) - torch.log10(pc)).abs()),
        "abs_err": total(err.abs()),
    }
    for k in (1, 2, 3):
        out[f"delta{k}"] = total((ratio < 1.25**k).to(p.dtype))
    return out


def metrics_from_sums(sums: dict[str, Tensor], pooled: bool = False) -> dict[str, Tensor]:
    """DEPTH_METRIC_KEYS from SUM_KEYS sums: per image, or pooled over images (the per-pixel average).

    Pooled silog uses mean(e^2) - mean(e)^2 (clamped at 0), since per-image centred sums do not add up.
    """
    n = sums["count"].clamp_min(1)
    mean = {k: v / n for k, v in sums.items()}
    var = (mean["log_sq"] - mean["log"] ** 2).clamp_min(0) if pooled else mean["log_var"]
    out = {
        "abs_rel": mean["abs_rel"],
        "sq_rel": mean["sq_rel"],
        "rmse": mean["sq_err"].sqrt(),
        "mse": mean["sq_err"],  # the seeds' MSE: rmse squared per image (its mean is not mean(rmse) ** 2)
        "rmse_log": mean["log_sq"].sqrt(),
        "log10": mean["log10"],
        "silog": 100.0 * var.sqrt(),
        "mae": mean["abs_err"],
        **{f"delta{k}": mean[f"delta{k}"] for k in (1, 2, 3)},
        "ssim": mean["ssim"],
    }
    return out


def _ssim_sum(p: Tensor, g: Tensor, v: Tensor, ssim_range: float | None) -> Tensor:
    """Per-image sum of the SSIM map over valid pixels, data range = ssim_range or the batch's valid max."""
    if ssim_range is None:
        top = torch.where(v, g, torch.full_like(g, -torch.inf)).max()
        data_range: Tensor | float = torch.where(top > 0, top, torch.ones_like(top))
    else:
        data_range = float(ssim_range)
    return masked_sum(masked_ssim_map(p, g, v, SSIM_WINDOW, data_range), v, _IMAGE_DIMS)


def per_image_metrics(
    pred: Tensor,
    target: Tensor,
    valid: Tensor,
    min_valid: int = 10,
    ssim_range: float | None = None,
    ssim: bool = True,
) -> dict[str, Tensor]:
    """Every DEPTH_METRIC_KEYS metric per image, float64 Tensors [B]; NaN if an image has < min_valid pixels.

    Inputs are [B, 1, H, W] (pred, target in metres; valid bool) and are cast to float64.
    Formulas are FIELD_NOTES section 1 over the valid pixels of each image; silog = 100 * sqrt(var(e)),
    e = ln p - ln g. Pred is clamped to PRED_EPS inside the log and ratio terms only.
    ssim: the kornia SSIM map (Gaussian window 11, sigma 1.5, C1 = 1e-4, C2 = 9e-4, eps = 0) of pred and
    target, both with invalid pixels set to 0 and divided by `ssim_range` (default: the max valid target
    value of the batch), averaged over the valid pixels of each image. Valid pixels next to holes
    therefore see the zeros; pred is not clamped for SSIM. ssim=False skips it (NaN), the costly one.
    """
    sums = pixel_sums(pred, target, valid, ssim_range, ssim)
    stats = metrics_from_sums(sums)
    enough = sums["count"] >= min_valid
    nan = torch.full_like(stats["ssim"], torch.nan)
    return {k: torch.where(enough, stats[k], nan) for k in DEPTH_METRIC_KEYS}


def pixel_sums(
    pred: Tensor, target: Tensor, valid: Tensor, ssim_range: float | None = None, ssim: bool = True
) -> dict[str, Tensor]:
    """Every SUM_KEYS sum per image, float64 [B], from [B, 1, H, W] inputs (see per_image_metrics)."""
    _check_bchw(pred, target, valid)
    p, g, v = pred.detach().double(), target.detach().double(), valid.bool()
    sums = _pixel_sums(p, g, v)
    sums["ssim"] = _ssim_sum(p, g, v, ssim_range) if ssim else torch.full_like(sums["count"], torch.nan)
    return sums


def _as_bchw(x: ArrayLike) -> Tensor:
    """Accept numpy or torch in (H, W), (B, H, W) or (B, 1, H, W) and return a [B, 1, H, W] tensor."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() == 2:
        return t[None, None]
    if t.dim() == 3:
        return t[:, None]
    if t.dim() == 4 and t.shape[1] == 1:
        return t
    raise ValueError(f"expected shape (H, W), (B, H, W) or (B, 1, H, W), got {tuple(t.shape)}")


def depth_metrics(
    pred: ArrayLike,
    target: ArrayLike,
    valid: ArrayLike | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    min_valid: int = 10,
) -> dict[str, float]:
    """All DEPTH_METRIC_KEYS as floats: per-image metrics averaged over images ignoring NaN (as toolboxes do).

    Valid pixels: finite target with min_depth < target (< max_depth if given), ANDed with `valid` if given.
    SSIM uses max_depth as its data range when given, else the max valid target value of the batch.
    """
    p, g = _as_bchw(pred).double(), _as_bchw(target).double()
    v = torch.isfinite(g) & (g > min_depth)
    if max_depth is not None:
        v &= g < max_depth
    if valid is not None:
        v &= _as_bchw(valid).bool()
    per_image = per_image_metrics(p, g, v, min_valid=min_valid, ssim_range=max_depth)
    return {k: float(torch.nanmean(vals)) for k, vals in per_image.items()}
