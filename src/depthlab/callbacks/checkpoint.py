"""ModelCheckpoint that never ranks a NaN / inf score: a diverged epoch cannot become the `best` checkpoint."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_warn


class FiniteModelCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint whose top-k (and so `best_model_path`) only admits finite monitored values.

    Lightning ranks a NaN as the worst score but still keeps it while fewer than `save_top_k` checkpoints exist
    (a NaN first validation became `best`), and an `inf` wins under mode=max. `last.ckpt` is left to Lightning: it
    is the training state to resume from, written whatever the score, so after a divergence it may hold
    non-finite weights while `best` keeps the last finite-scored ones.
    """

    def check_monitor_top_k(self, trainer: pl.Trainer, current: torch.Tensor | None = None) -> bool:
        """Refuse non-finite values before Lightning's ranking (the decision is shared across ranks)."""
        if current is None:
            return False
        finite = bool(torch.isfinite(torch.as_tensor(current)).all())
        if not trainer.strategy.reduce_boolean_decision(finite, all=True):
            rank_zero_warn(
                f"{self.monitor}={float(current)} is not finite: not kept as a top-{self.save_top_k} checkpoint "
                f"(best stays {self.best_model_path or 'unset'})"
            )
            return False
        return super().check_monitor_top_k(trainer, current)
