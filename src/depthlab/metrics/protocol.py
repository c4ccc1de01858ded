"""The evaluation protocol applied before scoring: depth range, crop, alignment, clipping (FIELD_NOTES section 1).

Flip test-time augmentation is a protocol switch too (`flip`); the LightningModule runs it through
depthlab.models.tta since it needs the network. Per-image vs per-pixel averaging is the metric's `average`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from depthlab.metrics.crops import CROPS, crop_mask
from depthlab.metrics.depth import AVERAGES
from depthlab.ops.align import align_lstsq, align_lstsq_disparity, align_median
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

ALIGNMENTS = ("none", "median", "lstsq", "lstsq_disparity")
PRED_SPACES = ("depth", "disparity")


class EvalProtocol:
    """Turn (prediction, ground truth, valid) into what is scored, the way depth benchmarks do.

    1. the prediction is resized (bilinear) to the ground-truth size;
    2. valid pixels: finite, min_depth < g < max_depth, inside `crop`;
    3. alignment (relative models): none, median scaling, least-squares scale and shift in depth space (lstsq)
       or in disparity space (lstsq_disparity: fit onto 1/g, clip at disparity_floor, invert back);
       `pred_space` says whether the network output is depth or disparity (inverted where needed);
       alignment=auto means lstsq when `relative` (the dataset is relative depth) else none;
    4. clip: NaN -> min_depth, inf -> max_depth, then clamp to [min_depth, max_depth].

    `flip`, `average` (per_image / per_pixel) and `whdr` (+ pairs, sigma) are read by the module and by the
    metric accumulator (conf/metrics/depth.yaml interpolates them), so one config group says how scoring works.
    """

    def __init__(
        self,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        crop: str | None = None,
        alignment: str = "auto",
        relative: bool = False,
        pred_space: str = "depth",
        disparity_floor: float = 1e-3,
        clip: bool = False,
        flip: bool = False,
        average: str = "per_image",
        whdr: bool = False,
        whdr_pairs: int = 10000,
        whdr_sigma: float = 0.03,
    ) -> None:
        if not 0 <= min_depth < max_depth:
            raise DepthlabError(f"protocol.min_depth={min_depth} / protocol.max_depth={max_depth}: need 0 <= min < max")
        check_choice("protocol.crop", crop, CROPS, none=True)
        self.auto_alignment = alignment == "auto"  # a mixture's sources re-decide it (models/sources.py)
        alignment = ("lstsq" if relative else "none") if alignment == "auto" else alignment
        check_choice("protocol.alignment", alignment, ALIGNMENTS)
        check_choice("protocol.pred_space", pred_space, PRED_SPACES)
        check_choice("protocol.average", average, AVERAGES)
        self.min_depth, self.max_depth, self.crop = float(min_depth), float(max_depth), crop
        self.alignment, self.relative, self.pred_space = alignment, bool(relative), pred_space
        self.disparity_floor, self.clip, self.flip = float(disparity_floor), bool(clip), bool(flip)
        self.average = average
        if whdr and whdr_pairs < 1:
            raise DepthlabError(f"protocol.whdr_pairs={whdr_pairs} must be >= 1 when protocol.whdr=true")
        self.whdr, self.whdr_pairs, self.whdr_sigma = bool(whdr), int(whdr_pairs), float(whdr_sigma)

    def valid_mask(self, target: Tensor, valid: Tensor) -> Tensor:
        """valid & finite & inside the depth range & inside the crop."""
        in_range = torch.isfinite(target) & (target > self.min_depth) & (target < self.max_depth)
        return valid.bool() & in_range & crop_mask(self.crop, *target.shape[-2:], target.device)

    def align(self, pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """The prediction as metric depth after the configured alignment."""
        if self.alignment == "lstsq_disparity":
            disparity = pred if self.pred_space == "disparity" else 1.0 / pred.clamp_min(1e-12)
            return align_lstsq_disparity(disparity, target, valid, self.disparity_floor)
        depth = pred if self.pred_space == "depth" else 1.0 / pred.clamp_min(1e-12)
        if self.alignment == "median":
            return align_median(depth, target, valid)
        if self.alignment == "lstsq":
            return align_lstsq(depth, target, valid)
        return depth

    def __call__(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(scored prediction, target, valid) for [B, 1, H, W] inputs."""
        if pred.shape[-2:] != target.shape[-2:]:
            pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
        valid = self.valid_mask(target, valid)
        target = torch.where(valid, target, torch.zeros_like(target))
        pred = self.align(pred, target, valid)
        if self.clip:
            pred = torch.nan_to_num(pred, nan=self.min_depth, posinf=self.max_depth, neginf=self.min_depth)
            pred = pred.clamp(self.min_depth, self.max_depth)
        return pred, target, valid

    def __repr__(self) -> str:
        keys = ("min_depth", "max_depth", "crop", "alignment", "pred_space", "clip", "flip", "average", "whdr")
        return f"EvalProtocol({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"
