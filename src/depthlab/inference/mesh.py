"""A coloured triangle mesh of a depth map (.glb), the form 3D viewers in browsers (Gradio's Model3D) turn around."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import Tensor

from depthlab.inference.geometry import point_cloud

# camera frame (x right, y down, z forward) -> glTF (x right, y up, z towards the viewer): the picture stays upright
TO_GLTF = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def grid_step(height: int, width: int, max_vertices: int) -> int:
    """The pixel stride that keeps a height x width grid at or below max_vertices vertices."""
    return max(1, math.ceil(math.sqrt(height * width / max(max_vertices, 1))))


def grid_faces(valid: np.ndarray, depth: np.ndarray, edge_ratio: float) -> np.ndarray:
    """Two triangles per grid cell whose corners are valid and whose depths differ by at most edge_ratio (no
    curtains stretched across depth edges); indices into the row-major grid."""
    height, width = valid.shape
    index = np.arange(height * width).reshape(height, width)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    flat_valid, flat_depth = valid.ravel(), depth.ravel()
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    keep = flat_valid[faces].all(1)
    corners = np.where(flat_valid[faces], flat_depth[faces], 1.0)
    keep &= corners.max(1) <= corners.min(1) * (1.0 + edge_ratio)
    return faces[keep]


def depth_mesh(
    depth: Tensor,
    K: Tensor | None,
    valid: Tensor,
    rgb: np.ndarray,
    camera: str = "pinhole",
    max_vertices: int = 120_000,
    edge_ratio: float = 0.1,
) -> trimesh.Trimesh:
    """Metric mesh (metres, glTF axes) of depth [H, W] on a subsampled pixel grid, vertex colours from rgb [H, W, 3]."""
    step = grid_step(*depth.shape, max_vertices)
    rows, cols = slice(step // 2, None, step), slice(step // 2, None, step)
    if K is not None and step > 1:  # the subsampled grid's pixel (i, j) is the full image's (i * step + step // 2)
        K = K.clone().float()
        K[0, 0], K[1, 1] = K[0, 0] / step, K[1, 1] / step
        K[0, 2], K[1, 2] = (K[0, 2] - step // 2) / step, (K[1, 2] - step // 2) / step
    small, small_valid = depth[rows, cols].float(), valid[rows, cols]
    points = point_cloud(small, K, torch.ones_like(small_valid), camera).numpy() * TO_GLTF
    colors = np.asarray(rgb)[rows, cols].reshape(-1, 3)
    faces = grid_faces(small_valid.numpy(), small.numpy(), edge_ratio)
    alpha = np.full((len(colors), 1), 255, dtype=np.uint8)
    return trimesh.Trimesh(
        vertices=points, faces=faces, vertex_colors=np.concatenate([colors, alpha], 1), process=False
    )


def write_glb(path: Path, mesh: trimesh.Trimesh) -> Path:
    """Binary glTF with the unused vertices removed (invalid pixels), so the file holds only what is drawn."""
    mesh = mesh.copy()
    mesh.remove_unreferenced_vertices()
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(str(path), file_type="glb")
    return path
