"""Streaming depth metrics as a torchmetrics Metric, averaged per image like the depth toolboxes."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from depthlab.metrics.functional import DEPTH_METRIC_KEYS, HIGHER_IS_BETTER, per_image_metrics


class DepthMetrics(Metric):
    """Per-image-averaged depth metrics whose sum/count states add up exactly across batches and DDP ranks.

    States `sums` and `counts` are float64 vectors indexed like DEPTH_METRIC_KEYS; images with NaN metrics
    (fewer than `min_valid` valid pixels) are not counted. Pass the dataset's max_depth as `ssim_range`
    so SSIM does not depend on how images are batched.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None  # mixed directions: see HIGHER_IS_BETTER per key
    higher_is_better_per_key = HIGHER_IS_BETTER
    sums: Tensor
    counts: Tensor

    def __init__(self, min_valid: int = 10, ssim_range: float | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.min_valid = min_valid
        self.ssim_range = ssim_range
        zeros = torch.zeros(len(DEPTH_METRIC_KEYS), dtype=torch.float64)
        self.add_state("sums", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("counts", default=zeros.clone(), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, valid: Tensor) -> None:
        """Add the per-image metrics of one [B, 1, H, W] batch to the running sums."""
        per_image = per_image_metrics(pred, target, valid, self.min_valid, self.ssim_range)
        values = torch.stack([per_image[k] for k in DEPTH_METRIC_KEYS], dim=1)  # [B, K]
        counted = ~values.isnan()
        # out of place: states reset under inference_mode (validate before fit) cannot be updated in place
        self.sums = self.sums + torch.where(counted, values, torch.zeros_like(values)).sum(0)
        self.counts = self.counts + counted.sum(0).to(self.counts.dtype)

    def compute(self) -> dict[str, Tensor]:
        """Mean over counted images per key; NaN for a key with no counted image."""
        means = self.sums / self.counts  # 0 / 0 = NaN
        return dict(zip(DEPTH_METRIC_KEYS, means.unbind(0), strict=True))
