"""Which loss terms need a dense target, and the startup refusal of them on sparse ground truth.

Pointwise terms (l1, mse, rmse, berhu, silog, ssi, ranking, smoothness unmasked, bce, dice) are masked means over
valid pixels or valid pairs and stay exact at any density. Terms built on neighbourhoods of the target compare
holes or find almost no complete stencil (at 3 % random points a forward difference has both pixels measured
about 0.1 % of the time), so on sparse targets they are refused with one line at startup.
"""

from __future__ import annotations

from torch import nn

from depthlab.losses.gradient import EdgeAwareSmoothnessLoss, GradientMatchingLoss
from depthlab.losses.normals import SurfaceNormalLoss
from depthlab.losses.ranking import StructureGuidedRankingLoss
from depthlab.losses.terms import EdgeLoss, SSIMLoss
from depthlab.utils.errors import DepthlabError

DENSE_REASONS: dict[type, str] = {
    SSIMLoss: "its window statistics would compare holes",
    EdgeLoss: "a forward difference needs two adjacent measurements",
    GradientMatchingLoss: "gradients need adjacent measurements at every scale",
    SurfaceNormalLoss: "a normal needs a fully measured 3x3 neighbourhood",
    StructureGuidedRankingLoss: "its image-edge pairs almost never land on two measured pixels",
}


def dense_reason(term: nn.Module) -> str | None:
    """Why a term cannot train on sparse targets, or None when it can."""
    if isinstance(term, EdgeAwareSmoothnessLoss):
        return "masked=true keeps only pairs of measured neighbours" if term.masked else None
    return next((why for kind, why in DENSE_REASONS.items() if isinstance(term, kind)), None)


def check_sparse_loss(loss: nn.Module, dataset: str) -> None:
    """Refuse, in one line naming the term, a loss term that needs dense targets."""
    terms = getattr(loss, "terms", None)
    named = terms.items() if isinstance(terms, nn.ModuleDict) else [(type(loss).__name__, loss)]
    for name, term in named:
        why = dense_reason(term)
        if why is not None:
            raise DepthlabError(
                f"loss term {name} ({type(term).__name__}) cannot train on the sparse targets of data={dataset}: "
                f"{why}; remove loss.terms.{name} (and its weight) or use a pointwise loss such as loss=silog / l1"
            )
