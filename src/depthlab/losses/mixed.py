"""Metric and relative samples in one batch: each sample gets the loss its labels allow (meta.relative).

loss = (n_metric / n) x metric_loss(metric samples) + (n_relative / n) x relative_loss(relative samples):
each part is computed on its own sub-batch exactly as it would be alone, and the two are weighted by their sample
counts, so a batch's loss equals the size-weighted mean of its two halves computed apart.
One network output serves both parts, so it must mean one thing: the relative part's alignment terms (SSI, GM) are
set to read it in depth space (`space`), like the metric part; relative datasets' `depth` grows with distance too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from depthlab.config_dir import CONF_DIR
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

LOSS_TARGET = "depthlab.losses.composite.CompositeLoss"


def loss_config(role: str, loss: str | nn.Module) -> nn.Module:
    """A part named by its conf/loss config (loss.metric=silog), or a loss Hydra already built."""
    if isinstance(loss, nn.Module):
        return loss
    path = CONF_DIR / "loss" / f"{loss}.yaml"
    if not path.is_file() or loss == "mixed":
        known = sorted(p.stem for p in path.parent.glob("*.yaml") if p.stem != "mixed")
        raise DepthlabError(f"loss.{role}={loss} is not a loss config; use one of {', '.join(known)}")
    config = OmegaConf.load(path)
    if config.get("_target_") != LOSS_TARGET:
        raise DepthlabError(f"loss.{role}={loss} is not a CompositeLoss config; pick a depth loss such as silog")
    return instantiate(config)


def relative_flags(batch: Mapping[str, Any]) -> Tensor:
    """meta.relative of each sample as a bool [B] (all metric when the batch carries no meta)."""
    size = batch["depth"].shape[0]
    flags = (batch.get("meta") or {}).get("relative")
    if flags is None:
        return torch.zeros(size, dtype=torch.bool, device=batch["depth"].device)
    return torch.as_tensor(flags, device=batch["depth"].device).bool().reshape(size)


def select(batch: Mapping[str, Any], keep: Tensor) -> dict[str, Any]:
    """The samples where `keep` is true: tensors with a batch axis and per-sample meta lists are indexed."""
    size, index = keep.shape[0], keep.nonzero().flatten()
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Mapping):
            out[key] = select(value, keep)
        elif torch.is_tensor(value) and value.dim() and value.shape[0] == size:
            out[key] = value[index.to(value.device)]
        elif isinstance(value, list | tuple) and len(value) == size:
            out[key] = [value[i] for i in index.tolist()]
        else:
            out[key] = value
    return out


class MixedLoss(nn.Module):
    """Route each sample by meta.relative: metric samples to `metric`, relative ones to `relative` (size-weighted).

    Logged parts: `metric` and `relative` (each part's own total, only when the batch has such samples) and
    their terms as `metric_<term>` / `relative_<term>`. `space` is how the relative terms read the output.
    """

    def __init__(
        self, metric: str | nn.Module = "silog", relative: str | nn.Module = "ssi_gm", space: str = "depth"
    ) -> None:
        super().__init__()
        check_choice("loss.space", space, ("depth", "disparity"))
        self.metric, self.relative = loss_config("metric", metric), loss_config("relative", relative)
        for term in self.relative.modules():
            if hasattr(term, "space"):
                term.space = space  # one output, one meaning: SILog reads it as depth, so SSI / GM must too

    def forward(self, outputs: dict, batch: dict) -> dict[str, Tensor]:
        """{"loss": size-weighted sum of the parts, "metric" / "relative": each part, and their terms}."""
        flags = relative_flags(batch)
        total = outputs["depth"].sum() * 0.0
        values: dict[str, Tensor] = {}
        for name, part, keep in (("metric", self.metric, ~flags), ("relative", self.relative, flags)):
            count = int(keep.sum())
            if count == 0:
                continue
            result = part(select(outputs, keep), select(batch, keep))
            total = total + result["loss"] * (count / flags.numel())
            values[name] = result["loss"]
            values |= {f"{name}_{term}": value for term, value in result.items() if term != "loss"}
        return {"loss": total, **values}
