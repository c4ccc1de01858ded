"""Optimizer parameter groups: the encoder gets its own group so it can train at lr x model.encoder_lr_mult."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def build_optimizer(
    factory: Callable[..., torch.optim.Optimizer], module: nn.Module, net: nn.Module
) -> torch.optim.Optimizer:
    """The configured optimizer over two named groups, "encoder" and "decoder" (all other parameters).

    Groups are named for LearningRateMonitor (lr-AdamW/encoder); a net without an `encoder` gets one group.
    Frozen encoder parameters stay in the optimizer without gradients, so unfreezing needs no new group.
    """
    encoder = getattr(net, "encoder", None) if hasattr(type(net), "encoder") else None
    if encoder is None:
        return factory(params=module.parameters())
    encoder_ids = {id(p) for p in encoder.parameters()}
    groups: list[dict[str, Any]] = [
        {"params": [p for p in module.parameters() if id(p) not in encoder_ids], "name": "decoder"},
        {"params": list(encoder.parameters()), "name": "encoder"},
    ]
    optimizer = factory(params=groups)
    optimizer.param_groups[1]["lr"] = optimizer.param_groups[1]["lr"] * float(getattr(net, "encoder_lr_mult", 1.0))
    return optimizer
