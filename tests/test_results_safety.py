"""Finished results are never lost: metrics.json first and strict, optional extras cannot fail a run."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TINY
from refusals import call

from depthlab.callbacks.image_panels import ImagePanels
from depthlab.cli.common import format_value, metrics_table, write_metrics
from depthlab.cli.train import optimized_value
from depthlab.utils.errors import DepthlabError


def _reject(constant: str) -> None:
    raise ValueError(f"non-standard JSON constant {constant}")


def test_metrics_json_is_strict(tmp_path):
    path = write_metrics({"val/rmse": math.nan, "val/delta1": math.inf, "val/mae": 0.5}, tmp_path)
    assert json.loads(path.read_text(), parse_constant=_reject) == {
        "val/rmse": None,
        "val/delta1": None,
        "val/mae": 0.5,
    }
    assert not list(tmp_path.glob(".*partial"))


def test_table_tells_nan_from_not_logged():
    assert [format_value(v) for v in (None, math.nan, math.inf, 0.12345)] == ["-", "nan", "inf", "0.1235"]
    table = metrics_table({"val": {"rmse": math.nan}, "test": {}}, "t")
    cells = [list(column.cells) for column in table.columns]
    assert cells[0] == ["rmse"] and cells[1] == ["nan"] and cells[2] == ["-"]


def test_optimized_metric_of_a_loop_that_was_off_is_none():
    assert optimized_value("val/rmse", {"train/rmse": 1.0}) is None
    assert optimized_value("val/rmse", {"val/rmse": 2.0}) == 2.0
    with pytest.raises(DepthlabError, match="optimized_metric=val/rsme was not logged"):
        optimized_value("val/rsme", {"val/rmse": 2.0})


@pytest.mark.slow
def test_failing_extras_do_not_lose_the_run(tmp_path, monkeypatch):
    """A crashing constant baseline, image panel and point cloud: exit 0, metrics.json with every val/test metric."""

    def boom(*args, **kwargs):
        raise RuntimeError("extra exploded")

    monkeypatch.setattr("depthlab.cli.train.baselines", boom)
    monkeypatch.setattr(ImagePanels, "make_panel", boom)
    monkeypatch.setattr(ImagePanels, "make_point_clouds", boom)
    run = tmp_path / "run"
    tiny = [a for a in TINY if not a.startswith("baseline=")]
    outcome = call("train", [*tiny, "logger=csv", "baseline=true", f"hydra.run.dir={run}"])
    assert outcome.code == 0, outcome.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val/rmse"] > 0 and metrics["test/rmse"] > 0
    assert not any(key.startswith("baseline/") for key in metrics)
    assert not (run / "panels").exists() or not list((run / "panels").iterdir())


@pytest.mark.slow
def test_training_without_validation(tmp_path):
    """trainer.limit_val_batches=0 (Lightning's switch) trains and tests; no val keys, no crash."""
    run = tmp_path / "run"
    outcome = call("train", [*TINY, "logger=csv", "trainer.limit_val_batches=0", f"hydra.run.dir={run}"])
    assert outcome.code == 0, outcome.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert "test/rmse" in metrics and "train/loss" in metrics
    assert not any(key.startswith("val/") for key in metrics)
    assert (run / "checkpoints" / "last.ckpt").is_file()
