"""Gradient-domain terms: MiDaS multi-scale gradient matching and edge-aware smoothness."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.losses.scale_invariant import METHODS, SPACES, ssi_residual
from depthlab.losses.terms import _neighbour_pairs, _unpack, masked_gradient_l1
from depthlab.ops.masked import masked_mean
from depthlab.utils.choices import check_choice


class GradientMatchingLoss(nn.Module):
    """Sum over `scales` of the gradient L1 of the aligned residual, each scale subsampled by 2^k (MiDaS).

    Sharpens discontinuities that the scale-and-shift-invariant pixel loss tolerates; MiDaS adds it x 0.5.
    """

    def __init__(self, scales: int = 4, method: str = "median", space: str = "disparity") -> None:
        super().__init__()
        if scales < 1:
            raise ValueError(f"GradientMatchingLoss scales must be >= 1, got {scales}")
        check_choice("method", method, METHODS)
        check_choice("space", space, SPACES)
        self.scales, self.method, self.space = scales, method, space

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        residual = ssi_residual(pred, target, valid, self.method, self.space)
        total = pred.sum() * 0.0
        for k in range(self.scales):
            step = 2**k
            total = total + masked_gradient_l1(residual[..., ::step, ::step], valid[..., ::step, ::step])
        return total

    def extra_repr(self) -> str:
        return f"scales={self.scales}, method={self.method}, space={self.space}"


class EdgeAwareSmoothnessLoss(nn.Module):
    """mean |dx d| e^-|dx I| + mean |dy d| e^-|dy I|: smooth depth except at image edges (Godard et al.).

    d is the prediction divided by its per-image mean (monodepth2) when `normalize`; |dI| is averaged over
    channels as in kornia's inverse_depth_smoothness_loss, which this equals with normalize=False and
    masked=False. It needs no ground truth, so by default it acts on every pixel; masked=True restricts it
    to pairs of valid pixels.
    """

    def __init__(self, normalize: bool = True, masked: bool = False) -> None:
        super().__init__()
        self.normalize, self.masked = normalize, masked

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, _, valid = _unpack(outputs, batch)
        if self.normalize:
            pred = pred / (pred.mean((2, 3), keepdim=True).abs() + 1e-7)
        keep = valid if self.masked else torch.ones_like(valid)
        image = batch["image"].to(pred.dtype)
        axes = zip(_neighbour_pairs(pred), _neighbour_pairs(image), _neighbour_pairs(keep), strict=True)
        terms = [
            masked_mean((d1 - d0).abs() * torch.exp(-(i1 - i0).abs().mean(1, keepdim=True)), v1 & v0)
            for (d1, d0), (i1, i0), (v1, v0) in axes
        ]
        return terms[0] + terms[1]

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}, masked={self.masked}"
