"""RGB-D pairs listed in a manifest.csv (rgb, depth, depth_scale, fx, fy, cx, cy per row): mixed sensors in one set.

The layout of ../shared/data/real: each row carries its own depth scale (TUM 5000, Kinect / NYU 1000, KITTI 256)
and intrinsics, so one evaluation set can hold several sensors. `sets` keeps the rows whose `set` column is listed.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import decode_depth
from depthlab.utils.errors import DepthlabError

COLUMNS = ("set", "rgb", "depth", "depth_scale", "fx", "fy", "cx", "cy")


class ManifestDataModule(FileDataModule):
    """Pairs named by <root>/<manifest>; every row is a test sample (a transfer set, not a training set)."""

    name = "manifest"
    layout = "<root>/manifest.csv with columns set,rgb,depth,depth_scale,fx,fy,cx,cy (paths relative to root)"
    url = "your own pairs, or ../shared/data/real"

    def __init__(self, manifest: str = "manifest.csv", sets: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest, self.sets = self.root / manifest, tuple(sets) if sets else None
        self.rows: dict[str, dict[str, str]] = {}

    def split_pool(self) -> dict[str, list[Record]]:
        if not self.manifest.is_file():
            raise DepthlabError(f"{self.manifest} is missing; data=manifest expects {self.layout}")
        with open(self.manifest, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise DepthlabError(f"{self.manifest} lacks the columns {', '.join(missing)}; expected {self.layout}")
            rows = [r for r in reader if self.sets is None or r["set"] in self.sets]
        records = []
        for row in rows:
            rgb = self.confine(self.root / row["rgb"], row["rgb"], self.manifest)
            depth = self.confine(self.root / row["depth"], row["depth"], self.manifest)
            self.rows[str(rgb)] = row
            records.append(Record(rgb, depth, group=row["set"]))
        return {"train": [], "val": records, "test": records}  # a transfer set: scored, never trained on

    def empty_split_hint(self, split: str) -> str:
        if split == "train":
            return "a manifest is an evaluation set; train on another data config and score here with eval.py"
        return f"{self.manifest} has no rows in sets {list(self.sets or [])}"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return decode_depth(record.depth, float(self.rows[str(record.rgb)]["depth_scale"]))

    def camera(self, record: Record, shape: tuple[int, ...]) -> np.ndarray | None:
        row = self.rows[str(record.rgb)]
        fx, fy, cx, cy = (float(row[k]) for k in ("fx", "fy", "cx", "cy"))
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)
