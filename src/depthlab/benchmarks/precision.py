"""Seconds per training step in fp32 and under bf16 autocast on this CPU, to choose trainer.precision."""

from __future__ import annotations

import argparse
import time

import torch

from depthlab.models.nets import SmpDepthNet
from depthlab.utils.precision import cpu_has_bf16, cpu_precision


def step_seconds(net: torch.nn.Module, batch: torch.Tensor, bf16: bool, steps: int) -> float:
    """Median wall time of forward + L1 + backward + AdamW step (after one warm-up step)."""
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3)
    target = torch.rand(batch.shape[0], 1, *batch.shape[-2:]) * 10
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = net(batch)["depth"]
        loss = (pred.float() - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    net = SmpDepthNet("Unet", args.encoder)
    batch = torch.randn(args.batch, 3, args.height, args.width)
    fp32 = step_seconds(net, batch, bf16=False, steps=args.steps)
    bf16 = step_seconds(net, batch, bf16=True, steps=args.steps)
    print(f"Unet-{args.encoder} {args.height}x{args.width} batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"fp32 {fp32:.3f} s/step | bf16-mixed {bf16:.3f} s/step | bf16/fp32 = {bf16 / fp32:.2f}")
    print(f"native bf16 on this CPU: {cpu_has_bf16()} -> trainer=cpu uses precision={cpu_precision()}")
    return {"fp32": fp32, "bf16": bf16}


if __name__ == "__main__":
    main()
