"""Interrupted runs: Ctrl+C, SIGTERM and SLURM pre-emption leave a checkpoint, a killed run keeps its CSV curves,
a resumed run sees the rest of its epoch in the uninterrupted order, and a NaN score never becomes `best`."""

from __future__ import annotations

import csv
import json
import math
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from conftest import REPO, cli_env, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import SIGTERMException
from submitit.slurm.slurm import _make_sbatch_string

from depthlab.callbacks.checkpoint import FiniteModelCheckpoint
from depthlab.callbacks.interrupt import SIGTERM_EXIT_CODE, InterruptCheckpoint
from depthlab.cli import resume
from depthlab.config_dir import CONF_DIR
from depthlab.data import SyntheticDataModule
from depthlab.utils.csv_logger import CSVLogger
from depthlab.utils.errors import DepthlabError

# 32 train scenes in batches of 4: 8 steps per epoch, 2 epochs; every batch's sample ids go to batches.rank0.jsonl
RUN = [
    "data.num_train=32",
    "data.num_val=4",
    "data.num_test=4",
    "data.height=32",
    "data.width=32",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.num_workers=0",
    "model.encoder=mobilenet_v2",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "baseline=false",
    "test=false",
    "logger=csv",
    "debug=batch_log",
    "monitor=val/delta1",
]
STEPS = 16
SLURM = {
    "SLURM_NTASKS": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "depthlab",
}


# ---------------------------------------------------------------------------------------------- in-process pieces


class Scripted(BoringModel):
    """Logs val/score from a script, one value per epoch; raises `error` at training step `fail_at`."""

    def __init__(self, scores: list[float] | None = None, fail_at: int = -1, error: BaseException | None = None):
        super().__init__()
        self.scores, self.fail_at, self.error = scores or [], fail_at, error

    def training_step(self, batch, batch_idx):
        if self.global_step == self.fail_at:
            raise self.error
        return super().training_step(batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        if self.scores:
            self.log("val/score", self.scores[self.current_epoch])


def _trainer(root: Path, callbacks: list, epochs: int = 1) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=root,
        max_epochs=epochs,
        limit_train_batches=4,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


@pytest.mark.parametrize(
    ("mode", "scores", "best"),
    [("max", [0.5, math.inf, 0.75], 0.75), ("min", [math.nan, 2.0, 1.0], 1.0), ("min", [math.nan], None)],
)
def test_a_non_finite_score_never_becomes_a_top_k_checkpoint(mode, scores, best, tmp_path):
    finite = FiniteModelCheckpoint(dirpath=tmp_path / "finite", monitor="val/score", mode=mode, save_last=True)
    stock = ModelCheckpoint(dirpath=tmp_path / "stock", monitor="val/score", mode=mode)
    _trainer(tmp_path, [finite, stock], epochs=len(scores)).fit(Scripted(scores))
    kept = [float(v) for v in finite.best_k_models.values()]
    assert all(math.isfinite(v) for v in kept) and kept == ([best] if best is not None else [])
    assert (float(finite.best_model_score) if best is not None else finite.best_model_path) == (best or "")
    assert (tmp_path / "finite" / "last.ckpt").is_file()  # last.ckpt stays Lightning's: the state to resume
    if best != 1.0:  # Lightning's own callback keeps the inf winner / the lone NaN
        assert not math.isfinite(float(stock.best_model_score))


@pytest.mark.parametrize(
    ("error", "code"), [(KeyboardInterrupt(), 1), (SIGTERMException(), SIGTERM_EXIT_CODE)], ids=["INT", "TERM"]
)
def test_an_interrupted_fit_saves_last_ckpt_at_its_step_and_exits_non_zero(error, code, tmp_path):
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores further Ctrl+C after the first
    try:
        with pytest.raises(SystemExit) as exited:
            _trainer(tmp_path, [InterruptCheckpoint(str(tmp_path))]).fit(Scripted(fail_at=3, error=error))
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert exited.value.code == code
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 3


def test_no_interrupt_checkpoint_before_training_or_outside_fit_and_a_clean_fit_keeps_last_ckpt(tmp_path):
    class FailsInSetup(BoringModel):
        def on_fit_start(self) -> None:
            raise RuntimeError("before training")

    with pytest.raises(RuntimeError):
        _trainer(tmp_path, [InterruptCheckpoint(str(tmp_path))]).fit(FailsInSetup())
    assert not (tmp_path / "last.ckpt").exists()  # a failed restore must not overwrite the checkpoint it restores
    trainer = _trainer(tmp_path, [InterruptCheckpoint(str(tmp_path)), ModelCheckpoint(tmp_path, save_last=True)])
    trainer.fit(Scripted())
    assert (tmp_path / "last.ckpt").is_file()  # OnExceptionCheckpoint would delete it at teardown
    before = (tmp_path / "last.ckpt").read_bytes()
    with pytest.raises(RuntimeError):
        trainer.validate(Scripted(), dataloaders=_failing_loader())
    assert (tmp_path / "last.ckpt").read_bytes() == before


def _failing_loader() -> list:
    class Broken:
        def __iter__(self):
            raise RuntimeError("broken val data")

        def __len__(self) -> int:
            return 1

    return [Broken()]


def test_csv_logger_copies_of_one_writer_keep_each_others_columns(tmp_path):
    logger = CSVLogger(save_dir=tmp_path, name="csv", version="")
    logger.log_hyperparams({"lr": 1.0})  # train.py does this before fit: the writer exists in the main process
    fit, validate = (pickle.loads(pickle.dumps(logger)) for _ in range(2))  # what ddp_spawn gives each stage
    fit.log_metrics({"train/loss": 1.0}, step=0)
    fit.save()
    validate.log_metrics({"val/rmse": 2.0}, step=1)
    validate.save()  # Lightning's writer: ValueError: dict contains fields not in fieldnames: 'train/loss'
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert rows == [
        {"step": "0", "train/loss": "1.0", "val/rmse": ""},
        {"step": "1", "train/loss": "", "val/rmse": "2.0"},
    ]


def test_train_order_is_a_function_of_seed_and_epoch_and_a_restored_position_continues_it(monkeypatch):
    dm = SyntheticDataModule(num_train=16, num_val=1, num_test=1, height=16, width=16, batch_size=4)

    def epoch(number: int) -> list[list[int]]:
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(number)  # what Lightning does at each epoch start
        return [batch["meta"]["index"].tolist() for batch in loader]

    monkeypatch.setenv("PL_GLOBAL_SEED", "7")  # what seed_everything(7) sets
    full = epoch(0)
    assert sorted(sum(full, [])) == list(range(16)) and epoch(0) == full and epoch(1) != full
    dm.load_state_dict({"train_order": {"epoch": 0, "batches": 2}})  # what a mid-epoch checkpoint hands back
    assert epoch(0) == full[2:] and epoch(0) == full  # the next epoch's loader starts afresh
    monkeypatch.setenv("PL_GLOBAL_SEED", "8")
    assert epoch(0) != full


def _cfg(tmp_path: Path, *overrides: str, hydra: bool = False):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        overrides = (f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *overrides)
        return compose("train", overrides=list(overrides), return_hydra_config=hydra)


def _no_slurm(monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)


def test_a_run_directory_holding_last_ckpt_is_resumed_only_when_asked(tmp_path, monkeypatch):
    _no_slurm(monkeypatch)
    cfg = _cfg(tmp_path)
    assert resume.checkpoint_path(cfg) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(DepthlabError, match=r"already holds checkpoints/last.ckpt; pass ckpt_path=last to resume"):
        resume.checkpoint_path(cfg)


def test_a_requeued_slurm_job_resumes_its_newest_checkpoint_in_its_run(tmp_path, monkeypatch):
    _no_slurm(monkeypatch)
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    cfg = _cfg(tmp_path, "logger=many")
    assert resume.checkpoint_path(cfg) is None  # a first start
    hpc, last = tmp_path / "hpc_ckpt_1.ckpt", tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    for age, path in enumerate((last, hpc)):
        path.write_bytes(b"x")
        os.utime(path, (1e9 - age, 1e9 - age))
    assert resume.checkpoint_path(cfg) == str(last)
    os.utime(hpc, (2e9, 2e9))
    assert resume.checkpoint_path(cfg) == str(hpc)
    (tmp_path / "wandb" / "offline-run-20250101_000000-abcd1234").mkdir(parents=True)
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text("step\n1\n")
    resume.continue_loggers(cfg, str(hpc))  # the hpc checkpoint sits in the run directory itself
    assert cfg.logger.wandb.id == "abcd1234" and cfg.logger.csv.version == "resume_1"


def test_the_slurm_launcher_asks_for_lightnings_requeue_signal(tmp_path):
    launcher = instantiate(_cfg(tmp_path, "hydra/launcher=submitit_slurm", hydra=True).hydra.launcher)
    params = {k: launcher.params[k] for k in ("signal_delay_s", "additional_parameters")}  # what it hands submitit
    sbatch = _make_sbatch_string(command="python train.py", folder=tmp_path, **params).splitlines()
    assert [line for line in sbatch if "--signal" in line] == ["#SBATCH --signal=USR1@90"]


# ------------------------------------------------------------------------------------------------ real train.py runs


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "batches.rank0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _order(rows: list[dict]) -> list[list[int]]:
    """Sample ids by (epoch, batch); a resumed run's record replaces the killed run's."""
    seen = {(row["epoch"], row["batch"]): row["index"] for row in rows}
    return [seen[key] for key in sorted(seen)]


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False)["global_step"]


def _start(run_dir: Path, env: dict[str, str], *overrides: str) -> subprocess.Popen:
    """train.py in its own session (so a kill reaches only it), output into <run dir>.out, SIGINT not ignored."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *RUN, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        env=env,
        stdout=open(f"{run_dir}.out", "a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait(proc: subprocess.Popen, ready: Callable[[], bool], run_dir: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"train.py ended or stalled before it was ready:\n{Path(f'{run_dir}.out').read_text()[-3000:]}")
        time.sleep(0.05)


def _resumed_in_order(run_dir: Path, env: dict[str, str], reference: Path, step: int, *overrides: str) -> str:
    """Run the resume command; the new records start at the checkpoint's step and complete the reference order."""
    before = len(_rows(run_dir))
    proc = _start(run_dir, env, *overrides)
    assert proc.wait(timeout=600) == 0, Path(f"{run_dir}.out").read_text()[-3000:]
    resumed = _rows(run_dir)[before:]
    assert [row["step"] for row in resumed] == list(range(step, STEPS))  # nothing skipped, nothing repeated
    assert _order(_rows(run_dir)) == _order(_rows(reference))
    assert _step(run_dir / "checkpoints" / "last.ckpt") == STEPS
    return Path(f"{run_dir}.out").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run: the data order interrupted runs must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    result = run_cli("train.py", *RUN, tmp_path=root, run_dir=root / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [row["step"] for row in _rows(root / "run")] == list(range(STEPS))
    return root / "run"


@pytest.mark.slow
def test_monitoring_delta1_keeps_the_highest_delta1_as_best(reference):
    rows = csv.DictReader(open(reference / "csv" / "metrics.csv"))
    values = [float(r["val/delta1"]) for r in rows if r["val/delta1"]]
    states = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]
    best = next(v for k, v in states.items() if k.startswith("FiniteModelCheckpoint"))
    assert len(set(values)) > 1  # the epochs differ, so mode min would keep another checkpoint
    assert float(best["best_model_score"]) == pytest.approx(max(values))
    assert re.fullmatch(r"epoch\d{3}-rmse\d+\.\d{4}\.ckpt", Path(best["best_model_path"]).name)
    assert Path(best["best_model_path"]).is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, SIGTERM_EXIT_CODE), (signal.SIGINT, 1)], ids=["TERM", "INT"]
)
def test_a_signalled_run_saves_last_ckpt_exits_non_zero_and_resumes_the_same_batches(sig, code, reference, tmp_path):
    run_dir, env = tmp_path / "run", cli_env(tmp_path)
    proc = _start(run_dir, env)
    _wait(proc, lambda: len(_rows(run_dir)) >= 2, run_dir)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == code, Path(f"{run_dir}.out").read_text()[-3000:]
    step = _step(run_dir / "checkpoints" / "last.ckpt")
    # mid-epoch 0, at the signal's batch: SIGTERM lets it finish first, Ctrl+C drops it (the resume redoes it)
    assert 1 <= step < STEPS // 2
    _resumed_in_order(run_dir, env, reference, step, "ckpt_path=last")


@pytest.mark.slow
def test_a_killed_run_keeps_its_csv_rows_and_resumes_its_step_checkpoint_in_order(reference, tmp_path):
    run_dir, env = tmp_path / "run", cli_env(tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    every_3 = "callbacks.step_checkpoint.every_n_train_steps=3"
    proc = _start(run_dir, env, every_3)
    _wait(proc, last.exists, run_dir)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    step = _step(last)
    assert step == 3
    rows = [r for r in csv.DictReader(open(run_dir / "csv" / "metrics.csv")) if r.get("train/loss_step")]
    # every step logged before the checkpointed batch (step 2 logs after its checkpoint) reached the disk
    assert [int(r["step"]) for r in rows][: step - 1] == list(range(step - 1))
    _resumed_in_order(run_dir, env, reference, step, every_3, "ckpt_path=last")


@pytest.mark.slow
def test_slurm_requeue_signal_saves_an_hpc_checkpoint_requeues_and_the_same_command_resumes(reference, tmp_path):
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol.args"
    bin_dir.mkdir()
    # records its arguments, then kills the job as a requeue does (SIGKILL: no last.ckpt, the hpc one must serve)
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nkill -KILL $PPID\n')
    (bin_dir / "scontrol").chmod(0o755)
    env = {k: v for k, v in cli_env(tmp_path).items() if not k.startswith("SLURM_")} | SLURM
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    run_dir = tmp_path / "run"
    proc = _start(run_dir, env)
    _wait(proc, lambda: len(_rows(run_dir)) >= 2, run_dir)
    proc.send_signal(signal.SIGUSR1)
    assert proc.wait(timeout=120) == -signal.SIGKILL, Path(f"{run_dir}.out").read_text()[-3000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    hpc = run_dir / "hpc_ckpt_1.ckpt"
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()
    output = _resumed_in_order(run_dir, env, reference, _step(hpc))  # the same command, as SLURM re-runs it
    assert f"Restored all states from the checkpoint at {hpc}" in output
