"""Output parametrisations that map a decoder's raw channel to depth (metric, inverse or relative)."""

from __future__ import annotations

import torch
from torch import nn

from depthlab.utils.choices import check_choice

HEADS = ("sigmoid", "softplus", "exp", "identity", "disparity", "relative")


class DepthActivation(nn.Module):
    """Turn raw logits into the `depth` output; the parametrisation is a config choice (model.head).

    sigmoid: max_depth x sigmoid (bounded metric depth); softplus: softplus + min_depth; exp: exp (log-depth);
    identity: raw; disparity: 1 / (softplus + 1 / max_depth), i.e. the network regresses inverse depth and the
    output stays in (0, max_depth]; relative: softplus without metric floor or cap, a unit-free positive map for
    relative datasets (scored after scale / shift alignment).
    """

    def __init__(self, kind: str = "sigmoid", min_depth: float = 1e-3, max_depth: float = 10.0) -> None:
        super().__init__()
        check_choice("model.head", kind, HEADS)
        self.kind, self.min_depth, self.max_depth = kind, float(min_depth), float(max_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return torch.sigmoid(x) * self.max_depth
        if self.kind == "softplus":
            return nn.functional.softplus(x) + self.min_depth
        if self.kind == "exp":
            return torch.exp(x.clamp(max=20.0))
        if self.kind == "disparity":
            return 1.0 / (nn.functional.softplus(x) + 1.0 / self.max_depth)
        if self.kind == "relative":
            return nn.functional.softplus(x)
        return x

    def extra_repr(self) -> str:
        return f"kind={self.kind}, min_depth={self.min_depth}, max_depth={self.max_depth}"
