"""The built-in synthetic RGB-D dataset: procedurally rendered rooms, so a first run needs no download."""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from depthlab.data.base import DepthDataModule, Sample
from depthlab.data.photos import photo_textures
from depthlab.data.render import SceneRanges, render_scene
from depthlab.ops.camera import check_aspect
from depthlab.utils.errors import DepthlabError


def _default_sigterm() -> None:
    """Pool workers must die on SIGTERM even under launchers (submitit) that make their parent ignore it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# Seeds of the three splits live in disjoint ranges, so no scene is in two splits; "unlabelled" is a fourth range
# (distill.py's `images=synthetic:N`): train-distribution scenes that are in no split, rendered as RGB only.
SPLIT_OFFSETS = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000, "unlabelled": 3_000_000_000}


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
        camera: str = "pinhole",
    ) -> None:
        self.split, self.count, self.height, self.width, self.camera = split, count, height, width, camera
        self.seed, self.min_objects, self.max_objects = seed, min_objects, max_objects
        self.ranges = ranges or SceneRanges()
        self.cache: dict[int, Sample] | None = {} if cache else None

    def __len__(self) -> int:
        return self.count

    def scene_seed(self, index: int) -> int:
        """The renderer seed of one sample: split range + dataset seed stride + index."""
        return SPLIT_OFFSETS[self.split] + self.seed * 10_000_000 + index

    def render(self, index: int) -> Sample:
        """Render one sample, bypassing the cache."""
        scene = render_scene(
            self.scene_seed(index),
            self.height,
            self.width,
            self.min_objects,
            self.max_objects,
            self.ranges,
            self.camera,
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
                "camera": self.camera,
            },
        }
        if scene.intrinsics is None:  # a panorama has no pinhole K
            del sample["intrinsics"]
        return sample

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if self.cache is not None and index in self.cache:
            return dict(self.cache[index])
        sample = self.render(index)
        if self.cache is not None:
            self.cache[index] = sample
        return dict(sample)

    def prerender(self, processes: int) -> None:
        """Fill the cache up front on forked CPUs, so training never waits for (or competes with) rendering."""
        if self.cache is None:
            raise DepthlabError("data.prerender needs data.cache=true (the rendered samples are kept in the cache)")
        todo = [i for i in range(self.count) if i not in self.cache]
        if processes <= 1 or len(todo) < 2 * processes:
            self.cache.update((i, self.render(i)) for i in todo)
            return
        if self.ranges.photo_textures > 0:
            photo_textures()  # loaded once here, inherited by the forked workers
        cache, self.cache = self.cache, None  # the workers get `self` pickled: without its cache it is tiny
        try:
            with multiprocessing.get_context("fork").Pool(processes, initializer=_default_sigterm) as pool:
                chunk = max(1, len(todo) // (8 * processes))
                cache.update(zip(todo, pool.map(self.render, todo, chunksize=chunk), strict=True))
                pool.close()
                pool.join()
        finally:
            self.cache = cache


class SyntheticDataModule(DepthDataModule):
    """Rooms with 1-8 objects through a random pinhole camera (RGB, z-depth, fg mask, background, K), or with
    data.camera=equirect a level 2:1 panorama of the same rooms (depth = range along the ray, no K)."""

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
        prerender: int = 0,
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
        if self.camera_model == "equirect":
            check_aspect(height, width)
        self.counts = {"train": num_train, "val": num_val, "test": num_test}
        self.height, self.width, self.seed = height, width, seed
        self.min_objects, self.max_objects, self.cache = min_objects, max_objects, cache
        if prerender < 0:
            raise DepthlabError(f"data.prerender={prerender} is negative; use 0 (render lazily) or a process count")
        if prerender and not cache:
            raise DepthlabError("data.prerender needs data.cache=true (the rendered samples are kept in the cache)")
        self.prerender = prerender
        try:
            self.ranges = SceneRanges.from_mapping(scene)
        except (TypeError, ValueError) as err:
            raise DepthlabError(str(err)) from None

    def build_dataset(self, split: str) -> Dataset:
        dataset = self._raw_dataset(split)
        # a fast dev run reads one batch per split: rendering every scene up front would dominate it
        if self.prerender and not getattr(self.trainer, "fast_dev_run", False):
            dataset.prerender(self.prerender)
        return dataset

    def _raw_dataset(self, split: str) -> SyntheticDepthDataset:
        """The split's renderer with this module's settings."""
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
            self.camera_model,
        )
