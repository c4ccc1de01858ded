"""DIODE (indoor + outdoor laser scans, 768x1024): depth and validity masks as .npy beside each PNG."""

from __future__ import annotations

from typing import Any

import numpy as np

from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import read_npy
from depthlab.utils.choices import check_choice

SCENES = {"indoors": ("indoors",), "outdoor": ("outdoor",), "all": ("indoors", "outdoor")}


class DIODEDataModule(FileDataModule):
    """DIODE: official val is the test split; val is a scene-level hold-out of train (or the test at 0)."""

    name = "diode"
    layout = (
        "{train,val}/{indoors,outdoor}/scene_XXXXX/scan_XXXXX/<stem>.png + <stem>_depth.npy + <stem>_depth_mask.npy"
    )
    url = "https://diode-dataset.org"
    default_intrinsics = (886.81, 927.06, 512.0, 384.0)

    def __init__(self, scenes: str = "indoors", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("data.scenes", scenes, SCENES)
        self.scenes = scenes

    def split_pool(self) -> dict[str, list[Record]]:
        pool = {}
        for split, folder in (("train", "train"), ("test", "val")):
            records = []
            for kind in SCENES[self.scenes]:
                for depth in sorted((self.root / folder / kind).glob("scene_*/scan_*/*_depth.npy")):
                    stem = depth.name[: -len("_depth.npy")]
                    rgb, mask = depth.with_name(f"{stem}.png"), depth.with_name(f"{stem}_depth_mask.npy")
                    scene = f"{kind}/{depth.parent.parent.name}"
                    records.append(Record(rgb, depth, valid=mask, group=scene))
            pool[split] = records
        return pool

    def empty_split_hint(self, split: str) -> str:
        folder = "val" if split == "test" else "train"
        return f"no scans under {self.root}/{folder}/{{{','.join(SCENES[self.scenes])}}} (data.scenes={self.scenes})"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        depth = read_npy(record.depth).astype(np.float32) / np.float32(self.depth_scale or 1.0)
        valid = read_npy(record.valid).reshape(depth.shape) > 0
        return depth, valid & np.isfinite(depth)
