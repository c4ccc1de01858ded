"""HRWSI (high-resolution web stereo images, relative; see relative.py for the depth convention)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthlab.data.files import Record
from depthlab.data.io import RGB_SUFFIXES, find_with_suffix, read_gray
from depthlab.data.relative import RelativeDataModule, disparity_to_depth


class HRWSIDataModule(RelativeDataModule):
    """HRWSI: {train,val}/imgs, gts (disparity), valid_masks; val is the test split, val held out of train."""

    name = "hrwsi"
    layout = "{train,val}/imgs/<id>.jpg + {train,val}/gts/<id>.png (disparity) + {train,val}/valid_masks/<id>.png"
    url = "https://kexianhust.github.io/Structure-Guided-Ranking-Loss/"

    def split_pool(self) -> dict[str, list[Record]]:
        pool = {}
        for split, folder in (("train", "train"), ("test", "val")):
            base: Path = self.root / folder
            records = []
            for depth in sorted((base / "gts").glob("*.png")):
                rgb = find_with_suffix(base / "imgs" / depth.stem, RGB_SUFFIXES) or base / "imgs" / f"{depth.stem}.jpg"
                records.append(Record(rgb, depth, valid=base / "valid_masks" / depth.name))
            pool[split] = records
        return pool

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        depth, valid = disparity_to_depth(read_gray(record.depth), self.depth_scale)  # None: maps span the full range
        if record.valid is not None and record.valid.is_file():
            valid &= read_gray(record.valid).reshape(valid.shape) > 0
        return depth, valid
