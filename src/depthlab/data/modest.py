"""MODEST-Museum: background + background-with-foreground composites, foreground masks and JPEG pseudo-depth.

Inputs: `image` = bg_fg composite, `background` = bg; targets: `mask` (JPEG, thresholded at 128) and `depth`
(JPEG pseudo-depth, relative units v / 255). Rows come from file_map.txt (tab-separated stems: bg, bg_fg, mask,
depth); there is no official split, so a seeded random split grouped by background keeps a room in one split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthlab.data.base import Sample
from depthlab.data.files import Record
from depthlab.data.io import check_same_size, decode_depth, read_binary_mask, read_lines
from depthlab.data.pixels import read_rgb
from depthlab.data.relative import RelativeDataModule
from depthlab.utils.errors import DepthlabError

MODEST_MEAN = (0.41221, 0.47368, 0.53431)
MODEST_STD = (0.25699, 0.24577, 0.24217)


class MODESTDataModule(RelativeDataModule):
    """MODEST-Museum for the depth + mask multi-task models (DepthMaskNet): bg + bg_fg in, mask + depth out."""

    name = "modest"
    layout = "bg/, bg_fg/, bg_fg_mask/, bg_fg_depth_map/ (JPEG) and file_map.txt (tab-separated bg, bg_fg, mask, depth)"
    url = "https://github.com/rvk007/MODEST-Museum-Dataset"

    def __init__(self, file_map: str = "file_map.txt", mask_threshold: float = 0.5, **kwargs: Any) -> None:
        kwargs.setdefault("mean", MODEST_MEAN)
        kwargs.setdefault("std", MODEST_STD)
        super().__init__(**kwargs)
        self.file_map, self.mask_threshold = self.root / file_map, mask_threshold
        self._listing: dict[str, dict[str, Path]] = {}

    def _find(self, folder: str, stem: str, tag: str) -> Path:
        """A file of `folder` by stem, with or without its `_mask` / `_depth_map` tag and extension."""
        if folder not in self._listing:  # one directory scan instead of a stat per row and suffix (400k rows)
            base = self.root / folder
            files = list(base.iterdir()) if base.is_dir() else []
            self._listing[folder] = {**{p.name: p for p in files}, **{p.stem: p for p in files}}
        listing = self._listing[folder]
        found = listing.get(stem) or listing.get(f"{stem}{tag}")
        if found is None:
            raise DepthlabError(
                f"{self.file_map} lists {stem!r} but {self.root / folder} has no {stem}[{tag}].jpeg; re-extract it"
            )
        return found

    def split_pool(self) -> dict[str, list[Record]]:
        if not self.file_map.is_file():
            raise DepthlabError(f"{self.file_map} is missing; data=modest expects {self.layout}")
        records = []
        for row, fields in enumerate(read_lines(self.file_map)):
            if row == 0 and fields[0].lower() in ("bg", "background"):
                continue  # header line
            if len(fields) < 4:
                raise DepthlabError(f"{self.file_map} line {row + 1}: need 4 tab-separated stems (bg bg_fg mask depth)")
            bg, bg_fg, mask, depth = fields[:4]
            records.append(
                Record(
                    self._find("bg_fg", bg_fg, ""),
                    self._find("bg_fg_depth_map", depth, "_depth_map"),
                    mask=self._find("bg_fg_mask", mask, "_mask"),
                    background=self._find("bg", bg, ""),
                    group=bg,
                )
            )
        return {"all": records}

    def empty_split_hint(self, split: str) -> str:
        return f"{self.file_map} lists no rows"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        return decode_depth(record.depth, scale=self.depth_scale or 255.0, invalid_value=0)

    def load(self, record: Record) -> Sample:
        sample = super().load(record)
        sample["background"] = read_rgb(record.background)
        sample["mask"] = read_binary_mask(record.mask, self.mask_threshold)
        check_same_size(sample["image"], sample["background"], record.rgb, record.background)
        check_same_size(sample["image"], sample["mask"], record.rgb, record.mask)
        return sample
