"""Latency and throughput of the default model (conf/model default) in PyTorch eager, TorchScript and onnxruntime."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from depthlab.config_dir import CONF_DIR
from depthlab.inference.exporters import export
from depthlab.inference.runners import OnnxRunner, TorchRunner, open_model
from depthlab.inference.wrapper import wrap


def default_runner(height: int, width: int) -> TorchRunner:
    """The training default's network (random weights: speed does not depend on them) behind the inference wrapper."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"data.height={height}", f"data.width={width}"])
    torch.manual_seed(0)
    net = instantiate(cfg.model)
    config = {"data": OmegaConf.to_container(cfg.data, resolve=True), "model": OmegaConf.to_container(cfg.model)}
    return TorchRunner(*wrap(net, config))


def seconds_per_call(runner: TorchRunner | OnnxRunner, batch: int, height: int, width: int, runs: int) -> float:
    """Median wall time of one forward pass on a batch (after warm-up passes: TorchScript optimises on the 2nd-3rd)."""
    images = {name: torch.rand(batch, 3, height, width) for name in runner.spec.inputs}
    for _ in range(3):
        runner(images)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(images)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8, help="batch size for the throughput column")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "legacy"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eager = default_runner(args.height, args.width)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runners = {"pytorch eager": eager}
        for fmt, name in (("torchscript", "model.pt"), ("onnx", "model.onnx")):
            diff = export(eager, fmt, Path(tmp) / name, exporter=args.exporter)
            runners["torchscript" if fmt == "torchscript" else "onnxruntime"] = open_model(Path(tmp) / name)
            print(f"{fmt}: max abs difference to eager {diff:.2e} m")
        for name, runner in runners.items():
            latency = seconds_per_call(runner, 1, args.height, args.width, args.runs)
            per_batch = seconds_per_call(runner, args.batch, args.height, args.width, max(3, args.runs // 3))
            results[name] = {"latency_ms": 1000 * latency, "images_per_s": args.batch / per_batch}
    spec = eager.spec
    model = spec.config["model"]
    print(
        f"{model.get('arch', '?')}-{model.get('encoder', '?')} at {args.height}x{args.width}, "
        f"{torch.get_num_threads()} threads, median of {args.runs} runs (batch 1) / batch {args.batch} (throughput)"
    )
    print(f"{'backend':<16}{'latency (ms/img)':>18}{'images/s':>12}")
    for name, row in results.items():
        print(f"{name:<16}{row['latency_ms']:>18.1f}{row['images_per_s']:>12.2f}")
    return results


if __name__ == "__main__":
    main()
