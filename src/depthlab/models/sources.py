"""Per-source scoring of a mixture (data=mix): each val / test loader keeps its dataset's own protocol and metrics."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.protocol import EvalProtocol


def source_protocol(base: EvalProtocol | None, source: Any) -> EvalProtocol | None:
    """The run's protocol with the source's depth range, crop and relative flag; auto alignment follows the source."""
    if base is None:
        return None
    protocol = copy.copy(base)
    protocol.min_depth, protocol.max_depth = float(source.min_depth), float(source.max_depth)
    protocol.crop, protocol.relative = source.eval_crop, bool(source.relative)
    if getattr(base, "auto_alignment", False):
        protocol.alignment = "lstsq" if source.relative else "none"
    protocol.whdr = base.whdr or bool(source.relative)
    return protocol


def source_metric(template: Metric, source: Any) -> Metric:
    """A fresh accumulator like the run's, with the source's SSIM range and WHDR on relative sources."""
    if not isinstance(template, DepthMetrics):
        return copy.deepcopy(template)
    return DepthMetrics(
        min_valid=template.min_valid,
        ssim_range=float(source.max_depth),
        average=template.average,
        whdr=template.whdr or bool(source.relative),
        whdr_pairs=template.whdr_pairs,
        whdr_sigma=template.whdr_sigma,
    )


class SourceScoring(nn.Module):
    """Names, protocols and (val, test) metric + loss accumulators of each eval dataloader of a mixture."""

    def __init__(self, sources: Mapping[str, Any], protocol: EvalProtocol | None, template: Metric) -> None:
        super().__init__()
        self.names = list(sources)
        self.protocols = [source_protocol(protocol, s) for s in sources.values()]
        keys = [(split, i) for split in ("val", "test") for i in range(len(self.names))]
        specs = list(sources.values())
        self.metrics = nn.ModuleDict({f"{split}_{i}": source_metric(template, specs[i]) for split, i in keys})
        self.losses = nn.ModuleDict({f"{split}_{i}": MeanMetric() for split, i in keys})

    def metric(self, split: str, index: int) -> Metric:
        return self.metrics[f"{split}_{index}"]

    def loss(self, split: str, index: int) -> MeanMetric:
        return self.losses[f"{split}_{index}"]

    def compute(self, split: str) -> dict[str, Tensor]:
        """{source/metric} of every source, plus the mean over sources {metric} (a source without it is left out)."""
        out: dict[str, Tensor] = {}
        rows: dict[str, list[Tensor]] = {}
        for i, name in enumerate(self.names):
            values = dict(self.metric(split, i).compute())
            if self.loss(split, i).update_called:
                values["loss"] = self.loss(split, i).compute()
            for key, value in values.items():
                out[f"{name}/{key}"] = value.float()
                if not math.isnan(float(value)):
                    rows.setdefault(key, []).append(value.float())
            self.metric(split, i).reset()
            self.loss(split, i).reset()
        out |= {key: torch.stack(values).mean() for key, values in rows.items()}
        return out
