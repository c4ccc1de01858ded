"""Depth loss terms: each reads outputs["depth"], batch["depth"] and batch["valid"] and returns a scalar."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.ops.masked import masked_mean, masked_ssim_map


def _unpack(outputs: dict, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
    """(pred, target, valid) with the target zeroed off the mask, so NaN holes cannot leak into gradients."""
    pred, valid = outputs["depth"], batch["valid"].bool()
    target = torch.where(valid, batch["depth"], torch.zeros_like(batch["depth"]))
    return pred, target, valid


def _neighbour_pairs(x: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(next, current) pixels along width then height: one slicing for differences and their validity."""
    return (x[..., :, 1:], x[..., :, :-1]), (x[..., 1:, :], x[..., :-1, :])


class L1Loss(nn.Module):
    """Mean |p - g| over valid pixels: the robust base term, unbiased by sensor holes."""

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        return masked_mean((pred - target).abs(), valid)


class MSELoss(nn.Module):
    """Mean (p - g)^2 over valid pixels: the squared-error term some seeds train with."""

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        return masked_mean((pred - target) ** 2, valid)


class RMSELoss(MSELoss):
    """sqrt of the masked MSE, eps-guarded so its gradient stays finite at 0 error: the depth+mask seed's term."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        return torch.sqrt(super().forward(outputs, batch) + self.eps)


class SSIMLoss(nn.Module):
    """clamp((1 - SSIM) / 2, 0, 1) over valid pixels: penalises wrong local structure L1 averages away."""

    def __init__(self, window: int = 7, max_depth: float = 10.0) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"SSIMLoss window must be a positive odd int, got {window}")
        if not max_depth > 0:
            raise ValueError(f"SSIMLoss max_depth must be > 0, got {max_depth}")
        self.window = window
        self.max_depth = float(max_depth)

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        ssim = masked_ssim_map(pred, target, valid, self.window, self.max_depth)
        return masked_mean(((1.0 - ssim) / 2.0).clamp(0.0, 1.0), valid)

    def extra_repr(self) -> str:
        return f"window={self.window}, max_depth={self.max_depth}"


def masked_gradient_l1(x: Tensor, valid: Tensor) -> Tensor:
    """Mean |dx x| + mean |dy x| over forward differences whose two pixels are both valid."""
    axes = zip(_neighbour_pairs(x), _neighbour_pairs(valid), strict=True)
    terms = [masked_mean((x1 - x0).abs(), v1 & v0) for (x1, x0), (v1, v0) in axes]
    return terms[0] + terms[1]


class EdgeLoss(nn.Module):
    """Gradient L1 on forward differences: keeps depth edges sharp where plain L1 blurs them.

    Slicing, not kornia.filters.spatial_gradient: Sobel/central differences with padding would mix invalid
    pixels into valid positions, while a forward difference here is valid only where both its pixels are.
    dx p - dx g = dx (p - g), so this is the gradient L1 of the residual.
    """

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        return masked_gradient_l1(pred - target, valid)


class BerHuLoss(nn.Module):
    """Reverse Huber: L1 for small errors, scaled L2 above c = threshold * max|x| (per batch, Laina et al. 2016)."""

    def __init__(self, threshold: float = 0.2) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"BerHuLoss threshold must be > 0, got {threshold}")
        self.threshold = threshold

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        x = torch.where(valid, (pred - target).abs(), torch.zeros_like(pred))
        c = (self.threshold * x.detach().max()).clamp_min(1e-12)  # a constant of the step, as in the reference
        return masked_mean(torch.where(x <= c, x, (x**2 + c**2) / (2 * c)), valid)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"
