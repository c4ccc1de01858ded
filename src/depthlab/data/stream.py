"""`data=stream data.uri=<dir | s3://bucket/prefix>`: train from shards written by depthlab.data.shard.

Each split is a `litdata.StreamingDataset` (train shuffled with the run's seed, every split divided across DDP ranks
and nodes by LitData, remote chunks cached under `cache_dir`) decoded back into raw samples; the source config in
the manifest gives input size, depth range and normalisation, the training config's augment preset runs on train.
A resumed fit continues mid-epoch from the datamodule's saved position (data/order.py), replayed into LitData's
own loader state, so the rest of the interrupted epoch is exactly the samples not yet trained on.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from litdata import StreamingDataLoader, StreamingDataset
from torch.utils.data import DataLoader

from depthlab.data.base import SPLITS, DepthDataModule, Sample, Transform
from depthlab.data.shards import RefusePickle, check_uri, read_manifest, split_uri
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

FROM_SOURCE = ("min_depth", "max_depth", "mean", "std", "camera", "relative", "eval_crop")


def decode(item: dict[str, Any]) -> Sample:
    """A stored item back to a raw sample: uint8 images to [0, 1] float32, meta from JSON, arrays as stored."""
    sample: Sample = dict(item)
    for key in ("image", "background"):
        if key in sample and sample[key].dtype == np.uint8:
            sample[key] = sample[key].astype(np.float32) / np.float32(255)
    sample["meta"] = json.loads(item["meta"])
    return sample


class Prepare:
    """LitData's per-item transform: decode, the split's joint transform, then the sample contract."""

    def __init__(self, transform: Transform | None, finalize: Transform) -> None:
        self.transform, self.finalize = transform, finalize

    def __call__(self, item: dict[str, Any]) -> Sample:
        sample = decode(item)
        if self.transform is not None:
            sample = self.transform(sample)
        return self.finalize(sample)


class StreamLoader(StreamingDataLoader):
    """Lightning's own checkpointing of loader state is left out: the datamodule restores the position itself."""

    def __init__(self, dataset: StreamingDataset, drop_last: bool = False, **kwargs: Any) -> None:
        super().__init__(dataset, drop_last=drop_last, **kwargs)
        # LitData's drop_last only evens out ranks; torch's drops each worker's last partial batch too (a batch of
        # one would fail BatchNorm in training). DataLoader refuses setting it after __init__, hence object's setattr
        object.__setattr__(self, "drop_last", drop_last)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        if obj:
            super().load_state_dict(obj)


def restore_position(loader: StreamingDataLoader, state: dict[str, int], batch_size: int) -> None:
    """Start a loader at (epoch, batches trained on): LitData replays its per-worker order from that sample count."""
    epoch, batches = int(state.get("epoch", 0)), int(state.get("batches", 0))
    loader.current_epoch = epoch  # LitData counts epochs from 1 and adds one when iteration starts
    if batches <= 0:
        return
    dataset, workers = loader.dataset, loader.num_workers
    dataset.current_epoch = epoch + 1
    yielded = batches * batch_size
    StreamingDataLoader.load_state_dict(
        loader,
        {
            "dataset": dataset.state_dict(yielded, workers, batch_size),
            "current_epoch": epoch + 1,
            "num_samples_yielded": yielded,
            "latest_worker_idx": (batches - 1) % max(1, workers),
        },
    )


class StreamDataModule(DepthDataModule):
    """Splits streamed from LitData shards; settings the source config fixed default to its manifest."""

    name = "stream"

    def __init__(
        self,
        uri: str | None = None,
        cache_dir: str | None = None,
        height: int | None = None,
        width: int | None = None,
        seed: int | None = None,
        max_cache_size: str = "25GB",
        **kwargs: Any,
    ) -> None:
        self.uri = check_uri(uri, "data.uri")
        self.manifest = read_manifest(self.uri)
        source = self.manifest["data"]
        for key in FROM_SOURCE:
            if kwargs.get(key) is None and source.get(key) is not None:
                kwargs[key] = tuple(source[key]) if key in ("mean", "std") else source[key]
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        super().__init__(**kwargs)
        height = source.get("height") if height is None and width is None else height
        width = source.get("width") if width is None else width
        if (height is None) != (width is None):
            raise DepthlabError(f"data.height={height} / data.width={width}: give both or null both")
        self.size = None if height is None else (int(height), int(width))
        self.source_name = source.get("_target_", "?").rsplit(".", 1)[-1]
        self.cache_dir, self.max_cache_size = cache_dir, max_cache_size
        self.seed = seed

    def input_size(self) -> tuple[int, int] | None:
        return self.size

    def build_dataset(self, split: str) -> StreamingDataset:
        """LitData's dataset of `<uri>/<split>`, yielding contract samples; pickled leaves are refused."""
        check_choice("split", split, SPLITS)
        if split not in self.manifest.get("splits", {}):
            raise DepthlabError(
                f"data.uri={self.uri} has no {split} split (it has {sorted(self.manifest.get('splits', {}))}); "
                f"write it with python -m depthlab.data.shard splits=[{split}]"
            )
        train = split == "train"
        # PL_GLOBAL_SEED is what seed_everything(cfg.seed) sets, as for the file datasets' order (data/order.py)
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        return StreamingDataset(
            input_dir=split_uri(self.uri, split),
            cache_dir=self.cache_dir,
            shuffle=train,
            drop_last=True if train else False,
            seed=seed,
            serializers={"pickle": RefusePickle()},
            max_cache_size=self.max_cache_size,
            transform=Prepare(self.transform(split), self.finalize),
        )

    def dataset(self, split: str) -> StreamingDataset:
        """Built once per split and per world size (LitData reads the rank layout when the dataset is made)."""
        from litdata.utilities.env import _DistributedEnv

        dataset = self.datasets.get(split)
        if dataset is None or dataset.distributed_env != _DistributedEnv.detect():
            dataset = self.datasets[split] = self.build_dataset(split)
        return dataset

    def loader(self, split: str, shuffle: bool | None = None) -> DataLoader:
        """LitData's loader (it splits by rank and worker itself); train resumes at the saved position."""
        train = split == "train"
        dataset = self.dataset(split)
        if shuffle is not None:
            dataset.set_shuffle(bool(shuffle))
        loader = StreamLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            drop_last=train,
        )
        if train:
            if len(loader) < 1:
                raise DepthlabError(
                    f"the train shards of data.uri={self.uri} give no full batch of data.batch_size={self.batch_size} "
                    "per process; lower data.batch_size or add data"
                )
            if self._resume_order:
                restore_position(loader, self._resume_order, self.batch_size)
                self._resume_order = {}
        return loader
