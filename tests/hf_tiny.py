"""Tiny transformers configs of each Hugging Face family, as Python dicts and as Hydra overrides, for tests."""

from __future__ import annotations

import json

DEPTH_ANYTHING = {
    "backbone_config": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 4,
        "intermediate_size": 64,
        "out_indices": [1, 2, 3, 4],
    },
    "reassemble_hidden_size": 32,
    "neck_hidden_sizes": [16, 16, 32, 32],
    "fusion_hidden_size": 16,
    "head_hidden_size": 8,
}
DPT = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 64,
    "neck_hidden_sizes": [16, 16, 32, 32],
    "fusion_hidden_size": 16,
    "backbone_out_indices": [0, 1, 2, 3],
}
ZOEDEPTH = {
    "backbone_config": {
        "model_type": "beit",
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 64,
        "out_indices": [1, 2, 3, 4],
        "use_relative_position_bias": True,
        "reshape_hidden_states": False,
    },
    "neck_hidden_sizes": [16, 16, 32, 32],
    "fusion_hidden_size": 16,
    "bottleneck_features": 16,
    "num_relative_features": 8,
    "bin_embedding_dim": 16,
    "num_attractors": [4, 2, 2, 1],
}
TINY = {"depth_anything_v2": DEPTH_ANYTHING, "dpt_hf": DPT, "zoedepth": ZOEDEPTH}
# input sizes on each family's patch grid (14 for DINOv2, 16 for ViT / BEiT)
SIZE = {"depth_anything_v2": (56, 84), "dpt_hf": (64, 96), "zoedepth": (64, 96)}


def hydra_value(value: object) -> str:
    """A Python value in Hydra's override grammar ({key:value,...}, [a,b], true)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return json.dumps(value)


def override(option: str) -> str:
    """model.config=<tiny config> as a Hydra command-line override."""
    return f"model.config={hydra_value(TINY[option])}"


def size(option: str) -> list[str]:
    """data.height / data.width on the option's patch grid."""
    height, width = SIZE[option]
    return [f"data.height={height}", f"data.width={width}"]
