"""Streaming depth metrics as a torchmetrics Metric, averaged per image (the toolboxes' default) or per pixel."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from depthlab.metrics import direction
from depthlab.metrics.functional import DEPTH_METRIC_KEYS, SUM_KEYS, metrics_from_sums, pixel_sums
from depthlab.metrics.whdr import whdr_counts
from depthlab.utils.choices import check_choice

AVERAGES = ("per_image", "per_pixel")


class DepthMetrics(Metric):
    """Depth metrics whose sum/count states add up exactly across batches and DDP ranks.

    average=per_image: each metric per image, then the mean over images (states `sums`, `counts` indexed like
    `keys`; images with fewer than `min_valid` valid pixels are not counted). average=per_pixel: the metrics of
    all counted pixels pooled (state `pooled`, indexed like SUM_KEYS + whdr wrong / pairs). Pass the dataset's
    max_depth as `ssim_range` so SSIM does not depend on batching. whdr=True adds the ordinal error on
    `whdr_pairs` sampled pairs per image (relative-depth datasets).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None  # mixed directions: see higher_is_better_per_key
    higher_is_better_per_key = {k: direction.higher_is_better(k) for k in (*DEPTH_METRIC_KEYS, "whdr")}
    sums: Tensor
    counts: Tensor
    pooled: Tensor

    def __init__(
        self,
        min_valid: int = 10,
        ssim_range: float | None = None,
        average: str = "per_image",
        whdr: bool = False,
        whdr_pairs: int = 10000,
        whdr_sigma: float = 0.03,
        whdr_seed: int = 0,
        ssim: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        check_choice("metrics.average", average, AVERAGES)
        self.min_valid, self.ssim_range, self.average = min_valid, ssim_range, average
        self.whdr, self.whdr_pairs, self.whdr_sigma, self.whdr_seed = whdr, whdr_pairs, whdr_sigma, whdr_seed
        self.ssim = ssim  # False on sparse targets (its window compares holes): ssim is not computed nor reported
        self.keys: tuple[str, ...] = DEPTH_METRIC_KEYS + (("whdr",) if whdr else ())
        zeros = torch.zeros(len(self.keys), dtype=torch.float64)
        self.add_state("sums", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("counts", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("pooled", default=torch.zeros(len(SUM_KEYS) + 2, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, valid: Tensor) -> None:
        """Add one [B, 1, H, W] batch (pred, target in metres; valid bool) to the running sums."""
        sums = pixel_sums(pred, target, valid, self.ssim_range, self.ssim)
        counted = sums["count"] >= self.min_valid
        if self.whdr:
            wrong, pairs = whdr_counts(pred.detach(), target, valid, self.whdr_pairs, self.whdr_sigma, self.whdr_seed)
        else:
            wrong = pairs = torch.zeros_like(sums["count"])
        # out of place: states reset under inference_mode (validate before fit) cannot be updated in place
        if self.average == "per_pixel":
            stacked = torch.stack([*(sums[k] for k in SUM_KEYS), wrong, pairs], dim=1)  # [B, Q]
            self.pooled = self.pooled + torch.where(counted[:, None], stacked, torch.zeros_like(stacked)).sum(0)
            return
        per_image = metrics_from_sums(sums) | {"whdr": wrong / pairs}
        values = torch.stack([per_image[k] for k in self.keys], dim=1)  # [B, K]
        use = counted[:, None] & ~values.isnan()
        self.sums = self.sums + torch.where(use, values, torch.zeros_like(values)).sum(0)
        self.counts = self.counts + use.sum(0).to(self.counts.dtype)

    def compute(self) -> dict[str, Tensor]:
        """Mean per key (NaN for a key with nothing counted); no ssim key when ssim=False."""
        values = self._compute()
        return values if self.ssim else {k: v for k, v in values.items() if k != "ssim"}

    def _compute(self) -> dict[str, Tensor]:
        """Mean per key (NaN for a key with nothing counted)."""
        if self.average == "per_pixel":
            sums = dict(zip(SUM_KEYS, self.pooled[: len(SUM_KEYS)].unbind(0), strict=True))
            out = metrics_from_sums(sums, pooled=True)
            nan = torch.tensor(torch.nan, dtype=torch.float64, device=self.pooled.device)
            out = {k: torch.where(sums["count"] > 0, v, nan) for k, v in out.items()}
            if self.whdr:
                out["whdr"] = self.pooled[-2] / self.pooled[-1]
            return out
        means = self.sums / self.counts  # 0 / 0 = NaN
        return dict(zip(self.keys, means.unbind(0), strict=True))
