"""Read a multirun directory: per job its overrides, metrics.json and validation curves (CSV logs or offline W&B)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from depthlab.utils.errors import DepthlabError
from depthlab.utils.wandb import read_offline_history

Curve = list[tuple[int, float]]


@dataclass
class Job:
    """One job of a sweep; `metrics` is empty when it failed or has not finished."""

    name: str
    path: Path
    overrides: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)
    optimized_metric: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.metrics)


def collect_jobs(sweep_dir: str | Path) -> list[Job]:
    """Every job directory (one holding .hydra/overrides.yaml) under sweep_dir, in job-number order."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise DepthlabError(
            f"{root} is not a directory; pass a multirun directory such as outputs/train/multiruns/<time>"
        )
    dirs = sorted({p.parent.parent for p in root.glob("**/.hydra/overrides.yaml")}, key=_job_order)
    if not dirs:
        raise DepthlabError(
            f"{root} holds no Hydra job directories (*/.hydra/overrides.yaml); pass a multirun directory"
        )
    return [_read_job(d, root) for d in dirs]


def _job_order(path: Path) -> tuple:
    return tuple(int(p) if p.isdigit() else math.inf for p in path.parts), str(path)


def _read_job(path: Path, root: Path) -> Job:
    overrides = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text()) or []
    config_file = path / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    metrics_file = path / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    name = str(path.relative_to(root)) if path != root else path.name
    return Job(
        name, path, [str(o) for o in overrides], metrics, read_curves(path), (config or {}).get("optimized_metric")
    )


def read_curves(job_dir: Path) -> dict[str, Curve]:
    """Epoch-level val/* and train/*_epoch values by step: from CSV logs, else from offline W&B runs."""
    rows = [row for f in sorted(job_dir.glob("csv/**/metrics.csv")) for row in _csv_rows(f)]
    if not rows:
        rows = [row for run in sorted(job_dir.glob("wandb/offline-run-*")) for row in _wandb_rows(run)]
    curves: dict[str, dict[int, float]] = {}
    for row in _during_fit(rows):
        step = row.get("step")
        for key, value in row.items():
            if step is None or value is None or not key.startswith(("val/", "train/")) or key.endswith("_step"):
                continue
            curves.setdefault(key.removesuffix("_epoch"), {}).setdefault(int(step), float(value))  # first = fit's
    return {k: sorted(v.items()) for k, v in sorted(curves.items())}


def _during_fit(rows: list[dict[str, float | None]]) -> list[dict[str, float | None]]:
    """Drop rows logged after fitting (validate/test of the best checkpoint come with epoch = max_epochs)."""
    fit_epochs = [
        r["epoch"]
        for r in rows
        if r.get("epoch") is not None and any(k.startswith("train/") and v is not None for k, v in r.items())
    ]
    if not fit_epochs:
        return rows
    last = max(fit_epochs)
    return [r for r in rows if r.get("epoch") is None or r["epoch"] <= last]


def _csv_rows(path: Path) -> list[dict[str, float | None]]:
    with open(path, newline="") as handle:
        return [
            {k: float(v) if v not in ("", None) else None for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def _wandb_rows(run_dir: Path) -> list[dict[str, float | None]]:
    try:
        history = read_offline_history(run_dir)
    except DepthlabError:
        return []
    rows = []
    for entry in history:
        row = {k: v for k, v in entry.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        row["step"] = entry.get("trainer/global_step")
        rows.append(row)
    return rows
