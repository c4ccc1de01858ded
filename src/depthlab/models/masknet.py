"""MaskNet: the MODEST seed's small two-input mask network (background, background+foreground in; mask out).

From the seed's layer table (seeds/001, 76,097 parameters): each input has its own 3x3 conv (3 -> 32) + batch
norm + ReLU; the two are concatenated (64 channels) and pass two 3x3 conv (64 -> 64) + BN + ReLU layers and a
1x1 conv to one mask logit. Full resolution throughout (padding 1), so any input size works.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.models.base import DepthNet
from depthlab.models.depthmasknet import conv_bn_relu


class MaskNet(DepthNet):
    """(background, image) -> {"mask_logits"}: a mask-only network, so runs log IoU / Dice and no depth metric."""

    inputs = ("background", "image")
    predicts_mask = True
    predicts_depth = False
    output_stride = 1
    min_input_size = 1

    def __init__(self, width: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        self.name = f"MaskNet-w{width}"
        self.stem_bg = nn.Sequential(*conv_bn_relu(in_channels, width))
        self.stem_fg = nn.Sequential(*conv_bn_relu(in_channels, width))
        self.body = nn.Sequential(*conv_bn_relu(2 * width, 2 * width), *conv_bn_relu(2 * width, 2 * width))
        self.out = nn.Conv2d(2 * width, 1, 1)

    @property
    def encoder(self) -> nn.Module:
        return nn.ModuleList([self.stem_bg, self.stem_fg])

    def forward(self, background: Tensor, image: Tensor) -> dict[str, Tensor]:
        both = torch.cat([self.stem_bg(background), self.stem_fg(image)], dim=1)
        return {"mask_logits": self.out(self.body(both))}
