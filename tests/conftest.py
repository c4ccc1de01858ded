"""Shared test helpers: repo paths, the real RGB-D pairs, tiny-run overrides and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from browser import browser_page, static_server  # noqa: F401 (fixtures of the browser tests)

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"

# A synthetic run small enough for CI: 64x64, a handful of scenes, fp32 (exact and fast on any CPU).
TINY = [
    "data.num_train=16",
    "data.num_val=8",
    "data.num_test=8",
    "data.height=64",
    "data.width=64",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "baseline=false",
]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread: tensors in tests are small, and 2 OpenMP threads stall on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for entry-point subprocesses: offline W&B under tmp, one thread, no user config leaks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "HYDRA_"))}
    env |= {
        "WANDB_DIR": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path / ".wandb"),
        "HOME": str(tmp_path),
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    return env


def run_cli(
    script: str, *overrides: str, tmp_path: Path, run_dir: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run `python <script> overrides...` from the repo root with its Hydra run dir under tmp_path."""
    args = [sys.executable, str(REPO / script), *overrides]
    if run_dir is not None:
        args.append(f"hydra.run.dir={run_dir}")
    return subprocess.run(args, cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=timeout)


def read_metrics(run_dir: Path) -> dict[str, float]:
    """The metrics.json a train or eval run wrote."""
    return json.loads((run_dir / "metrics.json").read_text())


# Worktrees (/work/wt/issueN) sit one level deeper than the main checkout: find the shared real pairs upwards.
if not REAL.is_dir():
    REAL = next((p / "shared/data/real" for p in REPO.parents if (p / "shared/data/real").is_dir()), REAL)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """A refused CLI run: non-zero exit, one `depthlab: error:` line with every needle, no traceback."""
    assert result.returncode != 0, result.stdout[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("depthlab: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
