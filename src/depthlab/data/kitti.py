"""KITTI depth: raw RGB drives + the annotated (sparse) uint16 ground truth, Eigen split files, the KB crop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthlab.data.base import Sample
from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import decode_depth, read_lines
from depthlab.utils.errors import DepthlabError

KB_HEIGHT, KB_WIDTH = 352, 1216
GT_DIR = "proj_depth/groundtruth/image_02"


def kb_crop_box(height: int, width: int) -> tuple[int, int]:
    """(top, left) of the 352x1216 crop of Kuznietsov / BTS: bottom rows, centred columns."""
    if height < KB_HEIGHT or width < KB_WIDTH:
        raise DepthlabError(f"data.kb_crop=true needs images of at least 352x1216; got {height}x{width}")
    return height - KB_HEIGHT, (width - KB_WIDTH) // 2


def read_calib(path: Path) -> tuple[float, float, float, float] | None:
    """(fx, fy, cx, cy) of camera 2 from a drive date's calib_cam_to_cam.txt (P_rect_02), if present."""
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("P_rect_02:"):
            p = [float(v) for v in line.split(":", 1)[1].split()]
            return p[0], p[5], p[2], p[6]
    return None


class KITTIDataModule(FileDataModule):
    """KITTI: Eigen split files ('<rgb> <gt or None> <focal>') or the annotated train / val folders."""

    name = "kitti"
    layout = (
        "<date>/<drive>_sync/image_02/data/<10 digits>.png and "
        "data_depth_annotated/{train,val}/<drive>_sync/proj_depth/groundtruth/image_02/<10 digits>.png"
    )
    url = "https://www.cvlibs.net/datasets/kitti/eval_depth.php?benchmark=depth_prediction (Eigen files: BTS repo)"

    def __init__(
        self,
        gt_root: str | None = None,
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        kb_crop: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gt_root = Path(gt_root).expanduser() if gt_root else self.root / "data_depth_annotated"
        self.lists = {"train": train_list, "val": val_list, "test": test_list}
        self.kb_crop = kb_crop
        self.skipped: dict[str, int] = {}  # lines without ground truth, per split

    def _gt_path(self, name: str, listed_in: Path) -> Path:
        """GT paths of the Eigen files are relative to data_depth_annotated, with or without train/ or val/."""
        for base in (self.gt_root, self.gt_root / "train", self.gt_root / "val"):
            path = self.resolve(name, listed_in, base)
            if path.is_file():
                return path
        return self.resolve(name, listed_in, self.gt_root)

    def split_pool(self) -> dict[str, list[Record]]:
        if any(self.lists.values()):
            return {split: self._list_records(split, name) for split, name in self.lists.items() if name}
        pool = {}
        for split, folder in (("train", "train"), ("test", "val")):
            records = []
            for gt in sorted((self.gt_root / folder).glob(f"*_sync/{GT_DIR}/*.png")):
                drive = gt.parents[3].name
                rgb = self.root / drive[:10] / drive / "image_02" / "data" / gt.name
                records.append(Record(rgb, gt, group=drive))
            pool[split] = records
        return pool

    def _list_records(self, split: str, name: str) -> list[Record]:
        records, skipped, path = [], 0, self.list_file(name)
        for fields in read_lines(path):
            if len(fields) < 2 or fields[1] == "None":
                skipped += 1
                continue
            rgb = self.resolve(fields[0], path)
            focal = float(fields[2]) if len(fields) > 2 else None
            drive = next((p for p in Path(fields[0]).parts if p.endswith("_sync")), rgb.parent.name)
            records.append(Record(rgb, self._gt_path(fields[1], path), focal=focal, group=drive))
        self.skipped[split] = skipped
        return records

    def empty_split_hint(self, split: str) -> str:
        if any(self.lists.values()):
            return f"data.{split}_list={self.lists[split]} lists no pairs with ground truth"
        folder = "val" if split == "test" else "train"
        return f"no ground truth under {self.gt_root}/{folder}/*_sync/{GT_DIR}"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return decode_depth(record.depth, scale=self.depth_scale or 256.0, invalid_value=0)

    def camera(self, record: Record, shape: tuple[int, ...]) -> np.ndarray | None:
        """P_rect_02 of the drive's calibration when present, else the split file's focal."""
        date = record.group[:10]
        calib = read_calib(self.root / date / "calib_cam_to_cam.txt") if date else None
        if calib is None:
            return super().camera(record, shape)
        fx, fy, cx, cy = calib
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)

    def load(self, record: Record) -> Sample:
        sample = super().load(record)
        if not self.kb_crop:
            return sample
        top, left = kb_crop_box(*sample["depth"].shape)
        for key in ("image", "depth", "valid"):
            sample[key] = sample[key][top : top + KB_HEIGHT, left : left + KB_WIDTH]
        if "intrinsics" in sample:
            sample["intrinsics"] = sample["intrinsics"].copy()
            sample["intrinsics"][0, 2] -= left
            sample["intrinsics"][1, 2] -= top
        return sample
