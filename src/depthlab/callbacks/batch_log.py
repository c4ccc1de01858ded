"""Which samples each training step saw: one JSON line per batch, to check data order (e.g. across a resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class BatchLog(Callback):
    """Append {epoch, batch, step, index} per training batch to <dirpath>/batches.rank<r>.jsonl, flushed per line."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Written before the step runs, so a killed run still shows the batch it died on."""
        index = batch["meta"]["index"]
        row = {
            "epoch": trainer.current_epoch,
            "batch": batch_idx,
            "step": trainer.global_step,
            "index": index.tolist() if hasattr(index, "tolist") else list(index),
        }
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with open(self.dirpath / f"batches.rank{trainer.global_rank}.jsonl", "a") as file:
            file.write(json.dumps(row) + "\n")
