"""Circular padding along the width for 360-degree panoramas: the left and right edges of an equirect image meet."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class WidthCircularPad(nn.Module):
    """A forward pre-hook: pad the conv input circularly by `width` pixels left and right (height keeps zeros)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def __call__(self, module: nn.Module, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return (F.pad(inputs[0], (self.width, self.width, 0, 0), mode="circular"), *inputs[1:])


def circular_width_padding(net: nn.Module) -> int:
    """Make every padded Conv2d / MaxPool2d of `net` wrap around the width; returns how many layers were converted.

    A layer keeps its padding along the height and loses it along the width, where a pre-hook pads circularly
    instead: output sizes and weights are unchanged, so checkpoints load either way.
    """
    converted = 0
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and not isinstance(module.padding, str):
            pad_h, pad_w = module.padding
        elif isinstance(module, nn.MaxPool2d):
            pad_h, pad_w = (module.padding, module.padding) if isinstance(module.padding, int) else module.padding
        else:
            continue
        if pad_w == 0:
            continue
        module.padding = (pad_h, 0)
        module.register_forward_pre_hook(WidthCircularPad(pad_w))
        converted += 1
    return converted
