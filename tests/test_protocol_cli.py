"""End-to-end: train with a relative-depth loss and protocol from the command line, then zero-shot eval.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, read_metrics, run_cli
from refusals import call


@pytest.mark.slow
def test_train_with_protocol_then_eval_on_a_dataset_list(tmp_path: Path) -> None:
    run_dir = tmp_path / "train"
    args = [*TINY, "logger=csv", "loss=ssi_gm", "protocol=relative", "test=false"]
    result = run_cli("train.py", *args, tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(run_dir)
    assert 0 <= metrics["val/whdr"] <= 1 and metrics["val/rmse"] > 0  # aligned in disparity space, plus WHDR
    ckpt = next((run_dir / "checkpoints").glob("last.ckpt"))
    eval_dir = tmp_path / "eval"
    small = ["+data.num_train=2", "+data.num_test=4", "+data.height=64", "+data.width=64", "+data.num_workers=0"]
    args = [f"ckpt_path={ckpt}", "datasets=[synthetic]", "+protocol.flip=true", *small, "logger=csv"]
    outcome = call("eval", [*args, f"hydra.run.dir={eval_dir}"])
    assert outcome.code == 0, outcome.stderr[-2000:]
    evaluated = read_metrics(eval_dir)
    assert 0 <= evaluated["synthetic/test/delta1"] <= 1 and "synthetic/test/whdr" not in evaluated
