"""Foreground-mask metrics (IoU, Dice) as a torchmetrics Metric, logged as {split}/iou and {split}/dice."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_stat_scores


class MaskMetrics(Metric):
    """Pixel IoU and Dice of sigmoid(logits) > threshold, from TP / FP / FN summed over the epoch (DDP-synced).

    Counts come from torchmetrics' binary_stat_scores; states are updated out of place, like DepthMetrics, because
    states reset under inference_mode (validate before fit) cannot be updated in place.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True
    counts: Tensor

    def __init__(self, threshold: float = 0.5, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("counts", default=torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")  # tp, fp, fn

    def update(self, logits: Tensor, mask: Tensor) -> None:
        """Add one batch of [B, 1, H, W] mask logits and {0, 1} targets."""
        stats = binary_stat_scores(torch.sigmoid(logits.float()), (mask > 0.5).long(), threshold=self.threshold)
        tp, fp, _, fn, _ = stats.to(torch.float64).unbind(-1)
        self.counts = self.counts + torch.stack([tp, fp, fn])

    def compute(self) -> dict[str, Tensor]:
        """IoU = TP / (TP + FP + FN), Dice = 2 TP / (2 TP + FP + FN); NaN when neither mask has a pixel."""
        tp, fp, fn = self.counts.unbind(0)
        return {"iou": tp / (tp + fp + fn), "dice": 2 * tp / (2 * tp + fp + fn)}

    @property
    def updated(self) -> bool:
        """True once a batch was added since the last reset (multi-task runs only)."""
        return self.update_called
