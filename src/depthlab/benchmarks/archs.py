"""Parameters and forward+backward milliseconds per image of every model option on this CPU (README table)."""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR


def model_options() -> list[str]:
    """Every conf/model option except the generic `smp` (it equals unet with smp's default decoder)."""
    return sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml") if p.stem != "smp")


def build(option: str, overrides: list[str]) -> torch.nn.Module:
    """The network of `model=<option>` exactly as train.py would build it."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={option}", *overrides])
    return instantiate(cfg.model)


def ms_per_image(net: torch.nn.Module, batch: int, height: int, width: int, steps: int) -> float:
    """Median over `steps` (after one warm-up) of forward + mean-loss backward time, divided by the batch."""
    inputs = [torch.randn(batch, 3, height, width) for _ in getattr(net, "inputs", ("image",))]
    net.train()
    times = []
    for _ in range(steps + 1):
        net.zero_grad(set_to_none=True)
        start = time.perf_counter()
        outputs = net(*inputs)
        sum(v.float().mean() for v in outputs.values()).backward()
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times[1:])[len(times[1:]) // 2] / batch


def main(argv: list[str] | None = None) -> dict[str, tuple[int, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=None, help="model options (default: all)")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides, e.g. task=depth_mask")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print(f"{args.height}x{args.width}, batch {args.batch}, {threads} threads, fp32, median of {args.steps} steps")
    print("| model | encoder | parameters (M) | fwd+bwd ms / image |")
    print("|---|---|---|---|")
    results = {}
    for option in args.models or model_options():
        net = build(option, args.override)
        params = sum(p.numel() for p in net.parameters())
        ms = ms_per_image(net, args.batch, args.height, args.width, args.steps)
        encoder = getattr(net, "encoder_name", "(own)")
        print(f"| {option} | {encoder} | {params / 1e6:.2f} | {ms:.0f} |", flush=True)
        results[option] = (params, ms)
    return results


if __name__ == "__main__":
    main()
