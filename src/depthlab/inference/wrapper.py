"""The network behind plain tensor I/O (RGB in [0, 1] in, a tuple of outputs out), as eager, traced or ONNX."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from depthlab.data.pixels import normalize
from depthlab.inference.spec import ModelSpec


class InferenceNet(nn.Module):
    """Normalise RGB in [0, 1] with the training mean/std inside the graph, so a shipped model needs no recipe."""

    def __init__(self, net: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        self.net, self.outputs = net.eval(), spec.outputs
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, *images: Tensor) -> tuple[Tensor, ...]:
        outputs = self.net(*[normalize(x, self.mean, self.std) for x in images])
        return tuple(outputs[name].float() for name in self.outputs)


def probe_outputs(net: nn.Module, stride: int) -> tuple[str, ...]:
    """The output keys of a network (depth, and mask_logits for multi-task nets), from one tiny forward pass."""
    inputs = getattr(net, "inputs", ("image",))
    with torch.no_grad():
        outputs = net.eval()(*[torch.zeros(1, 3, 2 * stride, 2 * stride) for _ in inputs])
    return tuple(k for k, v in outputs.items() if isinstance(v, Tensor) and v.dim() == 4)


def wrap(net: nn.Module, config: dict[str, Any]) -> tuple[InferenceNet, ModelSpec]:
    """InferenceNet and ModelSpec of a trained network and the run config it was trained with."""
    outputs = probe_outputs(net, int(getattr(net, "output_stride", 32)))
    spec = ModelSpec.from_run_config(config, net, outputs)
    return InferenceNet(net, spec), spec
