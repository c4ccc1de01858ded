"""A user's own RGB-D data: rgb/ + depth/ (16-bit PNG / PGM, .npy, .pfm) + optional mask/, matched by file stem.

metres = stored value / depth_scale (null: 1000 for 16-bit images, i.e. millimetres; 1 for float files; 8-bit files
need one); pixels equal to invalid_value are invalid. Splits come from list files (one rgb stem or path per line)
or, without them, a seeded random split. A list line may also pair an RGB path with its depth path
(`rgb.png depth.png` or `rgb.png,depth.npy`, both relative to root); data.camera=equirect reads 2:1 panoramas whose
depth is the range along each ray. Directories may coincide (e.g. TUM's `x.png` beside `x_depth.png`:
depth_suffix=_depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthlab.data.base import Sample
from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import (
    DEPTH_SUFFIXES,
    RGB_SUFFIXES,
    check_same_size,
    decode_depth,
    find_with_suffix,
    read_binary_mask,
    read_lines,
)
from depthlab.utils.errors import DepthlabError


def is_pair(fields: list[str]) -> bool:
    """A list line naming an RGB file then a depth file (rather than one name with spaces split in two)."""
    first, second = Path(fields[0]).suffix.lower(), Path(fields[1]).suffix.lower()
    return first in RGB_SUFFIXES and second in DEPTH_SUFFIXES


class FolderDataModule(FileDataModule):
    """Your own data: configure directories, suffixes, depth scale, invalid value, intrinsics and split lists."""

    name = "folder"
    url = "your own capture (see the README section 'Real datasets')"

    def __init__(
        self,
        rgb_dir: str = "rgb",
        depth_dir: str = "depth",
        mask_dir: str | None = "mask",
        depth_suffix: str = "",
        mask_suffix: str = "",
        invalid_value: float | None = 0,
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rgb_dir, self.depth_dir = self.root / rgb_dir, self.root / depth_dir
        self.mask_dir = self.root / mask_dir if mask_dir else None
        self.depth_suffix, self.mask_suffix = depth_suffix, mask_suffix
        self.invalid_value = invalid_value
        self.lists = {"train": train_list, "val": val_list, "test": test_list}
        self.layout = f"{rgb_dir}/<stem>.png|jpg + {depth_dir}/<stem>{depth_suffix}.png|npy|pfm|pgm"

    def _is_rgb(self, path: Path) -> bool:
        """RGB files of rgb_dir, minus depth / mask files living in the same directory."""
        if path.suffix.lower() not in RGB_SUFFIXES:
            return False
        for folder, suffix in ((self.depth_dir, self.depth_suffix), (self.mask_dir, self.mask_suffix)):
            if folder == self.rgb_dir and suffix and path.stem.endswith(suffix):
                return False
        return True

    def _record(self, rgb: Path, depth: Path | None = None) -> Record:
        depth = depth or find_with_suffix(self.depth_dir / f"{rgb.stem}{self.depth_suffix}", DEPTH_SUFFIXES)
        if depth is None:
            raise DepthlabError(
                f"{rgb} has no depth file {self.depth_dir}/{rgb.stem}{self.depth_suffix}.png|npy|pfm|pgm; "
                "set data.depth_dir / data.depth_suffix, or remove the image"
            )
        mask = None
        if self.mask_dir is not None and self.mask_dir.is_dir():
            mask = find_with_suffix(self.mask_dir / f"{rgb.stem}{self.mask_suffix}", (".png", ".jpg", ".jpeg"))
        return Record(rgb, depth, mask=mask)

    def _from_list(self, name: str) -> list[Record]:
        records, path = [], self.list_file(name)
        for fields in read_lines(path):
            if len(fields) >= 2 and is_pair(fields):  # an explicit rgb path and depth path
                records.append(self._record(self.resolve(fields[0], path), self.resolve(fields[1], path)))
                continue
            entry = Path(fields[0])
            if entry.suffix.lower() in RGB_SUFFIXES:
                rgb = self.resolve(fields[0], path)
            else:
                found = find_with_suffix(self.rgb_dir / entry.name, RGB_SUFFIXES, self.rgb_dir / f"{entry.name}.png")
                rgb = self.confine(found, entry, path)
            if len(fields) > 1 and not rgb.is_file():  # an unquoted name with spaces became several fields
                raise DepthlabError(
                    f"{path} lists {' '.join(fields)!r} but {rgb} does not exist; "
                    'quote names with spaces ("a b.png") or separate fields with tabs'
                )
            records.append(self._record(rgb))
        return records

    def split_pool(self) -> dict[str, list[Record]]:
        if not self.rgb_dir.is_dir():
            raise DepthlabError(f"{self.rgb_dir} is not a directory; data=folder expects {self.layout}")
        pool = {split: self._from_list(name) for split, name in self.lists.items() if name}
        if pool:
            return pool
        return {"all": [self._record(p) for p in sorted(self.rgb_dir.iterdir()) if self._is_rgb(p)]}

    def empty_split_hint(self, split: str) -> str:
        if self.lists[split]:
            return f"data.{split}_list={self.lists[split]} lists no images"
        return f"no RGB images in {self.rgb_dir}"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return decode_depth(record.depth, self.depth_scale, self.invalid_value)

    def load(self, record: Record) -> Sample:
        sample = super().load(record)
        if record.mask is not None:
            sample["mask"] = read_binary_mask(record.mask)
            check_same_size(sample["image"], sample["mask"], record.rgb, record.mask)
        return sample
