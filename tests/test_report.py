"""The metrics table and metrics.json the entry points write."""

from __future__ import annotations

import json

import torch

from depthlab.cli.common import report, scalar_metrics, split_columns


def test_scalar_metrics_keeps_split_keys_as_floats_without_step_epoch_copies():
    raw = {
        "val/rmse": torch.tensor(0.5),
        "train/loss_step": 1.0,
        "train/loss_epoch": 2.0,
        "train/loss": 2.0,
        "lr-AdamW": 0.1,
        "epoch": 3,
    }
    assert scalar_metrics(raw) == {"train/loss": 2.0, "val/rmse": 0.5}


def test_report_writes_json_and_prints_a_row_per_metric(tmp_path, capsys):
    metrics = {"val/rmse": 0.5, "val/delta1": 0.9, "baseline/val/delta1": 0.3}
    path = report(metrics, tmp_path, title="t")
    assert json.loads(path.read_text()) == metrics
    assert split_columns(metrics) == {"val": {"rmse": 0.5, "delta1": 0.9}, "baseline/val": {"delta1": 0.3}}
    out = capsys.readouterr().out
    assert "baseline/val" in out and "0.9000" in out and "0.3000" in out
