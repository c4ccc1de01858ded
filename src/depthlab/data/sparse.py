"""Sparse ground truth (LiDAR, velodyne projections, SfM points): detection and a sample-preserving resize.

A sparse depth map is mostly holes (0 = no measurement). Bilinear / area resizing averages holes into depths, and
nearest-neighbour downsizing drops most measured points, so sparse targets are resized by scattering each measured
pixel to the output pixel containing its centre; when several land in one pixel the nearest (smallest depth) wins,
as a LiDAR return occludes what lies behind it. Every output depth is therefore one of the input depths, and only
collisions lose points. Geometric augmentation moves the same points as albumentations keypoints
(data/transforms.py) and scatters them again, so zoom and rotation neither interpolate nor duplicate them.
"""

from __future__ import annotations

import numpy as np

from depthlab.utils.errors import DepthlabError

SPARSE_MODES = (True, False, "auto")


def check_sparse_mode(mode: bool | str, threshold: float) -> bool | str:
    """data.sparse as True, False or "auto" (YAML may give strings); threshold in (0, 1]."""
    value = {"true": True, "false": False}.get(str(mode).lower(), mode) if isinstance(mode, str) else mode
    if value not in SPARSE_MODES or isinstance(value, int) and not isinstance(value, bool):
        raise DepthlabError(f"data.sparse={mode!r} must be true, false or auto (auto: valid fraction < threshold)")
    if not 0 < threshold <= 1:
        raise DepthlabError(f"data.sparse_threshold={threshold} must be in (0, 1] (a fraction of valid pixels)")
    return value


def is_sparse(valid: np.ndarray, mode: bool | str, threshold: float) -> bool:
    """Whether one sample's target is sparse: the configured answer, or (auto) valid fraction < threshold."""
    if mode == "auto":
        return bool(np.asarray(valid, dtype=bool).mean() < threshold)
    return bool(mode)


def sparse_points(depth: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(xy [N, 2] continuous pixel centres (pixel u spans [u, u + 1]), depths [N]) of the valid pixels."""
    rows, cols = np.nonzero(np.asarray(valid, dtype=bool))
    return np.stack([cols + 0.5, rows + 0.5], 1).astype(np.float64), depth[rows, cols].astype(np.float32)


def scatter_points(xy: np.ndarray, values: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(depth, valid) at size (H, W) from points at continuous xy: the pixel holding each, nearest wins."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    cols, rows = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < size[1]) & (rows >= 0) & (rows < size[0])
    flat, values = rows[inside] * size[1] + cols[inside], np.asarray(values, dtype=np.float32)[inside]
    order = np.lexsort((values, flat))  # by output pixel, then nearest first
    flat, values = flat[order], values[order]
    first = np.ones(flat.shape, dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    out = np.zeros(size[0] * size[1], dtype=np.float32)
    out[flat[first]] = values[first]
    hit = np.zeros(size[0] * size[1], dtype=bool)
    hit[flat[first]] = True
    return out.reshape(size), hit.reshape(size)


def scatter_resize(depth: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(depth, valid) at size (H, W): each valid pixel moved to the output pixel holding its centre, nearest wins."""
    xy, values = sparse_points(depth, valid)
    scale = np.array([size[1] / depth.shape[1], size[0] / depth.shape[0]])
    return scatter_points(xy * scale, values, size)
