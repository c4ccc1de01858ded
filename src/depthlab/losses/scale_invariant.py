"""Scale-invariant log loss (Eigen / BTS / AdaBins) and the scale-and-shift-invariant loss (MiDaS)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.losses.terms import _unpack
from depthlab.ops.align import lstsq_scale_shift, median_mad_normalize, to_disparity
from depthlab.ops.masked import PRED_EPS, masked_mean
from depthlab.utils.choices import check_choice

METHODS = ("median", "lstsq")
SPACES = ("depth", "disparity")
ERRORS = ("l1", "mse")


class SILogLoss(nn.Module):
    """scale * sqrt(var(d) + (1 - lambd) mean(d)^2), d = ln p - ln g over the batch's valid pixels.

    With the biased variance this is sqrt(mean(d^2) - lambd mean(d)^2) (Eigen et al. 2014, lambd = 1 makes it
    scale invariant); BTS uses lambd = 0.85, scale = 10; AdaBins the same with torch.var's unbiased variance
    (`unbiased=True`). `eps` keeps the sqrt's gradient finite at 0.
    """

    def __init__(self, lambd: float = 0.85, scale: float = 10.0, unbiased: bool = False, eps: float = 1e-8) -> None:
        super().__init__()
        if not 0 <= lambd <= 1:
            raise ValueError(f"SILogLoss lambd must be in [0, 1], got {lambd}")
        self.lambd, self.scale, self.unbiased, self.eps = float(lambd), float(scale), unbiased, eps

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        d = torch.log(pred.clamp_min(PRED_EPS)) - torch.log(torch.where(valid, target, torch.ones_like(target)))
        n = valid.sum()
        mean = masked_mean(d, valid)
        var = masked_mean((d - mean) ** 2, valid)
        if self.unbiased:
            var = var * n / (n - 1).clamp_min(1)
        return self.scale * torch.sqrt((var + (1 - self.lambd) * mean**2).clamp_min(0) + self.eps)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}, scale={self.scale}, unbiased={self.unbiased}"


def ssi_residual(
    pred: Tensor, target: Tensor, valid: Tensor, method: str = "median", space: str = "disparity"
) -> Tensor:
    """Aligned prediction minus aligned target per image, the residual MiDaS's SSI and gradient losses share.

    In disparity space the target is inverted and the network output is read as disparity (as MiDaS trains).
    median: both maps normalised by median and mean absolute deviation; lstsq: the prediction fitted (s, t)
    onto the target in closed form (gradients flow through s and t, as in MiDaS).
    """
    gt = to_disparity(target, valid) if space == "disparity" else target
    if method == "median":
        return median_mad_normalize(pred, valid) - median_mad_normalize(gt, valid)
    s, t = lstsq_scale_shift(pred, gt, valid)
    return s * pred + t - gt


class ScaleShiftInvariantLoss(nn.Module):
    """Error after per-image scale-and-shift alignment: trains on mixed datasets with unknown scale and shift."""

    def __init__(self, method: str = "median", space: str = "disparity", error: str = "l1") -> None:
        super().__init__()
        check_choice("method", method, METHODS)
        check_choice("space", space, SPACES)
        check_choice("error", error, ERRORS)
        self.method, self.space, self.error = method, space, error

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        residual = ssi_residual(pred, target, valid, self.method, self.space)
        return masked_mean(residual.abs() if self.error == "l1" else residual**2, valid)

    def extra_repr(self) -> str:
        return f"method={self.method}, space={self.space}, error={self.error}"
