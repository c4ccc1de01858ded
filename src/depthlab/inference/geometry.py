"""Camera intrinsics for an image, surface normals and coloured point clouds from predicted depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement
from torch import Tensor

from depthlab.ops import camera as cameras
from depthlab.viz import normal_colors


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> Tensor:
    """Pinhole K [3, 3] (pixel centres at integer coordinates)."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)


def rescale_intrinsics(K: Tensor, size: tuple[int, int], new_size: tuple[int, int]) -> Tensor:
    """K of an image resized from (H, W) to (H', W'): focal lengths scale, pixel centres map exactly."""
    sy, sx = new_size[0] / size[0], new_size[1] / size[1]
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    return intrinsics_matrix(fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5)


def surface_normals(depth: Tensor, K: Tensor | None, camera: str = "pinhole") -> Tensor:
    """Unit normals [3, H, W] facing the camera, camera frame (x right, y down, z forward), from depth [H, W].

    pinhole: kornia's depth_to_normals with K (z-depth); equirect: depth is the range along the ray, K is ignored.
    """
    return cameras.surface_normals(depth.float(), None if K is None else K.float(), camera)


def normals_to_rgb(normals: Tensor, valid: Tensor) -> np.ndarray:
    """The usual normal-map colours (x right, y up, z towards the viewer; (n + 1) / 2), invalid pixels black."""
    rgb = normal_colors(normals, valid)
    return (rgb.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def point_cloud(depth: Tensor, K: Tensor | None, valid: Tensor, camera: str = "pinhole") -> Tensor:
    """[N, 3] camera-frame points (metres) of the valid pixels, in row-major pixel order (equirect: the full sphere)."""
    points = cameras.backproject(depth.float(), None if K is None else K.float(), camera)  # 3, H, W
    return points.permute(1, 2, 0)[valid]


def write_ply(path: Path, points: Tensor, colors: np.ndarray) -> None:
    """A binary PLY with float x, y, z and uint8 red, green, blue per vertex (plyfile)."""
    vertex = np.empty(len(points), dtype=[(k, "f4") for k in "xyz"] + [(k, "u1") for k in ("red", "green", "blue")])
    xyz = points.numpy()
    for i, key in enumerate("xyz"):
        vertex[key] = xyz[:, i]
    for i, key in enumerate(("red", "green", "blue")):
        vertex[key] = colors[:, i]
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))
