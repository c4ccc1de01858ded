"""The built-in synthetic RGB-D dataset: procedurally rendered rooms, so a first run needs no download."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from depthlab.data.base import DepthDataModule, Sample
from depthlab.data.render import SceneRanges, render_scene
from depthlab.utils.errors import DepthlabError

# Seeds of the three splits live in disjoint ranges, so no scene is in two splits.
SPLIT_OFFSETS = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000}


class SyntheticDepthDataset(Dataset):
    """Render scene `index` of a split on demand; deterministic per (seed, split, index)."""

    def __init__(
        self,
        split: str,
        count: int,
        height: int,
        width: int,
        seed: int = 0,
        min_objects: int = 1,
        max_objects: int = 8,
        cache: bool = False,
        ranges: SceneRanges | None = None,
    ) -> None:
        self.split, self.count, self.height, self.width = split, count, height, width
        self.seed, self.min_objects, self.max_objects = seed, min_objects, max_objects
        self.ranges = ranges or SceneRanges()
        self.cache: dict[int, Sample] | None = {} if cache else None

    def __len__(self) -> int:
        return self.count

    def scene_seed(self, index: int) -> int:
        """The renderer seed of one sample: split range + dataset seed stride + index."""
        return SPLIT_OFFSETS[self.split] + self.seed * 10_000_000 + index

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if self.cache is not None and index in self.cache:
            return dict(self.cache[index])
        scene = render_scene(
            self.scene_seed(index), self.height, self.width, self.min_objects, self.max_objects, self.ranges
        )
        sample = {
            "image": scene.image,
            "depth": scene.depth,
            "mask": scene.fg_mask.astype(np.float32),
            "background": scene.background,
            "intrinsics": scene.intrinsics,
            "meta": {
                "dataset": "synthetic",
                "split": self.split,
                "index": index,
                "path": "",
                "relative": False,
            },
        }
        if self.cache is not None:
            self.cache[index] = sample
        return dict(sample)


class SyntheticDataModule(DepthDataModule):
    """Rooms with 1-8 objects through a random pinhole camera: RGB, metric depth, fg mask, background, K."""

    name = "synthetic"

    def __init__(
        self,
        num_train: int = 2000,
        num_val: int = 200,
        num_test: int = 200,
        height: int = 96,
        width: int = 128,
        seed: int = 0,
        min_objects: int = 1,
        max_objects: int = 8,
        cache: bool = False,
        scene: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if height < 8 or width < 8:
            raise DepthlabError(f"data.height={height} / data.width={width}: the synthetic renderer needs >= 8 px")
        if not 0 <= min_objects <= max_objects:
            raise DepthlabError(
                f"data.min_objects={min_objects} / data.max_objects={max_objects}: need 0 <= min <= max"
            )
        self.counts = {"train": num_train, "val": num_val, "test": num_test}
        self.height, self.width, self.seed = height, width, seed
        self.min_objects, self.max_objects, self.cache = min_objects, max_objects, cache
        try:
            self.ranges = SceneRanges.from_mapping(scene)
        except (TypeError, ValueError) as err:
            raise DepthlabError(str(err)) from None

    def build_dataset(self, split: str) -> Dataset:
        return SyntheticDepthDataset(
            split,
            self.counts[split],
            self.height,
            self.width,
            self.seed,
            self.min_objects,
            self.max_objects,
            self.cache,
            self.ranges,
        )
