"""Depth loss terms and their config-driven weighted sum."""

from depthlab.losses.composite import CompositeLoss
from depthlab.losses.gradient import EdgeAwareSmoothnessLoss, GradientMatchingLoss
from depthlab.losses.normals import SurfaceNormalLoss
from depthlab.losses.ranking import RankingLoss, StructureGuidedRankingLoss
from depthlab.losses.scale_invariant import ScaleShiftInvariantLoss, SILogLoss
from depthlab.losses.terms import BerHuLoss, EdgeLoss, L1Loss, MSELoss, RMSELoss, SSIMLoss

__all__ = [
    "BerHuLoss",
    "CompositeLoss",
    "EdgeAwareSmoothnessLoss",
    "EdgeLoss",
    "GradientMatchingLoss",
    "L1Loss",
    "MSELoss",
    "RMSELoss",
    "RankingLoss",
    "SILogLoss",
    "SSIMLoss",
    "ScaleShiftInvariantLoss",
    "StructureGuidedRankingLoss",
    "SurfaceNormalLoss",
]
