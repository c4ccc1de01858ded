"""Which way a logged metric improves: sweepers, checkpoints and leaderboards rank by it."""

from __future__ import annotations

MAXIMIZED = ("delta1", "delta2", "delta3", "ssim", "iou", "dice")


def higher_is_better(name: str) -> bool:
    """True for accuracies and overlaps (delta*, ssim, iou, dice), False for errors and losses; `val/` ignored."""
    return str(name).rsplit("/", 1)[-1] in MAXIMIZED


def metric_direction(name: str) -> str:
    """The same direction in Optuna's words (`maximize` / `minimize`), for sweeps and leaderboards."""
    return "maximize" if higher_is_better(name) else "minimize"


def metric_mode(name: str) -> str:
    """The same direction in Lightning / PyTorch words (`max` / `min`), for checkpoints, early stopping, plateau."""
    return "max" if metric_direction(name) == "maximize" else "min"
