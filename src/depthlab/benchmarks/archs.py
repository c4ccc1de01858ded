"""Parameters and forward+backward milliseconds per image of every model option on this CPU (README table)."""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR

# Hugging Face options at their published sizes (random weights, no download): `option:size` rows
HF_ROWS = ("depth_anything_v2:small", "dpt_hf:large", "dpt_hf:hybrid", "zoedepth:large")
GENERIC = ("smp", "hf")  # smp equals unet with smp's default decoder; hf needs a hub id or directory


def model_options() -> list[str]:
    """Every conf/model option (the HF ones as `option:size` rows) except the generic smp and hf."""
    hf = {row.split(":")[0] for row in HF_ROWS}
    names = (p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    return sorted(n for n in names if n not in GENERIC and n not in hf) + list(HF_ROWS)


def build(option: str, overrides: list[str]) -> torch.nn.Module:
    """The network of `model=<option>` (`option:size`: with model.size=size) exactly as train.py would build it."""
    name, _, size = option.partition(":")
    sized = [f"model.size={size}"] if size else []
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", *sized, *overrides])
    return instantiate(cfg.model)


def valid_size(net: torch.nn.Module, height: int, width: int) -> tuple[int, int]:
    """The nearest H x W the network takes (multiples of its output stride or patch, at least its minimum)."""
    stride = int(getattr(net, "output_stride", 32))
    low = int(getattr(net, "min_input_size", stride))
    return tuple(max(low, round(v / stride) * stride) for v in (height, width))


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
    """Print the README table: each option's parameters and fwd+bwd ms / image at (near) one input size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--hf-batch", type=int, default=2, help="batch cap of the (large) Hugging Face options")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=None, help="model options (default: all)")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides, e.g. task=depth_mask")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print(f"{args.height}x{args.width}, batch {args.batch}, {threads} threads, fp32, median of {args.steps} steps")
    print("(Hugging Face options: the nearest patch-grid size, batch <= --hf-batch, random weights)")
    print("| model | encoder | input | batch | parameters (M) | fwd+bwd ms / image |")
    print("|---|---|---|---|---|---|")
    results = {}
    for option in args.models or model_options():
        net = build(option, args.override)
        params = sum(p.numel() for p in net.parameters())
        height, width = valid_size(net, args.height, args.width)
        batch = min(args.batch, args.hf_batch) if hasattr(net, "patch_size") else args.batch
        ms = ms_per_image(net, batch, height, width, args.steps)
        encoder = getattr(net, "encoder_name", getattr(net, "name", "(own)"))
        print(f"| {option} | {encoder} | {height}x{width} | {batch} | {params / 1e6:.2f} | {ms:.0f} |", flush=True)
        results[option] = (params, ms)
        del net
    return results


if __name__ == "__main__":
    main()
