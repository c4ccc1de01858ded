"""What a NaN / inf loss or gradient does to a run: stop at once (default) or skip the update, counted."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError, NonFiniteLossError

POLICIES = ("stop", "skip")
FIXES = "lower optimizer.lr, set trainer.gradient_clip_val=1.0, or train in trainer.precision=32-true"


class NonFiniteGuard:
    """Checks each training step; `stop` raises (exit code 3) before the bad update, `skip` drops the update."""

    def __init__(self, policy: str = "stop", max_skips: int = 10) -> None:
        check_choice("nan_policy", policy, POLICIES)
        if max_skips < 0:
            raise DepthlabError(f"nan_max_skips={max_skips} must be >= 0")
        self.policy, self.max_skips, self.skipped = policy, max_skips, 0
        self.bad_terms: list[str] = []  # the loss terms that were non-finite in the current step

    def check_loss(self, losses: dict[str, Tensor], step: int) -> None:
        """Name the non-finite terms; under `stop`, raise before backward so the weights stay finite."""
        self.bad_terms = [k for k, v in losses.items() if not bool(torch.isfinite(v.detach()).all())]
        if self.bad_terms and self.policy == "stop":
            raise NonFiniteLossError(self.message(step, f"non-finite loss ({', '.join(self.bad_terms)})"))

    def check_gradients(self, net: nn.Module, step: int) -> bool:
        """True when this update must be dropped: its gradients are NaN / inf (raises under `stop`)."""
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        finite = not self.bad_terms and all(bool(torch.isfinite(g).all()) for g in grads)
        if finite:
            return False
        what = f"non-finite loss ({', '.join(self.bad_terms)})" if self.bad_terms else "non-finite gradients"
        if self.policy == "stop":
            raise NonFiniteLossError(self.message(step, what))
        self.skipped += 1
        if self.skipped > self.max_skips:
            skipped = f" ({self.skipped} updates skipped, more than nan_max_skips={self.max_skips})"
            raise NonFiniteLossError(self.message(step, what, skipped))
        for parameter in net.parameters():
            parameter.grad = None  # optimizers leave parameters without a gradient untouched
        return True

    @staticmethod
    def message(step: int, what: str, extra: str = "") -> str:
        """The one line: where, what, the usual fixes, and what was kept."""
        return (
            f"{what} at training step {step}{extra}; {FIXES} (nan_policy=skip drops such updates); "
            "last.ckpt keeps the last finite weights"
        )
