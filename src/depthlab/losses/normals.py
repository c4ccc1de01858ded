"""Surface-normal loss: normals of the predicted and true depth maps, compared by cosine.

Pinhole batches: kornia's depth_to_normals with the batch's K; equirect batches (meta["camera"]): normals of the
panorama's 3D points (ops/camera.py), with the left and right edges as neighbours.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.geometry.depth import depth_to_normals
from torch import Tensor, nn

from depthlab.losses.terms import _unpack
from depthlab.ops.camera import backproject, batch_camera, equirect_normals, fov_intrinsics
from depthlab.ops.masked import masked_mean
from depthlab.utils.errors import DepthlabError


def erode(valid: Tensor, circular: bool = False) -> Tensor:
    """Pixels whose whole 3x3 neighbourhood is valid: the support of a normal (circular: wraps the width seam)."""
    if not circular:
        return -F.max_pool2d(-valid.to(torch.float32), 3, stride=1, padding=1) > 0.5
    wrapped = F.pad(valid.to(torch.float32), (1, 1, 0, 0), mode="circular")
    return -F.max_pool2d(-wrapped, 3, stride=1, padding=(1, 0)) > 0.5


def panorama_normals(depth: Tensor) -> Tensor:
    """Normals [B, 3, H, W] of equirect range maps [B, 1, H, W] (unit rays times range)."""
    return equirect_normals(backproject(depth, None, "equirect"))


class SurfaceNormalLoss(nn.Module):
    """mean(1 - cos(n_p, n_g)) over pixels with a valid 3x3 neighbourhood: penalises wrong local geometry.

    Pinhole normals come from kornia.geometry.depth.depth_to_normals with batch["intrinsics"]; a pinhole dataset
    without intrinsics needs `hfov_deg` (an assumed centred pinhole camera). Equirect batches need neither.
    """

    def __init__(self, hfov_deg: float | None = None) -> None:
        super().__init__()
        if hfov_deg is not None and not 0 < hfov_deg < 180:
            raise ValueError(f"SurfaceNormalLoss hfov_deg must be in (0, 180), got {hfov_deg}")
        self.hfov_deg = hfov_deg

    def intrinsics(self, batch: dict, pred: Tensor) -> Tensor:
        """The batch's K, or the assumed pinhole K; one clear error when there is neither."""
        if "intrinsics" in batch:
            return batch["intrinsics"].to(pred.dtype)
        if self.hfov_deg is None:
            raise DepthlabError(
                "loss term SurfaceNormalLoss needs batch['intrinsics']; this dataset has none, so set "
                "hfov_deg on the term (e.g. loss.terms.normal.hfov_deg=60)"
            )
        K = fov_intrinsics(*pred.shape[-2:], math.radians(self.hfov_deg))
        return K.to(pred).expand(pred.shape[0], 3, 3)

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        if batch_camera(batch) == "equirect":
            cos = (panorama_normals(pred) * panorama_normals(target)).sum(1, keepdim=True)
            return masked_mean(1.0 - cos, erode(valid, circular=True))
        k = self.intrinsics(batch, pred)
        cos = (depth_to_normals(pred, k) * depth_to_normals(target, k)).sum(1, keepdim=True)
        return masked_mean(1.0 - cos, erode(valid))

    def extra_repr(self) -> str:
        return f"hfov_deg={self.hfov_deg}"
