"""`python benchmark.py stream`: train samples/s from NYU-layout files vs the same samples from LitData shards.

The nyuv2 sync fixture is written at 480x640 (JPEG + 16-bit PNG), then sharded with depthlab.data.shard; both loaders
run the same data=nyuv2 config (resize to 192x256, default augmentation, batch 8) with 0 and 2 workers, so the
difference is decoding files vs reading uint8 / float32 arrays from chunks.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.benchmarks.loaders import samples_per_second
from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.shard import write_shards


def main(argv: list[str] | None = None) -> dict[str, dict[int, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=48, help="NYU-layout pairs written at 480x640")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict[str, dict[int, float]] = {"files": {}, "shards": {}}
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        root, out = Path(tmp) / "nyu", Path(tmp) / "shards"
        fixtures.write_nyu_sync(root, n=args.samples, height=480, width=640, scenes=4)
        source = [f"data.root={root}"]  # a seeded split by scene: 2 of 4 scenes train
        write_shards(compose("shard", ["data=nyuv2", *source, f"out={out}", "num_workers=2"]))
        for workers in args.workers:
            common = [f"data.num_workers={workers}", "data.batch_size=8", "paths.root_dir=."]
            files = compose("train", ["data=nyuv2", *source, *common])
            shards = compose("train", ["data=stream", f"data.uri={out}", *common])
            results["files"][workers] = samples_per_second(instantiate(files.data), args.batches)
            results["shards"][workers] = samples_per_second(instantiate(shards.data), args.batches)
    print(f"nyuv2 train split, 480x640 -> 192x256, default augmentation, batch 8, samples/s ({args.samples} pairs)")
    print(f"{'workers':>8} {'files':>8} {'shards':>8} {'ratio':>7}")
    for workers in args.workers:
        files, shards = results["files"][workers], results["shards"][workers]
        print(f"{workers:>8} {files:>8.1f} {shards:>8.1f} {shards / files:>6.2f}x")
    return results


if __name__ == "__main__":
    main()
