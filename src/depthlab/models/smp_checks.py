"""What smp can build, asked of smp's and timm's own registries before building (never read from error text)."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import timm
import torch
from segmentation_models_pytorch.encoders import encoders as smp_encoders
from segmentation_models_pytorch.encoders import get_encoder_names, is_equivalent_to_timm_universal

from depthlab.models.weights import check_timm_weights, is_local, local_weight_file
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

PYRAMID_ENCODERS = "resnet18, mobilenet_v2, efficientnet-b0, mit_b0, tu-convnext_atto, tu-resnet10t"
VIT_ENCODERS = "model.encoder=tu-vit_tiny_patch16_224 (or tu-vit_small_patch16_224, tu-deit_small_patch16_224)"


def check_buildable(arch: str, encoder: str, encoder_weights: str | None) -> None:
    """Unknown names and pairs smp cannot build stop here with one line naming what would work."""
    check_choice("model.arch", arch.lower(), tuple(smp.MODEL_ARCHITECTURES_MAPPING))  # smp's names are lower case
    check_encoder(encoder, encoder_weights)
    if arch.lower() == "dpt":
        if not encoder.startswith("tu-"):
            raise DepthlabError(
                f"model=dpt needs a timm vision-transformer encoder, not {encoder}: use e.g. {VIT_ENCODERS}"
            )
    elif encoder.startswith("tu-"):
        check_pyramid(arch, encoder)


def check_encoder(encoder: str, encoder_weights: str | None) -> None:
    """The encoder is in smp's list or timm's (tu-<name>[.<tag>]), and the asked-for weights exist for it."""
    if encoder.startswith("tu-"):
        known = timm.is_model(encoder[3:])
        if known and "." in encoder[3:]:
            check_timm_tag(encoder[3:])
    else:
        known = encoder in get_encoder_names() or is_equivalent_to_timm_universal(encoder)  # timm-* aliases tu-*
    if not known:
        raise DepthlabError(f"model.encoder={encoder} is not a known smp or timm (tu-) encoder")
    if encoder_weights is None:
        return
    if is_local(encoder_weights):
        local_weight_file(encoder, encoder_weights)
    elif encoder.startswith("tu-"):
        check_timm_weights(encoder, encoder_weights)
    available = smp_encoders.get(encoder, {}).get("pretrained_settings", {})
    if encoder in smp_encoders and encoder_weights not in available:
        raise DepthlabError(
            f"model.encoder_weights={encoder_weights} does not exist for {encoder}; "
            f"use one of {', '.join(available) or 'none'}, or null (random init)"
        )


def check_timm_tag(name: str) -> None:
    """timm knows the pretrained tag of `<arch>.<tag>` (timm.is_model ignores the tag)."""
    arch, tag = name.split(".", 1)
    if f"{arch}.{tag}" not in timm.list_pretrained(f"{arch}.*"):
        tags = ", ".join(n.split(".", 1)[1] for n in timm.list_pretrained(f"{arch}.*")) or "none"
        raise DepthlabError(f"model.encoder=tu-{name}: timm has no tag {tag} for {arch}; its tags: {tags}")


def check_pyramid(arch: str, encoder: str) -> None:
    """smp's decoders other than DPT read a feature pyramid: maps at strides doubling from 1, 2 or 4."""
    strides = feature_strides(encoder[3:])
    if strides and strides[0] in (1, 2, 4) and strides == [strides[0] * 2**i for i in range(len(strides))]:
        return
    raise DepthlabError(
        f"model.encoder={encoder} is a plain transformer without a feature pyramid (feature strides "
        f"{strides or 'none'}), which {arch} needs: use model=dpt for it, or a pyramid encoder with {arch} "
        f"({PYRAMID_ENCODERS})"
    )


def feature_strides(timm_name: str) -> list[int]:
    """The strides of the feature maps timm extracts from a model ([] when it extracts none), as smp reads them."""
    for device in ("meta", "cpu"):  # meta allocates no weights; a few models only build on a real device
        try:
            with torch.device(device):
                return [int(r) for r in timm.create_model(timm_name, features_only=True).feature_info.reduction()]
        except RuntimeError:  # includes NotImplementedError; timm's "features_only not implemented" too
            continue
    return []
