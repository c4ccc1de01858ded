"""A rich progress bar in terminals; a plain, sparsely refreshed one in logs (SLURM, CI, pipes)."""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar


def progress_bar(log_refresh_rate: int = 50) -> ProgressBar:
    """RichProgressBar when stdout is a terminal (rich draws nothing useful into files), else TQDM lines."""
    if sys.stdout.isatty():
        return RichProgressBar()
    return TQDMProgressBar(refresh_rate=log_refresh_rate)
