"""Pieces shared by the entry points: instantiating config sections, metric tables, metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from depthlab.metrics import DEPTH_METRIC_KEYS

SPLITS = ("train", "val", "test")


def instantiate_all(section: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config section (callbacks, loggers); null entries are skipped."""
    if not section:
        return []
    return [instantiate(node) for node in section.values() if node and "_target_" in node]


def scalar_metrics(values: dict[str, Any], prefixes: tuple[str, ...] = SPLITS) -> dict[str, float]:
    """Keep `{split}/{name}` entries as plain floats (without Lightning's `_step` / `_epoch` duplicates)."""
    out = {}
    for key, value in values.items():
        if key.split("/", 1)[0] in prefixes and not key.endswith(("_step", "_epoch")):
            out[key] = float(value)
    return dict(sorted(out.items()))


def metrics_table(columns: dict[str, dict[str, float]], title: str) -> Table:
    """A rich table with one row per metric name and one column per split or source."""
    names = [n for n in (*DEPTH_METRIC_KEYS, "whdr", "iou", "dice", "loss") if any(n in c for c in columns.values())]
    table = Table(title=title)
    table.add_column("metric")
    for header in columns:
        table.add_column(header, justify="right")
    for name in names:
        cells = [columns[h].get(name) for h in columns]
        table.add_row(name, *(format_value(v) for v in cells))
    return table


def format_value(value: float | None) -> str:
    """A table cell: '-' when the metric was not logged, 'nan' / 'inf' when it was but is not finite."""
    if value is None:
        return "-"
    return f"{value:.4f}" if math.isfinite(value) else str(value).lower()


def split_columns(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{'val/rmse': x} -> {'val': {'rmse': x}} in split order."""
    columns: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        prefix, _, name = key.rpartition("/")
        columns.setdefault(prefix, {})[name] = value
    return columns


def report(metrics: dict[str, float], output_dir: str | Path, title: str, quiet: bool = False) -> Path:
    """Print the metrics table and write metrics.json into the run directory (quiet: write only)."""
    if not quiet:
        columns = split_columns(metrics)  # data=mix adds a column per source: widen rather than squeeze
        Console(width=max(Console().width, 20 + 14 * len(columns))).print(metrics_table(columns, title))
    return write_metrics(metrics, output_dir, quiet)


def write_metrics(metrics: dict[str, float], output_dir: str | Path, quiet: bool = False) -> Path:
    """Write metrics.json atomically as strict JSON: a non-finite value is null (readable by any JSON parser)."""
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    strict = {k: v if v is None or math.isfinite(v) else None for k, v in metrics.items()}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(strict, indent=2, sort_keys=True, allow_nan=False) + "\n")
    partial.replace(path)
    if not quiet:
        print(f"metrics written to {path}")
    return path
