"""Horizontal-flip test-time augmentation, shared by evaluation (protocol) and inference (predict.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

IMAGE_KEYS = ("image", "background")


def flip_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch mirrored left-right: only the network's image inputs, since targets are compared unflipped."""
    return {k: (v.flip(-1) if k in IMAGE_KEYS and isinstance(v, Tensor) else v) for k, v in batch.items()}


def flip_average(forward: Callable[[dict[str, Any]], dict[str, Tensor]], batch: dict[str, Any]) -> dict[str, Tensor]:
    """Mean of the outputs on the batch and on its mirror (flipped back): the standard depth-benchmark flip TTA."""
    plain = forward(batch)
    mirrored = forward(flip_batch(batch))
    return {k: (plain[k] + mirrored[k].flip(-1)) / 2 for k in plain}


def maybe_flip_average(
    forward: Callable[[dict[str, Any]], dict[str, Tensor]], batch: dict[str, Any], enabled: bool
) -> dict[str, Tensor]:
    """flip_average when enabled, else a single forward pass (so callers need no branch)."""
    with torch.no_grad():
        return flip_average(forward, batch) if enabled else forward(batch)
