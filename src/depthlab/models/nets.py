"""Network factory: any segmentation_models_pytorch architecture + any encoder, a depth head, an optional mask head."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any

import segmentation_models_pytorch as smp
import torch
from huggingface_hub import constants as hf_constants
from segmentation_models_pytorch.base.initialization import initialize_head
from torch import nn
from torch.nn import functional as F

from depthlab.models.base import DepthNet
from depthlab.models.dpt_patch import fit_dpt_to_patch
from depthlab.models.heads import DepthActivation
from depthlab.models.seam import circular_width_padding
from depthlab.models.smp_checks import check_buildable
from depthlab.models.weights import is_local, provenance, smp_weight_kwargs, weights_cached
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError
from depthlab.utils.net import reachable

HUB_HOST = "huggingface.co"
FALLBACKS = ("random",)  # model.encoder_weights_fallback: what to do when the named weights are not cached


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the weight hub answers quickly (avoids smp's long offline retries)."""
    return reachable(HUB_HOST, timeout=timeout)


@contextmanager
def _hub_offline():
    """Let huggingface_hub use only its local cache for the duration (it reads the flag per call)."""
    old = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = old


def create_smp(
    arch: str, encoder: str, encoder_weights: str | None, in_channels: int, classes: int, **arch_kwargs: Any
) -> nn.Module:
    """An smp model: names and pairs checked first, unreachable weights fail fast, smp's refusals in one line."""
    check_buildable(arch, encoder, encoder_weights)
    kwargs = dict(encoder_name=encoder, in_channels=in_channels, classes=classes) | arch_kwargs
    kwargs |= smp_weight_kwargs(encoder, encoder_weights)
    try:
        if encoder_weights is None:
            return smp.create_model(arch, **kwargs)
        try:
            with _hub_offline():
                return smp.create_model(arch, **kwargs)  # cached or local weights: no network needed
        except Exception as err:
            if is_local(encoder_weights):
                raise DepthlabError(
                    f"model.encoder_weights={encoder_weights} does not load into {encoder}: {first_line(err)}"
                ) from None
            if not hub_reachable():
                raise DepthlabError(
                    f"model.encoder_weights={encoder_weights} must be downloaded from {HUB_HOST}, which is "
                    "unreachable: run once with network access to cache them, or set model.encoder_weights=null"
                ) from None
            return smp.create_model(arch, **kwargs)
    except DepthlabError:
        raise
    except (TypeError, ValueError, KeyError, AssertionError) as err:  # e.g. an arch_kwargs value smp refuses
        why = first_line(err)
        raise DepthlabError(f"smp cannot build model.arch={arch} with model.encoder={encoder}: {why}") from None


def weights_or_fallback(encoder: str, encoder_weights: str | None, fallback: str | None) -> str | None:
    """The weights to build with: with fallback=random, uncached weights give random init and one printed line."""
    check_choice("model.encoder_weights_fallback", fallback, FALLBACKS, none=True)
    if fallback is None or encoder_weights is None or weights_cached(encoder, encoder_weights):
        return encoder_weights
    print(
        f"model.encoder_weights={encoder_weights} for {encoder} are not in the local cache: random init instead "
        "(model.encoder_weights_fallback=random; set it to null to download them)"
    )
    return None


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type when empty), at most 300 characters."""
    return (str(err).strip().strip(chr(34)).splitlines() or [type(err).__name__])[0][:300]


def enable_grad_checkpointing(encoder: nn.Module, name: str) -> None:
    """Recompute the timm encoder's blocks in the backward pass instead of storing their activations."""
    model = getattr(encoder, "model", None)
    try:
        model.set_grad_checkpointing(True)  # type: ignore[union-attr]
    except (AttributeError, NotImplementedError, AssertionError):
        raise DepthlabError(
            f"model.gradient_checkpointing=true needs a timm encoder that supports it, not {name}: use a "
            "tu- encoder (e.g. model.encoder=tu-resnet18, tu-vit_small_patch14_dinov2) or "
            "model.gradient_checkpointing=false"
        ) from None


class DepthMaskHeads(nn.Module):
    """smp's segmentation head for depth plus an independently initialised copy for mask logits (shared decoder)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.depth, self.mask = head, copy.deepcopy(head)
        initialize_head(self.mask)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.depth(features), self.mask(features)], dim=1)


class SmpDepthNet(DepthNet):
    """An smp encoder-decoder: its output channel goes through a depth activation; optionally a mask head too."""

    def __init__(
        self,
        arch: str = "Unet",
        encoder: str = "resnet18",
        encoder_weights: str | None = None,
        in_channels: int = 3,
        head: str = "sigmoid",
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        arch_kwargs: dict[str, Any] | None = None,
        mask_head: bool = False,
        freeze_encoder: bool = False,
        unfreeze_at_epoch: int | None = None,
        encoder_lr_mult: float = 1.0,
        gradient_checkpointing: bool = False,
        layer_decay: float = 1.0,
        circular_padding: bool = False,
        encoder_weights_fallback: str | None = None,
    ) -> None:
        super().__init__(freeze_encoder, unfreeze_at_epoch, encoder_lr_mult, layer_decay)
        self.arch, self.encoder_name, self.name = arch, encoder, f"{arch}-{encoder}"
        encoder_weights = weights_or_fallback(encoder, encoder_weights, encoder_weights_fallback)
        self.encoder_weights = encoder_weights
        kwargs = dict(arch_kwargs or {})
        self.net = create_smp(arch, encoder, encoder_weights, in_channels, classes=1, **kwargs)
        # a patch-14 ViT under DPT: power-of-two reassembly, the output resized to the input
        self.resize_output = arch.lower() == "dpt" and fit_dpt_to_patch(self.net, kwargs)
        if gradient_checkpointing:
            enable_grad_checkpointing(self.net.encoder, encoder)
        if circular_padding:  # 360-degree panoramas: the left and right edges are neighbours (models/seam.py)
            circular_width_padding(self.net)
        self.head = DepthActivation(head, min_depth, max_depth)
        self.output_kind = "relative_depth" if head == "relative" else "metric"
        self.predicts_mask = bool(mask_head)
        if self.predicts_mask:  # every smp model ends in segmentation_head(decoder(...)): wrap it, keep forward
            self.net.segmentation_head = DepthMaskHeads(self.net.segmentation_head)

    @property
    def encoder(self) -> nn.Module:
        return self.net.encoder

    @property
    def provenance(self) -> dict[str, str] | None:
        """Source, revision and license of the pretrained encoder weights; None with random init."""
        return provenance(self.encoder_name, self.encoder_weights)

    @property
    def output_stride(self) -> int:
        """The factor H and W must be divisible by (DPT: twice the patch size, its fusion halves the token grid)."""
        stride = int(getattr(self.net.encoder, "output_stride", 32))
        return 2 * stride if self.arch.lower() == "dpt" else stride

    @property
    def min_input_size(self) -> int:
        """PAN's pyramid attention max-pools its deepest features three more times: they need >= 8 cells."""
        return self.output_stride * (8 if self.arch.lower() == "pan" else 1)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(image)
        if self.resize_output:
            out = F.interpolate(out, size=image.shape[-2:], mode="bilinear", align_corners=True)
        if not self.predicts_mask:
            return {"depth": self.head(out)}
        return {"depth": self.head(out[:, :1]), "mask_logits": out[:, 1:2]}
