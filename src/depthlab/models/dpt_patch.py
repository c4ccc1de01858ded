"""smp DPT with a patch-14 ViT (DINOv2): reassemble the token grid at power-of-two scales, resize the output."""

from __future__ import annotations

import inspect
from typing import Any

import segmentation_models_pytorch as smp
from segmentation_models_pytorch.base.initialization import initialize_decoder
from segmentation_models_pytorch.decoders.dpt.decoder import DPTDecoder
from torch import nn

DECODER_KWARGS = {
    "decoder_readout": "readout",
    "decoder_intermediate_channels": "intermediate_channels",
    "decoder_fusion_channels": "fusion_channels",
}


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n."""
    return 1 << max(0, n - 1).bit_length()


def fit_dpt_to_patch(model: nn.Module, arch_kwargs: dict[str, Any]) -> bool:
    """Rebuild smp's DPT decoder for a patch size that is not a power of two; True when the output needs resizing.

    smp scales each token map by stride / 4, 8, 16, 32 (for patch 14: int(3.5) = 3, 1, 1, 1/2) so the fused maps
    disagree; read as patch-16 grids (x4, x2, x1, x1/2, as the DPT and Depth Anything heads do for patch 14) they
    fuse, and the prediction comes out at 16/14 of the input size.
    """
    encoder = model.encoder
    patch = int(encoder.output_stride)
    if patch & (patch - 1) == 0:
        return False
    defaults = {k: p.default for k, p in inspect.signature(smp.DPT.__init__).parameters.items() if k in DECODER_KWARGS}
    options = {DECODER_KWARGS[k]: arch_kwargs.get(k, v) for k, v in defaults.items()}
    model.decoder = DPTDecoder(
        encoder_out_channels=encoder.out_channels,
        encoder_output_strides=[next_power_of_two(patch)] * len(encoder.out_channels),
        encoder_has_prefix_tokens=encoder.has_prefix_tokens,
        **options,
    )
    initialize_decoder(model.decoder)
    return True
