"""Foreground-mask metrics (IoU, Dice) as a torchmetrics collection, logged as {split}/iou and {split}/dice."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex


class MaskMetrics(MetricCollection):
    """Pixel IoU and Dice (= pixel F1) of sigmoid(logits) > threshold, accumulated over the epoch (DDP-synced)."""

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__(
            {"iou": BinaryJaccardIndex(threshold=threshold), "dice": BinaryF1Score(threshold=threshold)},
            compute_groups=False,
        )

    def update(self, logits: Tensor, mask: Tensor) -> None:  # type: ignore[override]
        """Add one batch of [B, 1, H, W] mask logits and {0, 1} targets."""
        super().update(torch.sigmoid(logits.float()), (mask > 0.5).long())

    @property
    def updated(self) -> bool:
        """True once a batch was added since the last reset (multi-task runs only)."""
        return any(metric.update_called for metric in self.values())
