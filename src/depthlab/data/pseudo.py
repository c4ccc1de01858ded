"""A student's data: a teacher's pseudo-labels (a distill.py cache) for train, a labelled dataset for val / test.

The cache's manifest says what the labels are (the teacher's output_kind): metric labels are metres and keep the
metric depth range; relative_disparity labels (larger = nearer) become the contract's relative depth 1 / d (as the
relative datasets store it, data/relative.py) over their whole positive range, which the scale-and-shift-invariant
losses invert back to disparity. `labelled_fraction` adds part of the labelled train split (metric labels only).
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from depthlab.data.base import SPLITS, DepthDataModule, Sample, finalize_sample
from depthlab.data.io import check_same_size
from depthlab.data.pixels import read_rgb
from depthlab.distill.cache import MANIFEST, read_manifest
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

PSEUDO_KEYS = ("image", "depth", "valid", "meta")


def label_to_depth(label: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(contract depth, valid) of one cached label: metres as stored, disparity d > 0 as 1 / d."""
    label = np.asarray(label, dtype=np.float32)
    if kind != "relative_disparity":
        return label, np.isfinite(label) & (label > 0)
    valid = np.isfinite(label) & (label > 0)
    return np.divide(np.float32(1.0), label, out=np.zeros_like(label), where=valid), valid


def inside(base: Path, relative: str, what: str) -> Path:
    """base / relative, refused when a manifest entry leaves its directory (manifests are data from strangers)."""
    path = base / relative
    if not path.resolve().is_relative_to(base.resolve()):
        raise DepthlabError(f"the label manifest's {what} path {relative!r} leaves {base}; refused (re-run distill.py)")
    return path


class PseudoLabelDataset(Dataset):
    """The images of a label cache with their teacher labels, as raw samples (RGB in [0, 1], depth, valid)."""

    def __init__(self, images: list[Path], labels: list[Path], kind: str) -> None:
        self.images, self.labels, self.kind = images, labels, kind

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        image = read_rgb(self.images[index])
        depth, valid = label_to_depth(np.load(self.labels[index]), self.kind)
        check_same_size(image, depth, self.images[index], self.labels[index])
        meta = {"dataset": "pseudo", "split": "train", "index": index, "path": str(self.images[index])}
        return {"image": image, "depth": depth, "valid": valid, "meta": meta | {"relative": self.kind != "metric"}}


class KeysOf(Dataset):
    """A labelled dataset reduced to the keys pseudo-labelled samples have, so the two concatenate and collate."""

    def __init__(self, dataset: Dataset, keys: tuple[str, ...] = PSEUDO_KEYS) -> None:
        self.dataset, self.keys = dataset, keys

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        sample = self.dataset[index]
        return {key: sample[key] for key in self.keys}


class PseudoDataModule(DepthDataModule):
    """Train on a distill.py label cache; val / test (and an optional labelled share of train) from eval_data."""

    name = "pseudo"

    def __init__(
        self,
        labels: str,
        eval_data: DepthDataModule,
        labelled_fraction: float = 0.0,
        height: int | None = None,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(eval_data, DepthDataModule):
            raise DepthlabError("data.eval_data must be a depthlab dataset config (e.g. data@data.eval_data=synthetic)")
        if not 0.0 <= labelled_fraction <= 1.0:
            raise DepthlabError(f"data.labelled_fraction={labelled_fraction} must be in [0, 1]")
        self.labels, self.eval_data = Path(labels), eval_data
        self.labelled_fraction, self.height, self.width = float(labelled_fraction), height, width

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The label cache's manifest; one line naming how to make one when the directory holds none."""
        manifest = read_manifest(self.labels, key="data.labels")
        if manifest is None:
            raise DepthlabError(
                f"data.labels={self.labels} holds no {MANIFEST}; label images first: python distill.py "
                f"teacher=<.ckpt> images=<folder or synthetic:N> output={self.labels}"
            )
        return manifest

    @property
    def label_kind(self) -> str:
        """What the labels hold: the teacher's output_kind (metric, relative_depth, relative_disparity)."""
        return str(self.manifest["teacher"].get("output_kind", "metric"))

    def input_size(self) -> tuple[int, int] | None:
        return (int(self.height), int(self.width)) if self.height and self.width else None

    def finalize(self, raw: Sample) -> Sample:
        """Metric labels keep the metric depth range; relative labels their whole positive range."""
        if self.label_kind == "metric":
            return super().finalize(raw)
        return finalize_sample(raw, 0.0, math.inf, self.mean, self.std)

    def build_dataset(self, split: str) -> Dataset:
        """The cache's images and labels (train only: val / test come from eval_data)."""
        root = Path(self.manifest["images"]["root"])
        root = root if root.is_absolute() else self.labels / root
        files = self.manifest["labels"].get("files") or []
        images = [inside(root, f["image"], "image") for f in files]
        labels = [inside(self.labels, f["label"], "label") for f in files]
        missing = [p for p in (*images, *labels) if not p.is_file()]
        if missing:
            raise DepthlabError(
                f"data.labels={self.labels}: {len(missing)} listed files are missing (e.g. {missing[0]}); re-run "
                "distill.py with the same teacher and images to label them"
            )
        return PseudoLabelDataset(images, labels, self.label_kind)

    def dataset(self, split: str) -> Dataset:
        """train: the pseudo-labelled set (plus the labelled share); val / test: eval_data's splits."""
        check_choice("split", split, SPLITS)
        if split != "train":
            return self.eval_data.dataset(split)
        if "train" not in self.datasets:
            pseudo = super().dataset("train")
            if self.labelled_fraction > 0:
                self.datasets["train"] = ConcatDataset([pseudo, self._labelled_share(pseudo)])
        return self.datasets["train"]

    def _labelled_share(self, pseudo: Dataset) -> Dataset:
        """A seeded random labelled_fraction of eval_data's train split, reduced to the pseudo samples' keys."""
        if self.label_kind != "metric":
            raise DepthlabError(
                f"data.labelled_fraction={self.labelled_fraction} mixes metric ground truth into {self.label_kind} "
                "pseudo-labels; it needs a metric teacher (or set data.labelled_fraction=0)"
            )
        labelled = self.eval_data.dataset("train")
        count = round(self.labelled_fraction * len(labelled))
        order = torch.randperm(len(labelled), generator=torch.Generator().manual_seed(0))[:count].tolist()
        share = KeysOf(Subset(labelled, order))
        a, b = tuple(pseudo[0]["image"].shape), tuple(share[0]["image"].shape) if count else None
        if count and a != b:
            raise DepthlabError(
                f"pseudo-labelled images are {a} but data.eval_data's train images are {b}; set data.height / "
                "data.width to eval_data's size"
            )
        return share
