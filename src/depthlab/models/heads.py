"""Output parametrisations that map a decoder's raw channel to positive depth."""

from __future__ import annotations

import torch
from torch import nn

from depthlab.utils.errors import DepthlabError

HEADS = ("sigmoid", "softplus", "exp", "identity")


class DepthActivation(nn.Module):
    """Turn raw logits into depth: sigmoid x max_depth, softplus, exp (log-depth) or identity."""

    def __init__(self, kind: str = "sigmoid", min_depth: float = 1e-3, max_depth: float = 10.0) -> None:
        super().__init__()
        if kind not in HEADS:
            raise DepthlabError(f"model.head={kind!r} is unknown; use one of {', '.join(HEADS)}")
        self.kind, self.min_depth, self.max_depth = kind, float(min_depth), float(max_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return torch.sigmoid(x) * self.max_depth
        if self.kind == "softplus":
            return nn.functional.softplus(x) + self.min_depth
        if self.kind == "exp":
            return torch.exp(x.clamp(max=20.0))
        return x

    def extra_repr(self) -> str:
        return f"kind={self.kind}, min_depth={self.min_depth}, max_depth={self.max_depth}"
