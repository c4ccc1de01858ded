"""What every on-disk dataset shares: records, split policy, the root check, intrinsics and the per-sample loader.

A subclass says where its pairs are (`split_pool`) and how to decode one depth file (`load_depth`); this base
reads the RGB, checks sizes, attaches intrinsics and meta, and resolves the train / val / test split:
split lists when given, else the dataset's official splits, else a seeded random split (grouped by scene).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from depthlab.data import fixtures
from depthlab.data.base import SPLITS, DepthDataModule, Sample
from depthlab.data.io import check_same_size
from depthlab.data.pixels import read_rgb
from depthlab.ops.camera import check_aspect
from depthlab.utils.errors import DepthlabError


@dataclass(frozen=True)
class Record:
    """One sample on disk; `group` (scene, drive) keeps a scene inside one split when splitting at random."""

    rgb: Path
    depth: Path | None = None
    valid: Path | None = None
    mask: Path | None = None
    background: Path | None = None
    focal: float | None = None
    index: int = -1
    group: str = ""


class RecordDataset(Dataset):
    """Raw samples of one split: `load(record)` plus the meta every sample carries."""

    def __init__(self, records: list[Record], load: Callable[[Record], Sample], name: str, split: str, relative: bool):
        self.records, self.load, self.name, self.split, self.relative = records, load, name, split, relative

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        record = self.records[index]
        sample = self.load(record)
        sample["meta"] = {
            "dataset": self.name,
            "split": self.split,
            "index": index,
            "path": str(record.rgb) if record.index < 0 else f"{record.rgb}[{record.index}]",
            "relative": self.relative,
        }
        return sample


def grouped_split(records: list[Record], fractions: tuple[float, ...], seed: int) -> list[list[Record]]:
    """Shuffle groups with `seed` and cut them by `fractions` (the rest is the first part); no group is cut."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.group or f"{record.rgb}[{record.index}]", []).append(record)
    keys = sorted(groups)
    if not keys:
        return [[] for _ in range(len(fractions) + 1)]
    random.Random(seed).shuffle(keys)
    counts = [round(len(keys) * f) if f <= 0 else max(1, round(len(keys) * f)) for f in fractions]
    if sum(counts) >= len(keys):
        raise DepthlabError(
            f"{len(records)} samples in {len(keys)} groups cannot be split into val / test fractions {fractions} and "
            "a non-empty train split; add data or lower data.val_fraction / data.test_fraction"
        )
    parts, start = [], len(keys) - sum(counts)
    for count in counts:
        parts.append([r for key in keys[start : start + count] for r in groups[key]])
        start += count
    return [[r for key in keys[: len(keys) - sum(counts)] for r in groups[key]], *parts]


class FileDataModule(DepthDataModule):
    """A dataset read from `root`; subclasses implement `split_pool` and `load_depth`."""

    name = "files"
    layout = ""  # the expected on-disk layout, for the missing-root error
    url = ""  # where the dataset is published
    default_intrinsics: tuple[float, float, float, float] | None = None

    def __init__(
        self,
        root: str,
        height: int | None = None,
        width: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        intrinsics: list[float] | None = None,
        depth_scale: float | None = None,
        allow_outside_root: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if depth_scale is not None and depth_scale <= 0:
            raise DepthlabError(f"data.depth_scale={depth_scale} must be positive (metres = value / depth_scale)")
        if (height is None) != (width is None) or any(v is not None and v < 8 for v in (height, width)):
            raise DepthlabError(f"data.height={height} / data.width={width}: give both (>= 8 px) or null both")
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= value < 1:
                raise DepthlabError(f"data.{key}={value} must be in [0, 1)")
        if intrinsics is not None and len(intrinsics) != 4:
            raise DepthlabError(f"data.intrinsics={list(intrinsics)} must be [fx, fy, cx, cy] in pixels (or null)")
        # data.root=fixture: a generated copy of this dataset's exact layout, for smoke tests without a download
        self.root = fixtures.materialize(self.fixture_layout()) if fixtures.is_fixture_root(root) else Path(root)
        self.root = self.root.expanduser()
        self.size = None if height is None else (int(height), int(width))
        if self.camera_model == "equirect" and self.size is not None:
            check_aspect(*self.size)
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.intrinsics = tuple(intrinsics) if intrinsics is not None else self.default_intrinsics
        self.depth_scale = depth_scale  # None: the scale the dataset's own format fixes
        self.allow_outside_root = allow_outside_root
        self._real_roots: dict[Path, Path] = {}
        self._splits: dict[str, list[Record]] | None = None

    def input_size(self) -> tuple[int, int] | None:
        return self.size

    def fixture_layout(self) -> str:
        """The depthlab.data.fixtures writer of this dataset's on-disk layout (data.root=fixture)."""
        return self.name

    def check_root(self) -> None:
        """Name the expected layout and where to get the data when the root is missing."""
        if not self.root.is_dir():
            raise DepthlabError(
                f"data.root={self.root} is not a directory; data={self.name} expects {self.layout}; "
                f"get it from {self.url} and pass data.root=/path/to/it"
            )

    def list_file(self, name: str | Path) -> Path:
        """A list file named in the config: absolute as is, else under the root (the user chose it: not confined)."""
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.root / path

    def resolve(self, entry: str | Path, listed_in: Path | None = None, base: Path | None = None) -> Path:
        """A list entry: absolute as is if it exists or lies in the root, else under `base` (default the root)."""
        base = base or self.root
        path = Path(entry).expanduser()
        if not (path.is_absolute() and (path.exists() or self._inside(path, base))):
            path = base / str(entry).lstrip("/")  # BTS lists write root-relative paths with a leading /
        return self.confine(path, entry, listed_in, base)

    def confine(self, path: Path, entry: str | Path, listed_in: Path | None = None, base: Path | None = None) -> Path:
        """Refuse a listed file that lies (or links) outside the root, so a list cannot reach arbitrary files."""
        if self.allow_outside_root or self._inside(path, base or self.root):
            return path
        where = f" in {listed_in}" if listed_in else ""
        raise DepthlabError(
            f"list entry '{entry}'{where} resolves to {path.resolve()}, outside data.root={self.root}; "
            "fix the entry or set data.allow_outside_root=true"
        )

    def _inside(self, path: Path, base: Path) -> bool:
        """Whether `path`, symlinks followed, lies under the root or `base`."""
        real = path.resolve()
        for root in (self.root, base):
            if root not in self._real_roots:
                self._real_roots[root] = root.resolve()
            if real.is_relative_to(self._real_roots[root]):
                return True
        return False

    def split_pool(self) -> dict[str, list[Record]]:
        """Records per known split ('train', 'val', 'test') or all of them under 'all'."""
        raise NotImplementedError

    def splits(self) -> dict[str, list[Record]]:
        """train / val / test records: 'all' splits at random; a missing val comes from train (or is the test)."""
        if self._splits is None:
            self.check_root()
            pool = self.split_pool()
            if "all" in pool:
                train, val, test = grouped_split(pool["all"], (self.val_fraction, self.test_fraction), self.split_seed)
                pool = {"train": train, "val": val, "test": test}
            if "val" not in pool:
                if self.val_fraction > 0 and pool.get("train"):
                    pool["train"], pool["val"] = grouped_split(pool["train"], (self.val_fraction,), self.split_seed)
                else:
                    pool["val"] = pool.get("test", [])
            pool.setdefault("test", pool["val"])
            self._splits = {split: pool.get(split, []) for split in SPLITS}
        return self._splits

    def empty_split_hint(self, split: str) -> str:
        """Why a split can be empty for this dataset (overridden to name its list file)."""
        return f"no samples found under {self.root}"

    def build_dataset(self, split: str) -> Dataset:
        records = self.splits()[split]
        if not records:
            raise DepthlabError(f"the {split} split of data={self.name} is empty: {self.empty_split_hint(split)}")
        return RecordDataset(records, self.load, self.name, split, self.relative)

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        """(depth in metres or relative units, valid) of one record."""
        raise NotImplementedError

    def camera(self, record: Record, shape: tuple[int, ...]) -> np.ndarray | None:
        """3x3 K: the split file's focal (principal point from config or the image centre), else the config's."""
        if record.focal is not None:
            cx, cy = self.intrinsics[2:] if self.intrinsics else (shape[1] / 2, shape[0] / 2)
            return np.array([[record.focal, 0, cx], [0, record.focal, cy], [0, 0, 1]], np.float32)
        if self.intrinsics is None:
            return None
        fx, fy, cx, cy = self.intrinsics
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)

    def load(self, record: Record) -> Sample:
        """RGB + decoded depth + valid (+ intrinsics), sizes checked pair by pair."""
        image = read_rgb(record.rgb)
        depth, valid = self.load_depth(record)
        check_same_size(image, depth, record.rgb, record.depth)
        sample: Sample = {"image": image, "depth": depth, "valid": valid}
        intrinsics = self.camera(record, image.shape)
        if intrinsics is not None:
            sample["intrinsics"] = intrinsics
        return sample
