"""Architectures, hub ids, licences and input normalisation of the Hugging Face depth families (offline presets).

The presets rebuild each published architecture from its numbers (no download): `model.pretrained=null` gives
the same network with random weights. With `model.pretrained=<hub id | dir>` the config comes from the weights.
Sources: the Depth Anything V2 repository (metric_depth/train.py model_configs, dpt.py intermediate_layer_idx),
the model cards of depth-anything/Depth-Anything-V2-*-hf, Intel/dpt-large, Intel/dpt-hybrid-midas,
Intel/zoedepth-nyu-kitti and facebook/dpt-dinov2-{small,base}-nyu (transformers' convert_dinov2_depth_to_hf.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import (
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    DPTConfig,
    DPTForDepthEstimation,
    PretrainedConfig,
    PreTrainedModel,
    ZoeDepthConfig,
    ZoeDepthForDepthEstimation,
)

from depthlab.data.base import IMAGENET_MEAN, IMAGENET_STD
from depthlab.utils.choices import check_choice

HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Family:
    """One transformers model family: its classes, its sizes (config numbers) and how its output is read."""

    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    sizes: dict[str, dict[str, Any]]
    hub_ids: dict[str, str] = field(default_factory=dict)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    depth_type: str = "relative"  # what the family predicts unless the config says otherwise


def _dav2(hidden: int, heads: int, layers: int, out: list[int], fusion: int, neck: list[int]) -> dict[str, Any]:
    """A Depth Anything V2 config: DINOv2 backbone (patch 14, 518 px pretraining) + DPT head."""
    backbone = {
        "model_type": "dinov2",
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "intermediate_size": 4 * hidden,
        "patch_size": 14,
        "image_size": 518,
        "layerscale_value": 1.0,
        "out_indices": out,
        "reshape_hidden_states": False,
    }
    return {
        "backbone_config": backbone,
        "patch_size": 14,
        "reassemble_hidden_size": hidden,
        "reassemble_factors": [4, 2, 1, 0.5],
        "neck_hidden_sizes": neck,
        "fusion_hidden_size": fusion,
        "head_hidden_size": 32,
        "head_in_index": -1,
    }


def _dpt_dinov2(hidden: int, heads: int, neck: list[int]) -> dict[str, Any]:
    """facebook/dpt-dinov2-*-nyu: DINOv2 ViT (patch 14, no final norm) + DPT head with projection, metric NYU depth."""
    backbone = {
        "model_type": "dinov2",
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": 12,
        "intermediate_size": 4 * hidden,
        "patch_size": 14,
        "image_size": 518,
        "layerscale_value": 1.0,
        "out_indices": [3, 6, 9, 12],
        "apply_layernorm": False,
        "reshape_hidden_states": False,
    }
    return {
        "backbone_config": backbone,
        "patch_size": 14,
        "neck_hidden_sizes": neck,
        "use_bias_in_fusion_residual": False,
        "add_projection": True,
    }


# Intel/dpt-large: ViT-L/16 (DPTConfig's defaults are ViT-B/16 sizes)
DPT_LARGE = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "backbone_out_indices": [5, 11, 17, 23],
    "neck_hidden_sizes": [256, 512, 1024, 1024],
}

FAMILIES: dict[str, Family] = {
    "depth_anything": Family(
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        sizes={
            "small": _dav2(384, 6, 12, [3, 6, 9, 12], 64, [48, 96, 192, 384]),
            "base": _dav2(768, 12, 12, [3, 6, 9, 12], 128, [96, 192, 384, 768]),
            "large": _dav2(1024, 16, 24, [5, 12, 18, 24], 256, [256, 512, 1024, 1024]),
        },
        hub_ids={
            "small/relative": "depth-anything/Depth-Anything-V2-Small-hf",
            "base/relative": "depth-anything/Depth-Anything-V2-Base-hf",
            "large/relative": "depth-anything/Depth-Anything-V2-Large-hf",
            "small/metric": "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf",
            "base/metric": "depth-anything/Depth-Anything-V2-Metric-Indoor-Base-hf",
            "large/metric": "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf",
        },
    ),
    "dpt": Family(
        DPTConfig,
        DPTForDepthEstimation,
        sizes={
            "large": DPT_LARGE,
            "hybrid": {"is_hybrid": True, "neck_hidden_sizes": [256, 512, 768, 768]},
            "dinov2-small-nyu": _dpt_dinov2(384, 6, [48, 96, 192, 384]),
            "dinov2-base-nyu": _dpt_dinov2(768, 12, [96, 192, 384, 768]),
        },
        hub_ids={
            "large/relative": "Intel/dpt-large",
            "hybrid/relative": "Intel/dpt-hybrid-midas",
            "dinov2-small-nyu/metric": "facebook/dpt-dinov2-small-nyu",
            "dinov2-base-nyu/metric": "facebook/dpt-dinov2-base-nyu",
        },
        mean=HALF,
        std=HALF,
    ),
    "zoedepth": Family(
        ZoeDepthConfig,
        ZoeDepthForDepthEstimation,
        sizes={"large": {"neck_hidden_sizes": [256, 512, 1024, 1024]}},  # BEiT-L/16 is the config's default
        hub_ids={"large/metric": "Intel/zoedepth-nyu-kitti"},
        mean=HALF,
        std=HALF,
        depth_type="metric",
    ),
}

# licence strings of the model cards (used when the weights' own README does not say)
LICENSES = {
    "depth-anything/Depth-Anything-V2-Small-hf": "apache-2.0",
    "depth-anything/Depth-Anything-V2-Base-hf": "cc-by-nc-4.0",
    "depth-anything/Depth-Anything-V2-Large-hf": "cc-by-nc-4.0",
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf": "apache-2.0",
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Base-hf": "cc-by-nc-4.0",
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf": "cc-by-nc-4.0",
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf": "apache-2.0",
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Base-hf": "cc-by-nc-4.0",
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf": "cc-by-nc-4.0",
    "Intel/dpt-large": "apache-2.0",
    "Intel/dpt-hybrid-midas": "apache-2.0",
    "Intel/zoedepth-nyu-kitti": "mit",
    "Intel/zoedepth-nyu": "mit",
    "Intel/zoedepth-kitti": "mit",
    "facebook/dpt-dinov2-small-nyu": "apache-2.0",
    "facebook/dpt-dinov2-base-nyu": "apache-2.0",
}


def family_of(config: PretrainedConfig) -> str:
    """The family key of a transformers config (auto: any *ForDepthEstimation)."""
    for name, family in FAMILIES.items():
        if isinstance(config, family.config_class):
            return name
    return "auto"


def preset(family: str, size: str) -> dict[str, Any]:
    """The config numbers of one published size (a one-line error names the sizes there are)."""
    check_choice("model.family", family, tuple(FAMILIES))
    check_choice("model.size", size, tuple(FAMILIES[family].sizes))
    return FAMILIES[family].sizes[size]


def published_depth_type(family: str, size: str | None, ref: str | None = None) -> str | None:
    """What published weights predict: those of hub id `ref`, else the only type a size was published with."""
    ids = FAMILIES[family].hub_ids if family in FAMILIES else {}
    by_ref = [key.split("/")[1] for key, value in ids.items() if ref and value == ref]
    by_size = {key.split("/")[1] for key in ids if key.split("/")[0] == size}
    if by_ref:
        return by_ref[0]
    return by_size.pop() if len(by_size) == 1 else None


def normalisation(family: str, config: PretrainedConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input mean / std a model was trained with: ImageNet for any DINOv2 backbone, else the family's."""
    if getattr(getattr(config, "backbone_config", None), "model_type", None) == "dinov2":
        return IMAGENET_MEAN, IMAGENET_STD
    own = FAMILIES.get(family)
    return (own.mean, own.std) if own else (IMAGENET_MEAN, IMAGENET_STD)


def patch_size(config: PretrainedConfig) -> int:
    """The token grid's cell: a ViT backbone's patch (DINOv2: 14) wins over the head config's (DPT's default 16)."""
    backbone = getattr(config, "backbone_config", None)
    if backbone is not None and not getattr(config, "is_hybrid", False) and getattr(backbone, "patch_size", None):
        return int(backbone.patch_size)
    return int(config.patch_size)


def hub_id(family: str, size: str, depth_type: str) -> str | None:
    """The hub id of the published weights of a family / size / depth type, if there are any."""
    return FAMILIES[family].hub_ids.get(f"{size}/{depth_type}") if family in FAMILIES else None
