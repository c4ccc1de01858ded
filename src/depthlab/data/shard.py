"""`python -m depthlab.data.shard data=<name> data.root=<dir> out=<dir | s3://bucket/prefix>`: LitData shards.

Each split's raw samples (decoded, before any resize, augmentation or normalisation) go to `<out>/<split>/` through
`litdata.optimize`, every leaf in a typed serializer (numpy arrays, a JSON string for meta; never pickle): image as
uint8 RGB when that is exact (else float32), depth float32 as decoded (lossless), valid bool, mask / background /
intrinsics when the dataset has them. `<out>/depthlab.json` records the source data config, so `data=stream`
resizes, crops and normalises the samples as the source config would have. A mixture (`data=mix`) writes one such
set per source to `<out>/<source>/` (each readable with `data=stream`; streamed sources cannot be mixed yet).
"""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from depthlab.data.base import SPLITS, DepthDataModule, Sample
from depthlab.data.shards import MANIFEST, check_uri, split_uri, write_text
from depthlab.utils.errors import DepthlabError

QUIET = ("hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout")  # writes shards, not a run dir
ARRAYS = ("depth", "valid", "mask", "background", "intrinsics")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB as uint8 when k / 255 reproduces it bit for bit (8-bit sources), else float32 as is."""
    image = np.asarray(image, dtype=np.float32)
    codes = np.rint(image * 255).clip(0, 255).astype(np.uint8)
    return codes if np.array_equal(codes.astype(np.float32) / np.float32(255), image) else image


def encode(raw: Sample) -> dict[str, Any]:
    """One raw sample as typed leaves: images uint8 (exact) or float32, arrays as they are, meta as JSON."""
    item: dict[str, Any] = {"image": to_uint8(raw["image"])}
    for key in ARRAYS:
        if key in raw and raw[key] is not None:
            item[key] = np.ascontiguousarray(raw[key])
    if "background" in item:
        item["background"] = to_uint8(item["background"])
    item["meta"] = json.dumps(raw.get("meta") or {}, sort_keys=True, default=str)
    return item


def encoded_sample(index: int, dataset: Dataset) -> dict[str, Any]:
    """optimize()'s per-input function: the raw sample at `index`, encoded (module level so workers can pickle it)."""
    return encode(dataset[index])


def manifest(data_cfg: DictConfig, counts: dict[str, int]) -> dict[str, Any]:
    """What a reader needs beyond the shards: the source data config (root dropped) and the sample counts."""
    data = OmegaConf.to_container(data_cfg, resolve=True)
    data.pop("root", None)
    data.pop("augment", None)  # augmentation belongs to the training run that reads the shards
    return {"format": "depthlab-shards/1", "data": data, "splits": counts}


def write_split(datamodule: DepthDataModule, split: str, out: str, num_workers: int, chunk_bytes: str) -> int:
    """Write one split with litdata.optimize; returns its number of samples."""
    from litdata import optimize

    raw = datamodule.build_dataset(split)
    if len(raw) == 0:
        raise DepthlabError(f"the {split} split of data={datamodule.name} is empty; check data.root")
    optimize(
        fn=partial(encoded_sample, dataset=raw),
        inputs=list(range(len(raw))),
        output_dir=f"{out}/{split}",
        chunk_bytes=chunk_bytes,
        num_workers=max(1, num_workers),
        mode="overwrite",
        reorder_files=False,
        verbose=False,
        start_method="fork",
    )
    return len(raw)


def write_source(data_cfg: DictConfig, datamodule: DepthDataModule, out: str, cfg: DictConfig) -> dict[str, int]:
    """Every split of one datamodule into `out`, then its manifest; returns the sample count per split."""
    splits = list(cfg.get("splits") or SPLITS)
    for split in splits:
        if split not in SPLITS:
            raise DepthlabError(f"splits={splits} names '{split}'; use a subset of {list(SPLITS)}")
    counts = {
        split: write_split(datamodule, split, out, int(cfg.num_workers), str(cfg.chunk_bytes)) for split in splits
    }
    write_text(split_uri(out, MANIFEST), json.dumps(manifest(data_cfg, counts), indent=2, sort_keys=True) + "\n")
    print(f"wrote {counts} samples of data={datamodule.name} to {out}")
    return counts


def write_shards(cfg: DictConfig) -> dict[str, Any]:
    """cfg.data into cfg.out; a mixture (data=mix) writes one shard set per source under `<out>/<source>`."""
    from hydra.utils import instantiate

    out = check_uri(cfg.get("out"), "out")
    datamodule = instantiate(cfg.data)
    sources = getattr(datamodule, "source_configs", None)
    if not sources:
        return write_source(cfg.data, datamodule, out, cfg)
    counts = {
        name: write_source(source, datamodule.sources[name], split_uri(out, name), cfg)
        for name, source in sources.items()
    }
    print(f"wrote one shard set per source under {out}; stream one: data=stream data.uri={split_uri(out, '<source>')}")
    return counts


def main() -> None:
    """The train config's data group under Hydra, without a run directory or log file."""
    from depthlab.cli.app import run

    given = {arg.split("=", 1)[0] for arg in sys.argv[1:]}
    sys.argv += [override for override in QUIET if override.split("=", 1)[0] not in given]
    run("shard", write_shards, lock=False)


if __name__ == "__main__":
    main()
