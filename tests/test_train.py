"""End-to-end: training lowers the error, eval reproduces it, W&B offline and 2-process DDP log it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
from conftest import REPO, TINY, read_metrics, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from refusals import call

from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.utils.wandb import read_offline_history

pytestmark = pytest.mark.slow
VAL_KEYS = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "mse",
    "rmse_log",
    "log10",
    "silog",
    "mae",
    "delta1",
    "delta2",
    "delta3",
    "ssim",
)


def test_short_training_lowers_val_rmse(tmp_path):
    overrides = [o for o in TINY if not o.startswith(("callbacks", "baseline"))]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                "data.num_train=32",
                f"paths.output_dir={tmp_path}",
                f"paths.root_dir={REPO}",
                "optimizer.lr=0.003",
            ],
        )
    pl.seed_everything(0)
    datamodule, module = instantiate(cfg.data), build_module(cfg)
    trainer = pl.Trainer(
        max_epochs=6,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before = trainer.validate(module, datamodule=datamodule, verbose=False)[0]["val/rmse"]
    trainer.fit(module, datamodule=datamodule)
    after = trainer.validate(module, datamodule=datamodule, verbose=False)[0]["val/rmse"]
    # the default scenes need spatial cues (no haze shortcut): 6 epochs on 32 scenes cut rmse by ~15% (1.44 -> 1.23)
    assert after < 0.9 * before, (before, after)


def _best_checkpoint(run_dir: Path) -> Path:
    best = [p for p in (run_dir / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert len(best) == 1, best
    return best[0]


def test_train_writes_outputs_and_eval_reproduces_val_metrics(tmp_path):
    run_dir = tmp_path / "train"
    result = run_cli(
        "train.py",
        *TINY,
        "trainer.max_epochs=2",
        "logger=csv",
        "baseline=true",
        "loss=ssim_l1_edge",
        "loss.weights.ssim=0.5",
        tmp_path=tmp_path,
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    for split in ("train", "val", "test"):
        assert all(f"{split}/{k}" in metrics for k in VAL_KEYS), sorted(metrics)
    assert {f"baseline/{b}/val/delta1" for b in ("constant", "row_median", "pixel")} <= set(
        metrics
    ) and "delta1" in result.stdout
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and list((run_dir / "panels").glob("*.png"))

    best = _best_checkpoint(run_dir)
    rows = [r for r in csv.DictReader(open(run_dir / "csv" / "metrics.csv")) if r.get("val/rmse")]
    logged = min(float(r["val/rmse"]) for r in rows)  # the best epoch's val/rmse, as logged during fit
    eval_dir = tmp_path / "eval"
    outcome = call("eval", [f"ckpt_path={best}", "split=val", "logger=csv", f"hydra.run.dir={eval_dir}"])
    assert outcome.code == 0, outcome.stderr[-3000:]
    evaluated = read_metrics(eval_dir)
    assert abs(evaluated["val/rmse"] - logged) < 1e-4
    for key in VAL_KEYS:
        assert abs(evaluated[f"val/{key}"] - metrics[f"val/{key}"]) < 1e-4, key


def _offline_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def test_wandb_runs_offline_without_credentials_and_logs_metrics(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train.py", *TINY, "test=false", tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wandb sync" in result.stdout
    runs = _offline_runs(run_dir)
    assert len(runs) == 1
    history = read_offline_history(runs[0])
    logged = [row["val/rmse"] for row in history if "val/rmse" in row]
    assert logged and abs(logged[-1] - read_metrics(run_dir)["val/rmse"]) < 1e-4
    assert any(key.startswith("val/panel") for row in history for key in row)
    assert list(runs[0].glob("files/media/images/val/panel_*.png"))


def test_ddp_spawn_on_two_cpu_processes_syncs_metrics(tmp_path):
    """One W&B run and one CSV log (fit, then the best checkpoint's validate), metrics equal to one process's."""
    run_dir = tmp_path / "ddp"
    result = run_cli(
        "train.py",
        *TINY,
        "trainer=ddp_spawn",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "logger=many",
        "trainer.log_every_n_steps=1",
        "data.num_val=7",  # odd: the ranks get 4 and 3 images, none repeated or dropped
        "test=false",  # the test stage would be one more spawn like validate
        tmp_path=tmp_path,
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(_offline_runs(run_dir)) == 1  # one W&B run, not one per rank
    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    assert any(r.get("train/loss_step") for r in rows) and sum(bool(r["val/rmse"]) for r in rows) >= 2  # fit + validate
    ddp_val = read_metrics(run_dir)
    # one process over the whole val set must give what the two ranks gave together
    outcome = call(
        "eval",
        [f"ckpt_path={_best_checkpoint(run_dir)}", "split=val", "logger=csv", f"hydra.run.dir={tmp_path / 'eval'}"],
    )
    assert outcome.code == 0, outcome.stderr[-3000:]
    single = read_metrics(tmp_path / "eval")
    for key in VAL_KEYS:
        assert abs(single[f"val/{key}"] - ddp_val[f"val/{key}"]) < 1e-4, key


@pytest.mark.parametrize("extra", [["debug=fdr", "model=unet", "loss=ssim_l1_edge"], ["logger=tensorboard"]])
def test_debug_and_logger_variants_complete(extra, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train.py", *TINY, *extra, tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/rmse" in json.loads((run_dir / "metrics.json").read_text())
    if "logger=tensorboard" in extra:
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_debug_overfit_drives_the_train_loss_down(tmp_path):
    run_dir = tmp_path / "run"
    overrides = [*TINY, "debug=overfit", "trainer.max_epochs=6", "logger=csv", "test=false"]
    result = run_cli("train.py", *overrides, tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [r for r in csv.DictReader(open(run_dir / "csv" / "metrics.csv")) if r.get("train/loss_epoch")]
    losses = [float(r["train/loss_epoch"]) for r in rows]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0], losses  # measured: 0.35 after 6
