"""The pixels a network sees: one decoder, one resize and one normalisation, shared by training and predict.

Training (dataset -> JointTransform -> finalize_sample) and predict (predictor.load_batch -> InferenceNet) both
call these functions, so a checkpoint sees at inference exactly the pixels its validation split showed it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from depthlab.data.io import imread
from depthlab.utils.errors import DepthlabError

INTERPOLATION = cv2.INTER_LINEAR  # what every checkpoint was trained with (no antialiasing when shrinking)
CONVERSIONS = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}


def read_rgb(path: str | Path) -> np.ndarray:
    """RGB float32 HWC in [0, 1]: 8/16-bit divided by the dtype maximum (not the image's own), grey/RGBA made RGB."""
    array = imread(path)
    if array.dtype not in (np.uint8, np.uint16):
        raise DepthlabError(f"{path} stores {array.dtype} pixels; save RGB images as 8- or 16-bit (PNG, JPEG)")
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    elif array.shape[2] in CONVERSIONS:
        array = cv2.cvtColor(array, CONVERSIONS[array.shape[2]])
    else:
        raise DepthlabError(f"{path} has {array.shape[2]} channels; save it as grey, RGB or RGBA")
    return array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An HWC [0, 1] image bilinearly resampled to size (H, W), pixel centres aligned, clipped to [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=INTERPOLATION)
    return np.clip(image, 0.0, 1.0)


def to_chw(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """HWC NumPy (or an already CHW tensor) in [0, 1] as a float32 CHW tensor."""
    if isinstance(image, torch.Tensor):
        return image.float()
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)))


def normalize(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(rgb - mean) / std: the network's input scale, applied by the datamodule and inside exported models alike."""
    return (image - mean) / std


def denormalize(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The inverse of normalize (up to float rounding), back to RGB in [0, 1] units."""
    return image * std + mean
