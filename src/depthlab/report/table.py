"""Rank a sweep's jobs by one metric and lay the leaderboard out as rows (Markdown and HTML share them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from depthlab.metrics.direction import higher_is_better
from depthlab.report.collect import Job

COLUMNS = ("val/rmse", "val/abs_rel", "val/delta1", "val/iou", "test/rmse", "test/abs_rel", "test/delta1", "test/iou")


def split_overrides(jobs: Sequence[Job]) -> tuple[list[str], list[str]]:
    """(keys whose values differ between jobs, overrides every job shares)."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job.overrides:
            key, _, value = override.partition("=")
            values.setdefault(key, set()).add(value)
    varied = [k for k, v in values.items() if len(v) > 1 or any(not _has(j, k) for j in jobs)]
    shared = [o for o in (jobs[0].overrides if jobs else []) if o.partition("=")[0] not in varied]
    return varied, shared


def _has(job: Job, key: str) -> bool:
    return any(o.partition("=")[0] == key for o in job.overrides)


def label(job: Job, varied: Sequence[str]) -> str:
    """A job's varying overrides (`model=unet loss=l1`), or its directory name."""
    parts = [o for o in job.overrides if o.partition("=")[0] in varied]
    return " ".join(parts) or job.name


def ranking_metric(jobs: Sequence[Job], metric: str | None) -> str:
    """The asked metric, else the sweep's `optimized_metric`, else val/rmse."""
    return metric or next((j.optimized_metric for j in jobs if j.optimized_metric), None) or "val/rmse"


def rank(jobs: Sequence[Job], metric: str) -> list[Job]:
    """Finished jobs best first by `metric` (its direction from the name); failed or unscored jobs last."""
    sign = -1.0 if higher_is_better(metric) else 1.0

    def key(job: Job) -> tuple[int, float]:
        value = job.metrics.get(metric)
        if value is None or math.isnan(value):
            return 1, 0.0
        return 0, sign * value

    return sorted(jobs, key=key)


def columns(jobs: Sequence[Job], metric: str) -> list[str]:
    """The ranking metric first, then the usual val/test metrics that some job logged."""
    return [metric, *(c for c in COLUMNS if c != metric and any(c in j.metrics for j in jobs))]


def rows(jobs: Sequence[Job], metric: str) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the leaderboard."""
    varied, _ = split_overrides(jobs)
    cols = columns(jobs, metric)
    header = ["rank", "job", "overrides", *cols, "status"]
    body = []
    for i, job in enumerate(rank(jobs, metric), start=1):
        cells = [_fmt(job.metrics.get(c)) for c in cols]
        status = "ok" if job.ok else "failed"
        body.append([str(i) if job.ok else "-", job.name, label(job, varied), *cells, status])
    return header, body


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"
