"""predict.py's camera: equirect panoramas (the checkpoint's data.camera or camera=equirect), or pinhole K given by
the user, from the checkpoint's dataset, or a field-of-view guess."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor

from depthlab.inference.geometry import intrinsics_matrix, rescale_intrinsics
from depthlab.ops.camera import CAMERAS, fov_intrinsics
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

DATASET_SAMPLES = 8


def dataset_intrinsics(config: dict[str, Any], samples: int = DATASET_SAMPLES) -> tuple[Tensor, tuple[int, int]]:
    """Mean K over the first test samples of the run's dataset, with the (H, W) it belongs to."""
    datamodule = instantiate(OmegaConf.create(config["data"]))
    dataset = datamodule.dataset("test")
    matrices, size = [], None
    for index in range(min(samples, len(dataset))):
        sample = dataset[index]
        if "intrinsics" not in sample:
            raise KeyError("intrinsics")
        matrices.append(sample["intrinsics"].float())
        size = tuple(sample["image"].shape[-2:])
    return torch.stack(matrices).mean(0), size


def camera_model(camera: str, config: dict[str, Any] | None) -> str:
    """auto: the checkpoint's data.camera when it records one, else pinhole (a 2:1 image alone proves nothing)."""
    check_choice("camera", camera, ("auto", *CAMERAS))
    if camera != "auto":
        return camera
    recorded = ((config or {}).get("data") or {}).get("camera")
    return recorded if recorded in CAMERAS else "pinhole"


class Camera:
    """K for an image of a given size (None for equirect); `source` says where it came from (printed and recorded)."""

    def __init__(
        self,
        intrinsics: str | Sequence[float],
        fov_deg: float,
        config: dict[str, Any] | None,
        camera: str = "auto",
    ) -> None:
        self.fov_deg, self.reference = float(fov_deg), None
        self.given: Tensor | None = None
        self.model = camera_model(camera, config)
        if self.model == "equirect":
            how = "camera=equirect" if camera == "equirect" else "the checkpoint's data.camera"
            self.source = f"equirectangular 360-degree panorama ({how}; depth = range along each pixel's ray)"
            return
        if not 1.0 < self.fov_deg < 179.0:
            raise DepthlabError(f"fov_deg={fov_deg} must be a horizontal field of view in degrees, in (1, 179)")
        if isinstance(intrinsics, str) and intrinsics == "fov":
            self.source = f"{self.fov_deg:g} deg horizontal FOV guess"
        elif isinstance(intrinsics, str) and intrinsics == "dataset":
            self.source = self._from_dataset(config or {})
        elif not isinstance(intrinsics, str) and len(intrinsics) == 4 and all(float(v) > 0 for v in intrinsics):
            self.given = intrinsics_matrix(*(float(v) for v in intrinsics))
            self.source = "given (fx, fy, cx, cy)"
        else:
            raise DepthlabError(
                f"intrinsics={intrinsics} is not understood; use dataset, fov, or [fx,fy,cx,cy] in pixels of the inputs"
            )

    def _from_dataset(self, config: dict[str, Any]) -> str:
        """Intrinsics of the checkpoint's dataset, or the FOV guess (with the reason) when it has none."""
        name = (config.get("data") or {}).get("_target_", "?").rsplit(".", 1)[-1]
        try:
            self.reference = dataset_intrinsics(config)
        except Exception as err:  # a dataset whose files are not here, or without intrinsics
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
            return f"{self.fov_deg:g} deg horizontal FOV guess ({name} gave no intrinsics here; {reason})"
        return f"{name} dataset (mean of its first {DATASET_SAMPLES} test samples, rescaled)"

    def __call__(self, height: int, width: int) -> Tensor | None:
        if self.model == "equirect":
            return None
        if self.given is not None:
            return self.given
        if self.reference is not None:
            K, size = self.reference
            return rescale_intrinsics(K, size, (height, width))
        return fov_intrinsics(height, width, math.radians(self.fov_deg)).float()
