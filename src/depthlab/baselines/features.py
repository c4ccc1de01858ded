"""Per-pixel features (colour, optionally normalised position) and train pixels sampled image by image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

FEATURES = ("rgb", "rgb_pos")
Predictor = Callable[[dict[str, Tensor]], Tensor]


class Regressor(Protocol):
    """A fitted scikit-learn regressor of log depth."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PixelSample:
    """Sampled valid pixels: features x [N, F], log depth y [N], and the image each came from (CV groups)."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray


def pixel_features(rgb: Tensor, features: str = "rgb_pos") -> np.ndarray:
    """[B, 3, H, W] RGB in [0, 1] -> [B*H*W, F]: (r, g, b) or (r, g, b, row / (H-1), column / (W-1)) per pixel."""
    check_choice("features", features, FEATURES)
    batch, _, height, width = rgb.shape
    channels = [rgb.float()]
    if features == "rgb_pos":
        rows = torch.linspace(0, 1, height).view(1, 1, height, 1).expand(batch, 1, height, width)
        cols = torch.linspace(0, 1, width).view(1, 1, 1, width).expand(batch, 1, height, width)
        channels += [rows, cols]
    stacked = torch.cat(channels, 1)
    return stacked.permute(0, 2, 3, 1).reshape(-1, stacked.shape[1]).numpy()


def train_slice(datamodule: Any, size: int, seed: int) -> list[int]:
    """`size` train image indices drawn without replacement (seeded), so a few images stand for the split."""
    total = len(datamodule.dataset("train"))
    if not 1 <= size <= total:
        name = getattr(datamodule, "name", "the data config")
        raise DepthlabError(f"slice={size} but the train split of {name} has {total} images; use 1 <= slice <= {total}")
    return sorted(np.random.default_rng(seed).choice(total, size=size, replace=False).tolist())


def sample_pixels(
    datamodule: Any, images: Sequence[int], per_image: int | None, features: str, seed: int = 0
) -> PixelSample:
    """Up to `per_image` valid pixels of each listed train image (None: all), with log depth and image group."""
    dataset, rng = datamodule.dataset("train"), np.random.default_rng(seed)
    xs, ys, groups = [], [], []
    for index in images:
        sample = dataset[index]
        valid = sample["valid"][0].flatten().numpy()
        x = pixel_features(datamodule.denormalize(sample["image"][None]), features)[valid]
        y = np.log(sample["depth"][0].flatten().numpy()[valid])
        if per_image is not None and len(x) > per_image:
            pick = rng.choice(len(x), size=per_image, replace=False)
            x, y = x[pick], y[pick]
        xs.append(x)
        ys.append(y)
        groups.append(np.full(len(x), index))
    if sum(len(y) for y in ys) == 0:
        raise DepthlabError(
            f"the {len(images)} sampled train images have no valid pixels; check data.root, data.min_depth and "
            "data.max_depth"
        )
    return PixelSample(np.concatenate(xs), np.concatenate(ys), np.concatenate(groups))


def predictor(model: Regressor, datamodule: Any, features: str) -> Predictor:
    """Depth of every pixel of a batch from a fitted log-depth regressor (for metrics.baseline.score)."""

    def predict(batch: dict[str, Tensor]) -> Tensor:
        log_depth = model.predict(pixel_features(datamodule.denormalize(batch["image"]), features))
        return torch.from_numpy(np.exp(log_depth)).float().view_as(batch["depth"])

    return predict
