"""Sparse ground truth (LiDAR, velodyne projections, SfM points): detection and a sample-preserving resize.

A sparse depth map is mostly holes (0 = no measurement). Bilinear / area resizing averages holes into depths, and
nearest-neighbour downsizing drops most measured points, so sparse targets are resized by scattering each measured
pixel to the output pixel containing its centre; when several land in one pixel the nearest (smallest depth) wins,
as a LiDAR return occludes what lies behind it. Every output depth is therefore one of the input depths, and only
collisions lose points.
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


def scatter_resize(depth: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(depth, valid) at size (H, W): each valid pixel moved to the output pixel holding its centre, nearest wins."""
    height, width = depth.shape
    rows, cols = np.nonzero(np.asarray(valid, dtype=bool))
    values = depth[rows, cols].astype(np.float32)
    out_rows = np.minimum(((rows + 0.5) * size[0] / height).astype(np.int64), size[0] - 1)
    out_cols = np.minimum(((cols + 0.5) * size[1] / width).astype(np.int64), size[1] - 1)
    flat = out_rows * size[1] + out_cols
    order = np.lexsort((values, flat))  # by output pixel, then nearest first
    flat, values = flat[order], values[order]
    first = np.ones(flat.shape, dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    out = np.zeros(size[0] * size[1], dtype=np.float32)
    out[flat[first]] = values[first]
    hit = np.zeros(size[0] * size[1], dtype=bool)
    hit[flat[first]] = True
    return out.reshape(size), hit.reshape(size)
