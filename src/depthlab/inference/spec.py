"""What inference needs to know about a model, stored inside every exported file so it runs without the config."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from depthlab.data.base import IMAGENET_MEAN, IMAGENET_STD

METADATA_KEY = "depthlab"


@dataclass(frozen=True)
class ModelSpec:
    """Input names, output names, normalisation, depth range, training size, stride and output kind of one model."""

    inputs: tuple[str, ...] = ("image",)
    outputs: tuple[str, ...] = ("depth",)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_depth: float = 1e-3
    max_depth: float = 10.0
    height: int | None = None
    width: int | None = None
    stride: int = 32
    # what the depth output holds (models/base.py OUTPUT_KINDS); files exported before it existed read as metric
    output_kind: str = "metric"
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_run_config(cls, config: dict[str, Any], net: nn.Module, outputs: tuple[str, ...]) -> ModelSpec:
        """Read normalisation, depth range and size from a checkpoint's resolved run config."""
        data = config.get("data") or {}
        height, width = data.get("height"), data.get("width")
        return cls(
            inputs=tuple(getattr(net, "inputs", ("image",))),
            outputs=tuple(outputs),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
            min_depth=float(data.get("min_depth", 1e-3)),
            max_depth=float(data.get("max_depth", 10.0)),
            height=int(height) if height else None,
            width=int(width) if width else None,
            stride=int(getattr(net, "output_stride", 32)),
            output_kind=str(getattr(net, "output_kind", "metric")),
            config=config,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        values = json.loads(text)
        for key in ("inputs", "outputs", "mean", "std"):
            values[key] = tuple(values[key])
        return cls(**values)
