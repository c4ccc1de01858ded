"""360-degree panoramas in the panorama seed's layout: `<scene uuid>/pan/images/` RGB, `<scene uuid>/depth/` range maps.

Layout (the seed's `<uuid>/{depth, obj, pose, pan/{high, low, images}}`, read by depthlab as):
    <root>/<uuid>/pan/images/<stem>.jpg|png   equirectangular RGB, 2:1
    <root>/<uuid>/depth/<stem>.png            16-bit millimetres (0 = invalid), or .npy / .pfm float metres
    <root>/<uuid>/pose/<stem>.txt             camera pose (not read: depth is in the camera frame)
    <root>/train.csv, val.csv [, test.csv]    one `rgb_path,depth_path` row per sample, relative to root
Depth is the Euclidean range along each pixel's ray (src/depthlab/ops/camera.py); every sample is meta camera equirect.
List entries must stay inside root: `..` or absolute paths that leave it are refused (data.allow_outside_root=true).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import DEPTH_SUFFIXES, RGB_SUFFIXES, decode_depth, read_lines
from depthlab.utils.errors import DepthlabError


class PanoDataModule(FileDataModule):
    """The seed's panorama scenes through CSV split lists; equirect camera, 2:1 input size."""

    name = "pano"
    layout = "<uuid>/pan/images/<stem>.jpg + <uuid>/depth/<stem>.png (16-bit mm) and train.csv / val.csv"
    url = "your panorama capture (the panorama seed's <uuid>/{depth,pan,pose} folders)"

    def __init__(
        self,
        train_list: str = "train.csv",
        val_list: str = "val.csv",
        test_list: str | None = "test.csv",
        invalid_value: float | None = 0,
        camera: str = "equirect",
        **kwargs: Any,
    ) -> None:
        super().__init__(camera=camera, **kwargs)
        if self.camera_model != "equirect":
            raise DepthlabError(f"data=pano holds 360-degree panoramas; data.camera={camera} must be equirect")
        self.lists = {"train": train_list, "val": val_list, "test": test_list}
        self.invalid_value = invalid_value

    def _rows(self, name: str) -> list[Record]:
        """The (rgb, depth) rows of one CSV; a header row (no image suffix) is skipped."""
        path, records = self.list_file(name), []
        for fields in read_lines(path):
            if Path(fields[0]).suffix.lower() not in RGB_SUFFIXES and not records:
                continue  # header
            if len(fields) < 2 or Path(fields[1]).suffix.lower() not in DEPTH_SUFFIXES:
                raise DepthlabError(f"{path}: row {','.join(fields)!r} needs rgb_path,depth_path relative to root")
            rgb, depth = (self.resolve(entry, path) for entry in fields[:2])
            group = Path(fields[0]).parts[0] if len(Path(fields[0]).parts) > 1 else ""
            records.append(Record(rgb, depth, group=group))
        return records

    def split_pool(self) -> dict[str, list[Record]]:
        pool = {}
        for split, name in self.lists.items():
            if name and (split != "test" or self.list_file(name).is_file()):  # test.csv is optional: val stands in
                pool[split] = self._rows(name)
        return pool

    def empty_split_hint(self, split: str) -> str:
        return f"data.{split}_list={self.lists[split]} lists no panoramas"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return decode_depth(record.depth, self.depth_scale, self.invalid_value)
