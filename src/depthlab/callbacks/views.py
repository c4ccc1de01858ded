"""Per-sample geometry for the val views: each sample's camera and K, its normal maps and its point cloud."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from depthlab.inference.geometry import point_cloud, surface_normals
from depthlab.losses.normals import erode
from depthlab.ops.camera import fov_intrinsics
from depthlab.viz import normal_colors

PINHOLE = "pinhole"


@dataclass
class Views:
    """One prediction of the first val samples, on the CPU, shared by the panel and the point clouds."""

    batch: dict[str, Any]
    rgb: Tensor  # [B, 3, H, W] in [0, 1]
    pred: Tensor  # [B, 1, H, W] as the evaluation protocol scores it (resized, aligned, clipped)
    target: Tensor  # [B, 1, H, W], 0 where not scored
    valid: Tensor  # [B, 1, H, W] the scored pixels
    mask_prob: Tensor | None = None  # [B, 1, H, W] for multi-task networks


def camera_of(batch: dict[str, Any], i: int) -> str:
    """Sample i's camera model from meta["camera"] (a list once collated); "pinhole" when the dataset names none."""
    camera = (batch.get("meta") or {}).get("camera")
    if camera is None:
        return PINHOLE
    return str(camera[i] if isinstance(camera, list | tuple) else camera)


def camera_kwargs(camera: str) -> dict[str, str]:
    """`camera=` only for non-pinhole models, so the pinhole call stays the plain geometry signature."""
    return {} if camera == PINHOLE else {"camera": camera}


def intrinsics_of(batch: dict[str, Any], i: int, size: tuple[int, int], hfov_deg: float) -> Tensor:
    """Sample i's K, or a centred pinhole K of `hfov_deg` for a dataset without intrinsics (as the normal loss)."""
    if "intrinsics" in batch:
        return batch["intrinsics"][i].float()
    return fov_intrinsics(*size, math.radians(hfov_deg)).float()


def normal_maps(depth: Tensor, valid: Tensor | None, batch: dict[str, Any], hfov_deg: float) -> Tensor:
    """Normal-map RGB [B, 3, H, W] with each sample's camera; pixels without a valid 3x3 neighbourhood black."""
    size = tuple(depth.shape[-2:])
    normals = [
        surface_normals(depth[i, 0], intrinsics_of(batch, i, size, hfov_deg), **camera_kwargs(camera_of(batch, i)))
        for i in range(depth.shape[0])
    ]
    if valid is not None:  # a normal needs its whole 3x3 neighbourhood; panoramas wrap at the left / right seam
        valid = torch.cat([erode(valid[i : i + 1], camera_of(batch, i) != PINHOLE) for i in range(len(valid))])
    return normal_colors(torch.stack(normals), valid)


def subsample(count: int, max_points: int) -> Tensor:
    """Evenly spaced indices (deterministic, so every epoch shows the same pixels); all when count <= max_points."""
    if count <= max_points:
        return torch.arange(count)
    return torch.linspace(0, count - 1, max_points).round().long()


def sample_points(views: Views, i: int, max_points: int, hfov_deg: float) -> tuple[Tensor, np.ndarray]:
    """Sample i's prediction back-projected with its camera: points [N, 3] and uint8 RGB [N, 3], N <= max_points."""
    depth, batch = views.pred[i, 0], views.batch
    shown = torch.isfinite(depth) & (depth > 0)
    K = intrinsics_of(batch, i, tuple(depth.shape), hfov_deg)
    points = point_cloud(depth, K, shown, **camera_kwargs(camera_of(batch, i)))
    colors = views.rgb[i].permute(1, 2, 0)[shown]
    keep = subsample(len(points), max_points)
    return points[keep], (colors[keep] * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
