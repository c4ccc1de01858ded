"""Optimizer parameter groups: the encoder trains at lr x model.encoder_lr_mult, ViT blocks with layer-wise decay."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from depthlab.utils.errors import DepthlabError

# a transformer block's index in a parameter name: timm `blocks.3.`, transformers `encoder.layer.3.`
_BLOCK = re.compile(r"(?:^|\.)(?:blocks|layer|layers)\.(\d+)\.")
# parameters before the first block: patch / position embeddings and the special tokens
_EMBEDDING = re.compile(r"embed|cls_token|mask_token|register_tokens|reg_token")


def layer_ids(encoder: nn.Module) -> dict[str, int]:
    """Layer id of every encoder parameter: 0 embeddings, i + 1 block i, depth + 1 whatever follows the blocks."""
    blocks = {name: int(m.group(1)) + 1 for name, _ in encoder.named_parameters() if (m := _BLOCK.search(name))}
    if not blocks:
        return {}
    depth = max(blocks.values())
    return {
        name: blocks.get(name, 0 if _EMBEDDING.search(name) else depth + 1) for name, _ in encoder.named_parameters()
    }


def layer_scales(encoder: nn.Module, decay: float, name: str = "the encoder") -> dict[str, float]:
    """LR multiplier per encoder parameter, decay ** (depth + 1 - layer id) (BEiT / DINOv2 fine-tuning)."""
    ids = layer_ids(encoder)
    if not ids:
        raise DepthlabError(
            f"model.layer_decay={decay} needs a transformer encoder with numbered blocks, but {name} has none; "
            "set model.layer_decay=1"
        )
    top = max(ids.values())
    return {param: decay ** (top - layer) for param, layer in ids.items()}


def encoder_groups(net: nn.Module, encoder: nn.Module) -> list[dict[str, Any]]:
    """The encoder's groups: one, or one per layer id when model.layer_decay < 1 (lr_scale relative to encoder)."""
    decay = float(getattr(net, "layer_decay", 1.0))
    if decay >= 1.0:
        return [{"params": list(encoder.parameters()), "name": "encoder", "lr_scale": 1.0}]
    scales = layer_scales(encoder, decay, getattr(net, "name", "the encoder"))
    params = dict(encoder.named_parameters())
    groups: dict[float, list[str]] = {}
    for param, scale in scales.items():
        groups.setdefault(scale, []).append(param)
    ordered = sorted(groups.items())  # lowest LR (embeddings) first
    return [
        {"params": [params[p] for p in names], "name": f"encoder.layer{i:02d}", "lr_scale": scale}
        for i, (scale, names) in enumerate(ordered)
    ]


def build_optimizer(
    factory: Callable[..., torch.optim.Optimizer], module: nn.Module, net: nn.Module
) -> torch.optim.Optimizer:
    """The configured optimizer over named groups: "decoder" (all non-encoder parameters) and the encoder's.

    Groups are named for LearningRateMonitor (lr-AdamW/encoder); a net without an `encoder` gets one group.
    Frozen encoder parameters stay in the optimizer without gradients, so unfreezing needs no new group.
    """
    encoder = getattr(net, "encoder", None) if hasattr(type(net), "encoder") else None
    if encoder is None:
        return factory(params=module.parameters())
    encoder_ids = {id(p) for p in encoder.parameters()}
    decoder = {"params": [p for p in module.parameters() if id(p) not in encoder_ids], "name": "decoder"}
    enc_groups = encoder_groups(net, encoder)
    scales = [g.pop("lr_scale") for g in enc_groups]
    optimizer = factory(params=[decoder, *enc_groups])
    mult = float(getattr(net, "encoder_lr_mult", 1.0))
    for group, scale in zip(optimizer.param_groups[1:], scales, strict=True):
        group["lr"] = group["lr"] * mult * scale
    return optimizer
