"""Checks that a network, a loss and a dataset fit together, run before training so mistakes cost seconds."""

from __future__ import annotations

from typing import Any

from torch import nn

from depthlab.losses.gradient import GradientMatchingLoss
from depthlab.losses.ranking import RankingLoss
from depthlab.losses.scale_invariant import ScaleShiftInvariantLoss
from depthlab.utils.errors import DepthlabError

MASK_LOSSES = "loss=bce_rmse or loss=bce_dice_ssim"


def loss_uses_mask(loss: nn.Module) -> bool:
    """True when any term of the loss reads the mask logits (losses.mask.MaskTerm)."""
    return any(getattr(module, "uses_mask", False) for module in loss.modules())


def check_net_and_loss(net: nn.Module, loss: nn.Module) -> None:
    """A mask loss needs a mask head, and a mask head needs a mask loss (else it is never trained)."""
    name = getattr(net, "name", type(net).__name__)
    predicts_mask = getattr(net, "predicts_mask", False)
    check_relative_loss(net, loss)
    check_mask_only(net, loss)
    if loss_uses_mask(loss) and not predicts_mask:
        raise DepthlabError(
            f"the loss has mask terms (bce / dice) but {name} predicts no mask: add task=depth_mask "
            "(or model.mask_head=true), or use a depth-only loss such as loss=l1"
        )
    if predicts_mask and not loss_uses_mask(loss):
        raise DepthlabError(
            f"{name} predicts a foreground mask but the loss has no mask term: use task=depth_mask "
            f"({MASK_LOSSES}), or model.mask_head=false for depth only"
        )


def check_mask_only(net: nn.Module, loss: nn.Module) -> None:
    """A mask-only network (predicts_depth False) has no depth output for a depth term to read."""
    if getattr(net, "predicts_depth", True):
        return
    terms = getattr(loss, "terms", {"loss": loss})
    depth = [name for name, term in terms.items() if not getattr(term, "uses_mask", False)]
    if depth:
        name = getattr(net, "name", type(net).__name__)
        raise DepthlabError(
            f"{name} predicts a mask only, but loss term(s) {', '.join(depth)} need depth: use task=mask "
            "(loss=bce or loss=bce_dice)"
        )


def check_relative_loss(net: nn.Module, loss: nn.Module) -> None:
    """A net predicting affine-invariant disparity trains only with disparity-space invariant terms (SSI, GM)."""
    if getattr(net, "output_kind", "metric") != "relative_disparity":
        return
    terms = getattr(loss, "terms", {"loss": loss})
    metric = [name for name, term in terms.items() if getattr(term, "space", None) != "disparity"]
    if metric:
        name = getattr(net, "name", type(net).__name__)
        raise DepthlabError(
            f"{name} predicts relative (affine-invariant) disparity, but loss term(s) {', '.join(metric)} need "
            "metric depth: use loss=ssi_gm or loss=ssi, or model.depth_type=metric for a metric head"
        )


def check_sample(net: nn.Module, loss: nn.Module, sample: dict[str, Any], dataset: str) -> None:
    """Every batch key the network consumes and the loss reads must be in the dataset's samples."""
    needed = list(getattr(net, "inputs", ("image",)))
    if loss_uses_mask(loss):
        needed.append("mask")
    missing = [key for key in needed if key not in sample]
    if missing:
        name = getattr(net, "name", type(net).__name__)
        raise DepthlabError(
            f"{name} with this loss needs sample key(s) {', '.join(missing)}, which data={dataset} does not provide; "
            "use a dataset with foreground masks and backgrounds (data=synthetic, data=modest) or task=depth"
        )


# loss terms that read no metric scale from the labels (they align or rank first): fit for relative labels
RELATIVE_TERMS = (ScaleShiftInvariantLoss, GradientMatchingLoss, RankingLoss)


def check_label_kind(loss: nn.Module, kind: str, dataset: str) -> None:
    """Relative labels (a relative teacher's pseudo-labels) have no metric scale: refuse a loss that needs one."""
    if kind == "metric":
        return
    terms = getattr(loss, "terms", {"loss": loss})
    weights = getattr(loss, "weights", {})
    metric = [
        name for name, term in terms.items() if weights.get(name, 1.0) > 0 and not isinstance(term, RELATIVE_TERMS)
    ]
    if metric:
        raise DepthlabError(
            f"data={dataset} holds {kind} labels (no metric scale) but loss term(s) {', '.join(metric)} compare "
            "metres; use experiment=distill_relative, or loss=ssi / loss=ssi_gm with protocol=relative"
        )
