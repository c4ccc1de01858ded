"""Samples per second of every real-data loader (train split, default augmentation) with 0 and 2 workers.

Each dataset is written at its native resolution into a temporary directory (depthlab.data.fixtures), then its
`data=<name>` config is composed as a user would run it, so the numbers include decoding, the joint transform
to the config's input size and collation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures

# (config, fixture writer, writer kwargs at native size, extra overrides)
SETUPS = {
    "nyuv2 (sync)": ("nyuv2", "nyuv2", {"n": 24, "height": 480, "width": 640}, []),
    "nyuv2 (mat)": ("nyuv2", "nyuv2_mat", {"n": 24, "height": 480, "width": 640}, ["data.format=mat"]),
    "nyuv2 (csv)": ("nyuv2", "nyuv2_csv", {"n": 24, "height": 480, "width": 640}, ["data.format=csv"]),
    "diode": ("diode", "diode", {"n": 12, "height": 768, "width": 1024}, []),
    "kitti": ("kitti", "kitti", {"n": 24, "height": 375, "width": 1242}, []),
    "redweb": ("redweb", "redweb", {"n": 24, "height": 480, "width": 640}, []),
    "hrwsi": ("hrwsi", "hrwsi", {"n": 16, "height": 480, "width": 640}, []),
    "modest": ("modest", "modest", {"backgrounds": 12, "per_bg": 2, "size": 224}, []),
    "folder": ("folder", "folder", {"n": 24, "height": 480, "width": 640}, []),
}


def samples_per_second(datamodule, batches: int) -> float:
    """Iterate the train loader (after one warm-up batch that also starts the workers)."""
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        count += batch["image"].shape[0]
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, dict[int, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--only", nargs="*", default=list(SETUPS), help="dataset names from the list above")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        header = f"{'dataset':<14} {'input':>9} " + " ".join(f"{f'{w} workers':>11}" for w in args.workers)
        print(f"train split, default augmentation, batch 8, samples/s\n{header}")
        for label in args.only:
            config, writer, kwargs, extra = SETUPS[label]
            root = Path(tmp) / writer
            if not root.exists():
                fixtures.WRITERS[writer](root, **kwargs)
            results[label] = {}
            for workers in args.workers:
                overrides = [f"data={config}", f"data.root={root}", f"data.num_workers={workers}", "data.batch_size=8"]
                cfg = compose("train", overrides=[*overrides, *extra, "paths.root_dir=."])
                results[label][workers] = samples_per_second(instantiate(cfg.data), args.batches)
            size = f"{cfg.data.height}x{cfg.data.width}"
            print(f"{label:<14} {size:>9} " + " ".join(f"{results[label][w]:>11.1f}" for w in args.workers))
    return results


if __name__ == "__main__":
    main()
