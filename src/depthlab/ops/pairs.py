"""Point pairs of depth maps: sampling, gathering and ordinal labels, for ranking losses and WHDR."""

from __future__ import annotations

import torch
from torch import Tensor


def take(x: Tensor, index: Tensor) -> Tensor:
    """Values of [B, 1, H, W] x at flat pixel indices [B, N]."""
    return x.flatten(1).gather(1, index)


def ordinal_labels(d_i: Tensor, d_j: Tensor, sigma: float) -> Tensor:
    """+1 where d_i / d_j >= 1 + sigma, -1 where <= 1 / (1 + sigma), 0 (about equal) otherwise."""
    ratio = d_i / d_j.clamp_min(1e-12)
    return (ratio >= 1 + sigma).to(d_i.dtype) - (ratio <= 1 / (1 + sigma)).to(d_i.dtype)


def sample_random_pairs(valid: Tensor, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """[B, n] flat indices of two points drawn uniformly (with replacement) from each image's valid pixels."""
    weights = valid.detach().flatten(1).to(device="cpu", dtype=torch.float32)
    weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))  # empty: any pixel
    pick = torch.multinomial(weights, 2 * n, replacement=True, generator=generator).to(valid.device)
    return pick[:, :n], pick[:, n:]


def drop_easiest(cost: Tensor, candidates: Tensor, fraction: float) -> Tensor:
    """[B, N] weights (0 / 1): 0 on each row's floor(fraction x count) lowest-cost candidates, so hard pairs train.

    ReDWeb's hard-pair mining sorts the unequal pairs' losses and sets the smallest 25 % of their weights to 0;
    ties are broken by position (a stable sort), so exactly that many are dropped.
    """
    key = torch.where(candidates, cost.detach(), torch.full_like(cost, float("inf")))
    order = key.argsort(dim=1, stable=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    drop = candidates & (rank < (candidates.sum(1, keepdim=True) * fraction).floor().long())
    return (~drop).to(cost.dtype)
