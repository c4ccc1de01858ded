"""Depth loss terms and their config-driven weighted sum."""

from depthlab.losses.composite import CompositeLoss
from depthlab.losses.terms import EdgeLoss, L1Loss, MSELoss, RMSELoss, SSIMLoss

__all__ = ["CompositeLoss", "EdgeLoss", "L1Loss", "MSELoss", "RMSELoss", "SSIMLoss"]
