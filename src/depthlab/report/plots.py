"""The report's figures: validation curves per job, and a bar per job for each leaderboard metric."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from depthlab.report.collect import Job  # noqa: E402

CURVES = ("val/rmse", "val/abs_rel", "val/delta1", "val/loss", "train/loss")


def curves_figure(jobs: Sequence[Job], labels: Sequence[str], path: Path) -> Path | None:
    """One panel per curve metric (x: optimizer step), one line per job; None when no job logged curves."""
    names = [n for n in CURVES if any(n in j.curves for j in jobs)]
    if not names:
        return None
    fig, axes = _panels(len(names), width=4.6, height=3.4)
    for ax, name in zip(axes, names, strict=False):
        for job, text in zip(jobs, labels, strict=True):
            points = job.curves.get(name)
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o", markersize=3, linestyle="-" if job.ok else "--", label=text)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    return _save(fig, path)


def bars_figure(jobs: Sequence[Job], labels: Sequence[str], metrics: Sequence[str], path: Path) -> Path | None:
    """One panel per metric with a bar per finished job; None when no job finished."""
    done = [(j, t) for j, t in zip(jobs, labels, strict=True) if j.ok]
    metrics = [m for m in metrics if any(m in j.metrics for j, _ in done)]
    if not done or not metrics:
        return None
    longest = max(len(t) for _, t in done)
    fig, axes = _panels(len(metrics), width=4.6, height=2.4 + 0.055 * longest)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]  # the curves' colours, job by job
    for ax, metric in zip(axes, metrics, strict=False):
        values = [j.metrics.get(metric, float("nan")) for j, _ in done]
        ax.bar(range(len(done)), values, color=[colors[i % len(colors)] for i in range(len(done))])
        ax.set_xticks(range(len(done)), [t for _, t in done], rotation=35, ha="right", fontsize=7)
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _panels(count: int, width: float, height: float) -> tuple[plt.Figure, list[plt.Axes]]:
    """Up to three panels a row; unused cells hidden."""
    ncols = min(3, count)
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
