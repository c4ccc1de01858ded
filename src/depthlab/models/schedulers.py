"""Learning-rate schedules that need the run's total step count, which only the Trainer knows.

Each scales every param group by its own base lr, so the encoder group keeps its lr multiplier throughout.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, PolynomialLR


def cosine_with_warmup(
    optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.05, min_lr_ratio: float = 0.01
) -> LRScheduler:
    """Linear warm-up from 1% of lr, then cosine decay to min_lr_ratio x lr, stepped every optimizer step."""
    total_steps = max(int(total_steps), 2)
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.01 + 0.99 * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def one_cycle(
    optimizer: Optimizer,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> LRScheduler:
    """torch OneCycleLR peaking at each group's configured lr (so the encoder multiplier carries over)."""
    peaks = [group["lr"] for group in optimizer.param_groups]
    momentum = any(group.get("momentum", 0) or "betas" in group for group in optimizer.param_groups)
    return OneCycleLR(
        optimizer,
        max_lr=peaks,
        total_steps=max(int(total_steps), 2),
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        cycle_momentum=momentum,  # plain SGD without momentum has nothing to cycle
    )


def poly(optimizer: Optimizer, total_steps: int, power: float = 0.9) -> LRScheduler:
    """torch PolynomialLR over the whole run: lr x (1 - step / total_steps) ^ power."""
    return PolynomialLR(optimizer, total_iters=max(int(total_steps), 1), power=power)
