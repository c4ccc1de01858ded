"""Bad input from the command line: one line on stderr naming the problem and the fix, non-zero exit."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, run_cli


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode != 0, result.stdout[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("depthlab: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (["foo=1"], ["bad override", "foo"]),
        (["model=nope"], ["bad override", "model/nope", "unet"]),
        (["data.num_workers=-1"], ["data.num_workers=-1 is negative"]),
        (["data.height=100"], ["input size 100x64 is not divisible by 32", "data.height=96"]),
        (["ckpt_path=/does/not/exist.ckpt"], ["ckpt_path=/does/not/exist.ckpt does not exist"]),
        (["model.head=relu"], ["model.head='relu' is unknown"]),
        (["loss=ssim_l1_edge", "loss.weights.ssim=-1"], ["loss.weights.ssim=-1.0 must be >= 0"]),
    ],
)
def test_train_rejects_bad_input(overrides, needles, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train.py", *TINY, *overrides, tmp_path=tmp_path, run_dir=run_dir, timeout=300)
    assert_one_line_error(result, *needles)
    assert not (run_dir / "metrics.json").exists()


def test_eval_rejects_missing_and_corrupt_checkpoints(tmp_path):
    missing = run_cli("eval.py", "ckpt_path=/nope/best.ckpt", tmp_path=tmp_path, run_dir=tmp_path / "a")
    assert_one_line_error(missing, "ckpt_path=/nope/best.ckpt does not exist")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    bad = run_cli("eval.py", f"ckpt_path={corrupt}", tmp_path=tmp_path, run_dir=tmp_path / "b")
    assert_one_line_error(bad, "is not a readable PyTorch checkpoint")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    other = run_cli("eval.py", f"ckpt_path={foreign}", tmp_path=tmp_path, run_dir=tmp_path / "c")
    assert_one_line_error(other, "was not written by depthlab")
    assert corrupt.read_bytes() == b"not a checkpoint"  # nothing overwritten


def test_eval_requires_a_checkpoint(tmp_path):
    result = run_cli("eval.py", tmp_path=tmp_path, run_dir=tmp_path / "a")
    assert_one_line_error(result, "ckpt_path")
