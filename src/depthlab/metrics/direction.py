"""Which way a logged metric improves: sweepers, checkpoints and leaderboards rank by it."""

from __future__ import annotations

MAXIMIZED = ("delta1", "delta2", "delta3", "ssim", "iou", "dice")


def metric_direction(name: str) -> str:
    """`maximize` for accuracies and overlaps (delta*, ssim, iou, dice), `minimize` for errors and losses."""
    return "maximize" if str(name).rsplit("/", 1)[-1] in MAXIMIZED else "minimize"


def metric_mode(name: str) -> str:
    """The same direction in Lightning / PyTorch words (`max` / `min`), for checkpoints, early stopping, plateau."""
    return "max" if metric_direction(name) == "maximize" else "min"
