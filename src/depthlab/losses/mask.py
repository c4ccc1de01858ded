"""Foreground-mask loss terms: each reads outputs["mask_logits"] and batch["mask"] (all pixels) and returns a scalar."""

from __future__ import annotations

from segmentation_models_pytorch.losses import DiceLoss
from torch import Tensor, nn
from torch.nn import functional as F


class MaskTerm(nn.Module):
    """Marks a term that needs a mask head and a `mask` target (checked before training starts)."""

    uses_mask = True


class BCEMaskLoss(MaskTerm):
    """Binary cross-entropy on the mask logits: the seed's nn.BCEWithLogitsLoss, pos_weight for rare foreground."""

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        logits, target = outputs["mask_logits"], batch["mask"].to(outputs["mask_logits"].dtype)
        weight = None if self.pos_weight is None else logits.new_tensor(float(self.pos_weight))
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)


class DiceMaskLoss(MaskTerm):
    """1 - soft Dice of sigmoid(logits) vs the mask (smp DiceLoss, binary): insensitive to class imbalance."""

    def __init__(self, smooth: float = 0.0) -> None:
        super().__init__()
        self.dice = DiceLoss(mode="binary", from_logits=True, smooth=smooth)

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        return self.dice(outputs["mask_logits"], batch["mask"])
