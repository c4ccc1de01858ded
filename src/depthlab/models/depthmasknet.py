"""DepthMaskNet: the depth-and-mask seed's two-input network (background, background+foreground in; mask, depth out).

Written from the seed's description and layer table (seeds/001): each input passes its own stem and first encoder
block; the two are concatenated and share the deeper encoder. The mask decoder starts early (1/16) because masks
need no deep features; the depth encoder goes one level deeper (1/32), and every depth decoder level adds the mask
decoder's features of the same scale ("the output from the decoder of segmentation masks is fed to the decoder of
depth maps"). Blocks: residual conv encoder blocks (max-pool, two 3x3 conv-BN-ReLU, 1x1 projection shortcut) and
up-sampling decoder blocks (1x1 channel reduction, x2 interpolation, two 3x3 conv-BN-ReLU) whose outputs also add
the encoder features of their scale. With base_width=16 the parameter count equals the seed's 7,083,874.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from depthlab.models.base import DepthNet
from depthlab.models.heads import DepthActivation
from depthlab.utils.errors import DepthlabError


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    """3x3 convolution, batch norm, ReLU: the unit every block is made of."""
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Stem(nn.Sequential):
    """Two full-resolution 3x3 conv-BN-ReLU layers on one input image."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(*conv_bn_relu(cin, cout), *conv_bn_relu(cout, cout))


class EncoderBlock(nn.Module):
    """Halve the resolution, then a residual pair of 3x3 convs with a 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.body = nn.Sequential(*conv_bn_relu(cin, cout), *conv_bn_relu(cout, cout))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(x)
        return self.body(x) + self.shortcut(x)


class DecoderBlock(nn.Module):
    """Reduce channels (1x1), double the resolution, refine with two 3x3 convs; add a same-scale feature if given."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(cin, cout, 1)
        self.body = nn.Sequential(*conv_bn_relu(cout, cout), *conv_bn_relu(cout, cout))

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        x = F.interpolate(self.reduce(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.body(x)
        return x if skip is None else x + skip


class DepthMaskNet(DepthNet):
    """Two inputs (background, background+foreground) -> {"depth", "mask_logits"}; the mask decoder feeds depth."""

    inputs = ("background", "image")
    predicts_mask = True
    output_stride = 32

    def __init__(
        self,
        base_width: int = 16,
        in_channels: int = 3,
        head: str = "sigmoid",
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        mask_head: bool = True,
        freeze_encoder: bool = False,
        unfreeze_at_epoch: int | None = None,
        encoder_lr_mult: float = 1.0,
    ) -> None:
        super().__init__(freeze_encoder, unfreeze_at_epoch, encoder_lr_mult)
        if not mask_head:
            raise DepthlabError(
                "model=depthmasknet always predicts a mask (it feeds depth); for depth only use model=unet"
            )
        if base_width < 1:
            raise DepthlabError(f"model.base_width={base_width} must be >= 1")
        c = base_width
        self.name = f"DepthMaskNet-w{c}"
        self.encoders = nn.ModuleDict(
            {
                "stem_bg": Stem(in_channels, c),
                "stem_fg": Stem(in_channels, c),
                "enc_bg": EncoderBlock(c, c),  # 1/2
                "enc_fg": EncoderBlock(c, c),  # 1/2, concatenated with enc_bg -> 2c
                "enc4": EncoderBlock(2 * c, 4 * c),  # 1/4
                "enc8": EncoderBlock(4 * c, 8 * c),  # 1/8
                "enc16": EncoderBlock(8 * c, 16 * c),  # 1/16: the mask decoder starts here
                "enc32": EncoderBlock(16 * c, 32 * c),  # 1/32: depth only
            }
        )
        widths = [16 * c, 8 * c, 4 * c, 2 * c, c]  # decoder outputs at 1/8, 1/4, 1/2, 1/1 (mask) ...
        self.mask_decoder = nn.ModuleList(DecoderBlock(a, b) for a, b in zip(widths, widths[1:], strict=False))
        self.mask_out = nn.Conv2d(c, 1, 1)
        depth_widths = [32 * c, *widths]  # ... and 1/16 .. 1/1 (depth)
        self.depth_decoder = nn.ModuleList(
            DecoderBlock(a, b) for a, b in zip(depth_widths, depth_widths[1:], strict=False)
        )
        self.depth_out = nn.Conv2d(c, 1, 1)
        self.head = DepthActivation(head, min_depth, max_depth)

    @property
    def encoder(self) -> nn.Module:
        return self.encoders

    def forward(self, background: Tensor, image: Tensor) -> dict[str, Tensor]:
        e = self.encoders
        full = e["stem_fg"](image)
        half = torch.cat([e["enc_bg"](e["stem_bg"](background)), e["enc_fg"](full)], dim=1)
        skips = [full, half]  # 1/1, 1/2, 1/4, 1/8, 1/16
        for key in ("enc4", "enc8", "enc16"):
            skips.append(e[key](skips[-1]))
        deepest = e["enc32"](skips[-1])

        x, mask_features = skips[-1], []
        for block, skip in zip(self.mask_decoder, reversed(skips[:-1]), strict=True):
            x = block(x, skip)
            mask_features.append(x)  # 1/8, 1/4, 1/2, 1/1
        y = self.depth_decoder[0](deepest, skips[-1])  # 1/16
        for block, feature in zip(self.depth_decoder[1:], mask_features, strict=True):
            y = block(y, feature)
        return {"depth": self.head(self.depth_out(y)), "mask_logits": self.mask_out(x)}
