"""Two 'nodes' on 127.0.0.1 train together; a run killed mid-epoch resumes its steps and its W&B run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, cli_env, read_metrics, run_cli

from depthlab.utils.wandb import previous_run_id, read_offline_run

pytestmark = pytest.mark.slow

SMALL = [
    "data.height=32",
    "data.width=32",
    "data.num_workers=0",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "baseline=false",
    "test=false",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_of_one_process_each_train_together(tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, str(REPO / "train.py"), "trainer=ddp_multinode", "trainer.accelerator=cpu"]
    args += ["trainer.devices=1", *SMALL, "data.num_train=8", "data.num_val=7", "data.batch_size=2"]
    args += ["data.eval_batch_size=4", "trainer.max_epochs=1", "logger=csv", f"hydra.run.dir={run_dir}"]
    env = cli_env(tmp_path) | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    nodes = [
        subprocess.Popen(
            args,
            cwd=REPO,
            env=env | {"NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (1, 0)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[1][-3000:] + outputs[0][-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[0] and "GLOBAL_RANK: 0, MEMBER: 1/2" in outputs[1]
    # 8 train samples, batch 2, 2 ranks: each rank takes 2 steps per epoch
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    assert "val/rmse" in read_metrics(run_dir)


def _global_step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False)["global_step"]


def test_run_killed_mid_epoch_resumes_its_steps_and_its_wandb_run(tmp_path):
    run_dir = tmp_path / "run"
    # 24 steps per epoch, last.ckpt every 4 steps; killed as soon as the first one lands (a small encoder: fast saves)
    overrides = [*SMALL, "data.num_train=48", "data.num_val=4", "data.batch_size=2", "data.eval_batch_size=4"]
    overrides += ["model.encoder=mobilenet_v2", "trainer.max_epochs=2", "trainer.log_every_n_steps=2", "logger=many"]
    overrides += ["callbacks.step_checkpoint.every_n_train_steps=4", f"hydra.run.dir={run_dir}"]
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *overrides],
        cwd=REPO,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        stderr = proc.communicate()[1].decode()
    assert proc.returncode == -signal.SIGKILL, stderr[-3000:]
    killed_at = _global_step(last)
    assert killed_at % 4 == 0 and 0 < killed_at < 24  # mid-epoch 1
    first_id = previous_run_id(run_dir)  # from the run directory's name: the killed run's log may be cut short
    csv_log = run_dir / "csv" / "metrics.csv"
    before = csv_log.read_text() if csv_log.exists() else None

    result = run_cli("train.py", *overrides[:-1], "ckpt_path=last", tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _global_step(last) == 48  # two full epochs in all, not two more
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(f"-{first_id}") for r in runs)
    resumed = read_offline_run(runs[1])
    assert resumed["id"] == first_id
    steps = [row["trainer/global_step"] for row in resumed["history"] if "train/loss_step" in row]
    assert steps and killed_at <= min(steps) and max(steps) >= 44
    # a CSV log the killed part flushed is kept (the resumed part then goes to csv/resume_1)
    if before is not None:
        assert csv_log.read_text() == before and (run_dir / "csv" / "resume_1" / "metrics.csv").is_file()
    assert list(run_dir.glob("csv/**/metrics.csv"))
