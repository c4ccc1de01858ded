"""What DepthModule and the callbacks need from any network: inputs, encoder, stride, finetuning options."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from depthlab.utils.errors import DepthlabError

OUTPUT_KINDS = ("metric", "relative_depth", "relative_disparity")


class DepthNet(nn.Module):
    """Base of every depthlab network: declares its batch inputs, exposes its encoder for freezing / LR groups.

    Subclasses set `encoder` (an nn.Module), `name` and `output_stride`, and return {"depth", ["mask_logits"]}.
    """

    inputs: tuple[str, ...] = ("image",)
    predicts_mask: bool = False
    predicts_depth: bool = True  # False: a mask-only network (no depth output, metrics or loss terms)
    name: str = "net"
    output_stride: int = 32
    # what outputs["depth"] holds (OUTPUT_KINDS): metres, a unit-free positive depth map, or affine-invariant
    # disparity (MiDaS / Depth Anything relative models); the protocol and loss checks read it
    output_kind: str = "metric"
    stride_kind: str = "output stride"  # what H and W must be multiples of, named in the size check

    @property
    def provenance(self) -> dict[str, str] | None:
        """Where pretrained weights came from (source, revision, license); None when trained from scratch."""
        return None

    @property
    def min_input_size(self) -> int:
        """The smallest H and W the network takes (one output-stride cell unless an architecture needs more)."""
        return self.output_stride

    def __init__(
        self,
        freeze_encoder: bool = False,
        unfreeze_at_epoch: int | None = None,
        encoder_lr_mult: float = 1.0,
        layer_decay: float = 1.0,
    ) -> None:
        super().__init__()
        if unfreeze_at_epoch is not None and not freeze_encoder:
            raise DepthlabError(
                f"model.unfreeze_at_epoch={unfreeze_at_epoch} needs model.freeze_encoder=true (nothing to unfreeze)"
            )
        if unfreeze_at_epoch is not None and unfreeze_at_epoch < 1:
            raise DepthlabError(f"model.unfreeze_at_epoch={unfreeze_at_epoch} must be >= 1 (or null: stay frozen)")
        if not encoder_lr_mult >= 0:
            raise DepthlabError(f"model.encoder_lr_mult={encoder_lr_mult} must be >= 0")
        if not 0 < layer_decay <= 1:
            raise DepthlabError(f"model.layer_decay={layer_decay} must be in (0, 1] (1: no decay; ViTs use 0.65-0.9)")
        self.freeze_encoder, self.unfreeze_at_epoch = bool(freeze_encoder), unfreeze_at_epoch
        self.layer_decay = float(layer_decay)
        self.encoder_lr_mult = float(encoder_lr_mult)
        self.encoder_frozen = False

    def checkpoint_overrides(self) -> dict[str, Any]:
        """Model-config keys a checkpoint stores so that rebuilding it downloads nothing (weights are in the file)."""
        return {}

    @property
    def encoder(self) -> nn.Module:
        """The feature extractor (pretrained in smp models): frozen / given its own LR as one unit."""
        raise NotImplementedError

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze (no grads, normalisation statistics fixed) or unfreeze the encoder."""
        for param in self.encoder.parameters():
            param.requires_grad_(trainable)
        self.encoder_frozen = not trainable
        self.train(self.training)

    def train(self, mode: bool = True) -> DepthNet:
        """Like nn.Module.train, but a frozen encoder keeps its normalisation layers in eval mode."""
        super().train(mode)
        if self.encoder_frozen:
            for module in self.encoder.modules():
                if isinstance(module, _NormBase):
                    module.eval()
        return self

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a one-line error when the network cannot take an H x W input."""
        s, low = self.output_stride, self.min_input_size
        if min(height, width) < low:
            raise DepthlabError(
                f"input size {height}x{width} is below {low}x{low}, the smallest {self.name} takes; "
                f"use e.g. data.height={max(low, height)} data.width={max(low, width)}"
            )
        if height % s or width % s:
            fix_h, fix_w = max(s, round(height / s) * s), max(s, round(width / s) * s)
            raise DepthlabError(
                f"input size {height}x{width} is not divisible by {s}, the {self.stride_kind} of "
                f"{self.name}; use e.g. data.height={fix_h} data.width={fix_w}"
            )
