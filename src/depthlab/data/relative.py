"""Relative-depth datasets: ReDWeb V1 and HRWSI store disparity-like 8/16-bit maps (larger = nearer).

The contract's `depth` grows with distance for every dataset, so disparity d (normalised to (0, 1]) becomes
relative depth 1 / d, unitless in [1, 255] for 8-bit maps; d = 0 (infinitely far: sky) is marked invalid.
Samples carry meta["relative"] = True and the DataModule `relative = True`, the seam for relative losses and
scale(-and-shift)-aligned metrics.
"""

from __future__ import annotations

import numpy as np

from depthlab.data.files import FileDataModule


def disparity_to_depth(
    raw: np.ndarray, scale: float | None = None, invalid_value: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(1 / (raw / scale), valid) of an integer disparity map (scale None: dtype max); 0 and `invalid_value` invalid."""
    top = np.float32(np.iinfo(raw.dtype).max if scale is None else scale)
    valid = raw > 0
    if invalid_value is not None:
        valid &= raw != invalid_value
    disparity = raw.astype(np.float32) / top
    depth = np.divide(np.float32(1.0), disparity, out=np.zeros_like(disparity), where=valid)
    return depth, valid


class RelativeDataModule(FileDataModule):
    """Base of the relative datasets: relative = True."""

    relative = True
