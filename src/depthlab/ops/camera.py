"""Pinhole intrinsics from a horizontal field of view: the renderer, the normal loss and predict's guess agree."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def fov_intrinsics(height: int, width: int, hfov: float) -> Tensor:
    """float64 K [3, 3]: square pixels, principal point at the image centre, horizontal FOV `hfov` in radians."""
    focal = 0.5 * width / math.tan(0.5 * hfov)
    return torch.tensor(
        [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
