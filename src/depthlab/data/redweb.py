"""ReDWeb V1 (relative depth from web stereo images; see relative.py for the depth convention)."""

from __future__ import annotations

from typing import Any

import numpy as np

from depthlab.data.files import Record
from depthlab.data.io import RGB_SUFFIXES, find_with_suffix, read_gray
from depthlab.data.relative import RelativeDataModule, disparity_to_depth


class ReDWebDataModule(RelativeDataModule):
    """ReDWeb V1: Imgs/<id>.jpg + RDs/<id>.png; no official split, so a seeded random split."""

    name = "redweb"
    layout = "Imgs/<id>.jpg + RDs/<id>.png (uint8 relative disparity)"
    url = "https://sites.google.com/site/redwebcvpr18"

    def __init__(self, invalid_value: int | None = 255, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invalid_value = invalid_value  # MiDaS ignores 255 in ReDWeb maps

    def split_pool(self) -> dict[str, list[Record]]:
        records = []
        for depth in sorted((self.root / "RDs").glob("*.png")):
            rgb = (
                find_with_suffix(self.root / "Imgs" / depth.stem, RGB_SUFFIXES)
                or self.root / "Imgs" / f"{depth.stem}.jpg"
            )
            records.append(Record(rgb, depth))
        return {"all": records}

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return disparity_to_depth(read_gray(record.depth), self.depth_scale or 255.0, self.invalid_value)
