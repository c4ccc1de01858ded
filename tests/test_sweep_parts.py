"""Fast checks of the sweep pieces: leaderboard ranking, resume lookups, W&B tagging, search and launcher configs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from depthlab.cli import resume
from depthlab.cli.report import main as report_main
from depthlab.config_dir import CONF_DIR
from depthlab.metrics.direction import metric_direction
from depthlab.report import collect_jobs, write_report
from depthlab.utils.errors import DepthlabError
from depthlab.utils.wandb import make_wandb_logger, previous_run_id

REPO = Path(__file__).resolve().parents[1]


def _job(root: Path, num: int, overrides: list[str], metrics: dict | None, csv_rows: str | None = None) -> None:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"optimized_metric": "val/delta1"}))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if csv_rows:
        (job / "csv").mkdir()
        (job / "csv" / "metrics.csv").write_text(csv_rows)


CSV = (
    "epoch,step,train/loss_epoch,val/rmse,val/delta1\n0,4,,2.0,0.3\n0,4,3.0,,\n1,9,,1.5,0.5\n1,9,2.5,,\n2,10,,1.5,0.5\n"
)


def test_leaderboard_ranks_by_the_sweeps_metric_and_lists_failed_jobs_last(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["loss=l1", "seed=1"], {"val/rmse": 1.0, "val/delta1": 0.6}, CSV)
    _job(sweep, 1, ["loss=ssim", "seed=1"], None)
    _job(sweep, 2, ["loss=edge", "seed=1"], {"val/rmse": 0.9, "val/delta1": 0.8})
    page = write_report(sweep)
    table = (sweep / "report" / "leaderboard.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "rank" not in line]
    # delta1 is maximised: job 2 (0.8) before job 0 (0.6); the failed job last, unranked
    assert rows == [
        "| 1 | 2 | loss=edge | 0.8000 | 0.9000 | ok |",
        "| 2 | 0 | loss=l1 | 0.6000 | 1.0000 | ok |",
        "| - | 1 | loss=ssim | - | - | failed |",
    ]
    assert "ranked by `val/delta1` (maximized)" in table and "Shared overrides: `seed=1`" in table
    html = page.read_text()
    assert 'class="best"' in html and 'class="failed"' in html and (sweep / "report" / "curves.png").is_file()
    curves = collect_jobs(sweep)[0].curves
    # the post-fit validate row (epoch 2 = max_epochs) is not part of the curve
    assert curves["val/rmse"] == [(4, 2.0), (9, 1.5)] and curves["train/loss"] == [(4, 3.0), (9, 2.5)]


def test_report_cli_errors_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("depthlab: error: ") and "multirun directory" in err and "\n" not in err
    with pytest.raises(SystemExit):
        report_main([str(tmp_path)])
    assert "holds no Hydra job directories" in capsys.readouterr().err


def test_metric_direction():
    assert [metric_direction(k) for k in ("val/rmse", "val/delta1", "test/ssim", "val/loss", "iou")] == [
        "minimize",
        "maximize",
        "maximize",
        "minimize",
        "maximize",
    ]


def _cfg(tmp_path: Path, *overrides: str, hydra: bool = False):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *overrides],
            return_hydra_config=hydra,
        )
    return cfg


def test_ckpt_path_last_needs_a_run_directory_with_a_checkpoint(tmp_path):
    with pytest.raises(DepthlabError, match=r"ckpt_path=last found no .*last.ckpt; pass the run directory"):
        resume.checkpoint_path(_cfg(tmp_path, "ckpt_path=last"))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resume.checkpoint_path(_cfg(tmp_path, "ckpt_path=last")) == str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(DepthlabError, match="does not exist"):
        resume.checkpoint_path(_cfg(tmp_path, f"ckpt_path={tmp_path / 'nope.ckpt'}"))


def test_resume_rejects_another_network_and_continues_loggers(tmp_path):
    cfg = _cfg(tmp_path, "logger=many")
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    model = OmegaConf.to_container(cfg.model, resolve=True)
    torch.save({"state_dict": {}, "depthlab_config": {"model": model | {"encoder": "resnet34"}}}, ckpt)
    with pytest.raises(DepthlabError, match="trained with model.encoder=resnet34; pass the same model overrides"):
        resume.check_same_model(cfg, str(ckpt))
    for name in ("offline-run-20250101_000000-aaaa1111", "offline-run-20250102_000000-bbbb2222"):
        (tmp_path / "wandb" / name).mkdir(parents=True)
    assert previous_run_id(tmp_path) == "bbbb2222"
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text("step\n1\n")
    resume.continue_loggers(cfg, str(ckpt))
    assert cfg.logger.wandb.id == "bbbb2222" and cfg.logger.csv.version == "resume_1"


def test_wandb_logger_outside_a_sweep_has_no_group(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    logger = make_wandb_logger(save_dir=str(tmp_path), tags=["mine"], project="p")
    assert logger._wandb_init["group"] is None and logger._wandb_init["tags"] == ["mine"]
    assert logger._wandb_init["config"] == {"overrides": []}


def test_optuna_search_config_follows_the_optimized_metric(tmp_path):
    cfg = _cfg(tmp_path, "hparams_search=optuna", hydra=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.optimized_metric == "val/rmse" and cfg.hydra.sweeper.direction == "minimize"
    assert cfg.hydra.sweeper.max_failure_rate == 1.0 and "optimizer.lr" in cfg.hydra.sweeper.params
    cfg = _cfg(tmp_path, "hparams_search=optuna", "optimized_metric=val/delta1", hydra=True)
    assert cfg.hydra.sweeper.direction == "maximize"


def test_slurm_launcher_follows_the_trainer(tmp_path):
    cfg = _cfg(tmp_path, "hydra/launcher=submitit_slurm", "trainer=ddp_multinode", "trainer.devices=8", hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (2, 8, 8)
    assert {"partition", "cpus_per_task", "mem_gb", "timeout_min"} <= set(launcher)
    local = _cfg(tmp_path, "hydra/launcher=submitit_local", hydra=True).hydra.launcher
    assert local._target_.endswith("LocalLauncher")


def test_fsdp_strategy_instantiates(tmp_path):
    strategy = instantiate(_cfg(tmp_path, "trainer=fsdp").trainer.strategy)
    assert type(strategy).__name__ == "FSDPStrategy"
    assert strategy.kwargs["auto_wrap_policy"].keywords["min_num_params"] == 1_000_000


def test_ddp_eval_loaders_split_the_images_without_repeats(tmp_path):
    datamodule = instantiate(_cfg(tmp_path, "data.num_val=7", "data.height=32", "data.width=32").data)
    seen = []
    for rank in (0, 1):
        datamodule.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen.append(list(datamodule.val_dataloader().sampler))
    # Lightning's default DistributedSampler would pad to 8 by repeating an image
    assert sorted(seen[0] + seen[1]) == list(range(7)) and len(seen[0]) == 4
    datamodule.trainer = SimpleNamespace(world_size=1, global_rank=0)
    assert list(datamodule.val_dataloader().sampler) == list(range(7))
