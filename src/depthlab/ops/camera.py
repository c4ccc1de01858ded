"""Camera models (pinhole, equirectangular): rays, points and normals that the renderer, losses and predict share.

Camera frame everywhere: x right, y down, z forward. Pinhole depth is z-depth (the ray has z = 1); equirectangular
depth is the Euclidean range along a unit ray. Equirect pixel (u, v) of a W x H image (pixel centres) has longitude
((u + 0.5) / W) 2pi - pi (0 = forward, -pi/2 = left) and latitude pi/2 - ((v + 0.5) / H) pi (top row looks up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from kornia.geometry.depth import depth_to_3d_v2, depth_to_normals
from torch import Tensor

from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

CAMERAS = ("pinhole", "equirect")


def fov_intrinsics(height: int, width: int, hfov: float) -> Tensor:
    """float64 K [3, 3]: square pixels, principal point at the image centre, horizontal FOV `hfov` in radians."""
    focal = 0.5 * width / math.tan(0.5 * hfov)
    return torch.tensor(
        [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]], dtype=torch.float64
    )


def check_camera(name: str, key: str = "data.camera") -> str:
    """The camera model name, or one error listing the models."""
    check_choice(key, name, CAMERAS)
    return name


def check_aspect(height: int, width: int) -> None:
    """An equirectangular image covers 360 x 180 degrees, so its width must be twice its height."""
    if width != 2 * height:
        raise DepthlabError(
            f"an equirectangular panorama must be 2:1 (width = 2 x height), got {height}x{width}; "
            f"e.g. data.height={height} data.width={2 * height}"
        )


def batch_camera(batch: Mapping[str, Any]) -> str:
    """The one camera model of a batch (meta['camera'], collated to a list); pinhole when a batch has no meta."""
    value = (batch.get("meta") or {}).get("camera", "pinhole")
    names = {value} if isinstance(value, str) else set(value)
    if len(names) > 1:
        raise DepthlabError(f"a batch mixes cameras {sorted(names)}; train one camera model per run")
    return check_camera(names.pop() if names else "pinhole", "meta['camera']")


def equirect_rays_numpy(height: int, width: int) -> np.ndarray:
    """float64 unit rays (3, H, W) in NumPy: the renderer's forked workers must not touch torch's thread pool."""
    lon = (np.arange(width) + 0.5) / width * 2 * np.pi - np.pi
    lat = np.pi / 2 - (np.arange(height) + 0.5) / height * np.pi
    lat, lon = np.meshgrid(lat, lon, indexing="ij")
    return np.stack([np.cos(lat) * np.sin(lon), -np.sin(lat), np.cos(lat) * np.cos(lon)])


def equirect_rays(height: int, width: int, dtype: torch.dtype = torch.float32, device: Any = None) -> Tensor:
    """Unit ray directions [3, H, W] of an equirectangular image: longitude over the width, latitude over the height."""
    return torch.from_numpy(equirect_rays_numpy(height, width)).to(device=device, dtype=dtype)


def pinhole_rays(height: int, width: int, K: Tensor) -> Tensor:
    """Rays [3, H, W] with z = 1 through the pixel centres, so depth x ray is the point (z-depth)."""
    return depth_to_3d_v2(torch.ones(1, height, width, dtype=K.dtype, device=K.device), K[None])[0].permute(2, 0, 1)


def ray_directions(height: int, width: int, K: Tensor | None, camera: str = "pinhole") -> Tensor:
    """Per-pixel rays [3, H, W]: pinhole z = 1 (needs K), equirect unit length (K is ignored)."""
    if check_camera(camera, "camera") == "equirect":
        return equirect_rays(height, width)
    if K is None:
        raise DepthlabError("a pinhole camera needs intrinsics K; pass K or use camera=equirect for panoramas")
    return pinhole_rays(height, width, K.float())


def backproject(depth: Tensor, K: Tensor | None, camera: str = "pinhole") -> Tensor:
    """Points [..., 3, H, W] from depth [..., H, W] or [..., 1, H, W]: pinhole z-depth, equirect range along the ray."""
    if depth.dim() >= 3 and depth.shape[-3] == 1:
        depth = depth.squeeze(-3)
    if check_camera(camera, "camera") == "equirect":
        rays = equirect_rays(*depth.shape[-2:], dtype=depth.dtype, device=depth.device)
        return depth.unsqueeze(-3) * rays
    flat = depth.reshape(-1, *depth.shape[-2:])
    k = K.to(depth).expand(flat.shape[0], 3, 3) if K.dim() == 2 else K.to(depth).reshape(-1, 3, 3)
    points = depth_to_3d_v2(flat, k).permute(0, 3, 1, 2)
    return points.reshape(*depth.shape[:-2], 3, *depth.shape[-2:])


def equirect_normals(points: Tensor) -> Tensor:
    """Unit normals [B, 3, H, W] of equirect points: central differences, circular across the left/right seam."""
    du = points.roll(-1, dims=-1) - points.roll(1, dims=-1)
    padded = F.pad(points, (0, 0, 1, 1), mode="replicate")
    dv = padded[..., 2:, :] - padded[..., :-2, :]
    normals = F.normalize(torch.linalg.cross(du, dv, dim=-3), dim=-3, eps=1e-12)
    return face_camera(normals, points)


def face_camera(normals: Tensor, rays: Tensor) -> Tensor:
    """Flip normals that point away from the camera: a visible surface faces back along its ray."""
    return torch.where((normals * rays).sum(-3, keepdim=True) <= 0, normals, -normals)


def surface_normals(depth: Tensor, K: Tensor | None, camera: str = "pinhole") -> Tensor:
    """Unit camera-facing normals: depth [H, W] -> [3, H, W] or [B, 1, H, W] -> [B, 3, H, W]; K [3, 3] or [B, 3, 3]."""
    single = depth.dim() == 2
    batch = depth[None, None] if single else depth
    if check_camera(camera, "camera") == "equirect":
        normals = equirect_normals(backproject(batch, None, "equirect"))
    else:
        if K is None:
            raise DepthlabError("pinhole normals need intrinsics K; pass K or use camera=equirect for panoramas")
        k = (K[None] if K.dim() == 2 else K).to(batch).expand(batch.shape[0], 3, 3)
        normals = face_camera(depth_to_normals(batch, k), pinhole_rays(*batch.shape[-2:], k[0]).to(batch))
    return normals[0] if single else normals
