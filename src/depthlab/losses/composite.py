"""Weighted sum of named loss terms, built from config (conf/loss/*.yaml) with hydra.utils.instantiate."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from depthlab.utils.errors import DepthlabError


def _check_weights(names: list[str], weights: Mapping[str, float]) -> None:
    """One-line errors naming the offending key, since a typo in YAML would otherwise drop a term silently."""
    for name in names:
        if name not in weights:
            raise DepthlabError(f"loss term {name!r} has no weight; add loss.weights.{name}=<w>")
        if name == "loss":
            raise DepthlabError("loss term name 'loss' is reserved for the weighted sum")
    for name, weight in weights.items():
        if name not in names:
            raise DepthlabError(f"loss.weights.{name} has no loss term; remove it or add loss.terms.{name}")
        if not 0 <= weight < math.inf:
            raise DepthlabError(f"loss.weights.{name}={weight} must be >= 0 and finite")


class CompositeLoss(nn.Module):
    """Weighted sum of loss terms, so a loss recipe is pure config; terms with weight 0 are only logged."""

    def __init__(self, terms: Mapping[str, nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        names = [str(k) for k in terms]
        weight_map = {str(k): float(w) for k, w in weights.items()}
        _check_weights(names, weight_map)
        self.terms = nn.ModuleDict({str(k): terms[k] for k in terms})
        self.weights = weight_map

    def forward(self, outputs: dict, batch: dict) -> dict[str, Tensor]:
        """{"loss": weighted sum of the active terms, name: unweighted value of every term}."""
        values: dict[str, Tensor] = {}
        total: Tensor | None = None
        for name, term in self.terms.items():
            weight = self.weights[name]
            with torch.set_grad_enabled(torch.is_grad_enabled() and weight > 0):
                values[name] = term(outputs, batch)
            if weight > 0:
                total = weight * values[name] if total is None else total + weight * values[name]
        if total is None:  # every weight is 0: a zero that still backpropagates
            total = outputs["depth"].sum() * 0.0
        return {"loss": total, **values}

    def extra_repr(self) -> str:
        return f"weights={self.weights}"
