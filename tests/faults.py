"""Loss terms that fail on purpose, injected from the command line: +loss.terms.fault={_target_: faults.X}."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.losses.composite import CompositeLoss


class NaNAfter(nn.Module):
    """0 for the first `steps` training calls, then NaN: a run that diverges at a known step."""

    def __init__(self, steps: int = 3) -> None:
        super().__init__()
        self.steps, self.calls = steps, 0

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> Tensor:
        zero = outputs["depth"].sum() * 0.0
        if not self.training:
            return zero
        self.calls += 1
        return zero + (torch.nan if self.calls > self.steps else 0.0)


class TrustedLoss(CompositeLoss):
    """A user's own loss class: loads from a checkpoint only once `trusted_targets=[faults.]` trusts it."""
