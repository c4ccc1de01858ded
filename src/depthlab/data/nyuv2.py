"""NYU Depth v2 in its three common on-disk forms: the labeled .mat, the BTS "sync" layout, the DenseDepth CSVs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from depthlab.data.base import Sample
from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import decode_depth, read_gray, read_lines
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

FORMATS = ("mat", "sync", "csv")
LAYOUTS = {
    "mat": "nyu_depth_v2_labeled.mat (MATLAB v7.3 / HDF5) and splits.mat (trainNdxs, testNdxs) in the root",
    "sync": "<scene>/rgb_NNNNN.jpg + <scene>/sync_depth_NNNNN.png (uint16 mm) with split files '<rgb> <depth> <focal>'",
    "csv": "data/nyu2_train.csv and data/nyu2_test.csv (lines rgb_path,depth_path) with the PNGs they list",
}


class MatFile:
    """Lazy per-process h5py handle: HDF5 handles must not cross a fork into loader workers."""

    def __init__(self, path: Path) -> None:
        self.path, self._file, self._pid = path, None, -1

    def __getitem__(self, key: str) -> Any:
        if self._file is None or self._pid != os.getpid():
            import h5py

            try:
                self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            except OSError as err:
                raise DepthlabError(f"{self.path} is not a readable MATLAB v7.3 (HDF5) file: {err}") from None
        try:
            return self._file[key]
        except KeyError:
            raise DepthlabError(f"{self.path} has no '{key}' array; is it nyu_depth_v2_labeled.mat?") from None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_file": None, "_pid": -1}


class NYUv2DataModule(FileDataModule):
    """NYU Depth v2 (indoor Kinect, 480x640, 0-10 m): data.format = mat | sync | csv."""

    name = "nyuv2"
    url = "https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html (sync: BTS; csv: DenseDepth / Kaggle nyu-depth-v2)"
    default_intrinsics = (518.8579, 519.46961, 325.58245, 253.73617)

    def __init__(
        self,
        format: str = "sync",  # noqa: A002 - the config key researchers know
        depth_type: str = "filled",
        mat_file: str = "nyu_depth_v2_labeled.mat",
        splits_file: str = "splits.mat",
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        train_csv: str = "data/nyu2_train.csv",
        test_csv: str = "data/nyu2_test.csv",
        **kwargs: Any,
    ) -> None:
        check_choice("data.format", format, FORMATS)
        check_choice("data.depth_type", depth_type, ("filled", "raw"))  # in-painted, or raw with holes = 0
        self.format, self.depth_type = format, depth_type  # before the root: the fixture layout follows the format
        super().__init__(**kwargs)
        self.layout = LAYOUTS[format]
        self.mat = MatFile(self.root / mat_file)
        self.splits_file = self.root / splits_file
        self.lists = {"train": train_list, "val": val_list, "test": test_list}
        self.csvs = {"train": train_csv, "test": test_csv}

    def fixture_layout(self) -> str:
        return {"sync": "nyuv2", "mat": "nyuv2_mat", "csv": "nyuv2_csv"}[self.format]

    def split_pool(self) -> dict[str, list[Record]]:
        return {"mat": self._mat_pool, "sync": self._sync_pool, "csv": self._csv_pool}[self.format]()

    def _mat_pool(self) -> dict[str, list[Record]]:
        """The official 795 / 654 split of splits.mat (1-based indices into the .mat arrays)."""
        from scipy.io import loadmat

        if not self.splits_file.is_file():
            raise DepthlabError(f"{self.splits_file} is missing; nyuv2 format=mat needs the official splits.mat")
        try:
            split = loadmat(self.splits_file)
            indices = {"train": split["trainNdxs"], "test": split["testNdxs"]}
        except Exception as err:
            raise DepthlabError(f"{self.splits_file} is not the NYU splits.mat ({type(err).__name__}: {err})") from None
        path = self.mat.path
        return {k: [Record(path, index=int(i) - 1) for i in np.ravel(v)] for k, v in indices.items()}

    def _sync_pool(self) -> dict[str, list[Record]]:
        """Split files when given, else every rgb_N.jpg with a sync_depth_N.png beside it, split at random."""
        pool = {split: self._list_records(name) for split, name in self.lists.items() if name}
        if pool:
            return pool
        records = []
        for rgb in sorted(self.root.rglob("rgb_*.jpg")):
            depth = rgb.with_name(rgb.name.replace("rgb_", "sync_depth_", 1)).with_suffix(".png")
            if depth.is_file():
                scene = rgb.parent.relative_to(self.root)
                records.append(Record(rgb, depth, group="" if scene == Path(".") else str(scene)))
        return {"all": records}

    def _list_records(self, name: str) -> list[Record]:
        """Lines '<rgb> <depth> <focal>' (paths relative to the root); 'None' depth lines are skipped."""
        records, path = [], self.list_file(name)
        for fields in read_lines(path):
            if len(fields) < 2 or fields[1] == "None":
                continue
            rgb = self.resolve(fields[0], path)
            focal = float(fields[2]) if len(fields) > 2 else None
            records.append(Record(rgb, self.resolve(fields[1], path), focal=focal, group=rgb.parent.name))
        return records

    def _csv_pool(self) -> dict[str, list[Record]]:
        """DenseDepth's nyu2_{train,test}.csv: 'rgb,depth' per line, paths relative to the root."""
        pool = {}
        for split, name in self.csvs.items():
            records, path = [], self.list_file(name)
            for fields in read_lines(path):
                rgb = self.resolve(fields[0], path)
                records.append(Record(rgb, self.resolve(fields[1], path), group=rgb.parent.name))
            pool[split] = records
        return pool

    def empty_split_hint(self, split: str) -> str:
        if self.format == "sync" and any(self.lists.values()):
            return f"data.{split}_list={self.lists[split]} lists no pairs with ground truth"
        return f"no {LAYOUTS[self.format]} found under {self.root}"

    def load_depth(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        if self.format == "csv" and self.depth_scale is None:
            raw = read_gray(record.depth)
            if raw.dtype == np.uint8:  # DenseDepth train: 8-bit, 255 = 10 m
                depth = raw.astype(np.float32) / np.float32(255.0) * np.float32(10.0)
            else:  # DenseDepth test: 16-bit millimetres
                depth = raw.astype(np.float32) / np.float32(1000.0)
            return depth, raw > 0
        return decode_depth(record.depth, scale=self.depth_scale or 1000.0, invalid_value=0)

    def load(self, record: Record) -> Sample:
        if self.format != "mat":
            return super().load(record)
        image = self.mat["images"][record.index].transpose(2, 1, 0)  # (3, W, H) -> (H, W, 3)
        key = "depths" if self.depth_type == "filled" else "rawDepths"
        depth = np.asarray(self.mat[key][record.index], dtype=np.float32).T  # (W, H) -> (H, W)
        sample = {"image": image.astype(np.float32) / 255.0, "depth": depth, "valid": depth > 0}
        sample["intrinsics"] = self.camera(record, image.shape)
        return sample
