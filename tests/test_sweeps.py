"""A grid through submitit with one W&B run per job in one group, an Optuna search, every experiment smoke-tested."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli

from depthlab.cli.report import main as report_main
from depthlab.report import collect_jobs
from depthlab.utils.wandb import read_offline_run

pytestmark = pytest.mark.slow

# a job in a few seconds: 32x32, one short epoch, no image panels
SMALL = [
    "data.num_train=8",
    "data.num_val=4",
    "data.num_test=4",
    "data.height=32",
    "data.width=32",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.num_workers=0",
    "trainer.max_epochs=2",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "baseline=false",
    "test=false",
]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    """A 2-job grid over the loss, run as submitit_local subprocesses, logging to offline W&B and CSV."""
    tmp = tmp_path_factory.mktemp("grid")
    sweep = tmp / "multirun"
    overrides = ["-m", "hydra/launcher=submitit_local", "loss=l1,ssim_l1_edge", *SMALL, "logger=many"]
    result = run_cli("train.py", *overrides, f"hydra.sweep.dir={sweep}", tmp_path=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


def test_grid_jobs_get_own_dirs_and_wandb_runs_in_one_group(grid):
    jobs = sorted(p for p in grid.iterdir() if (p / ".hydra").is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    assert len(list(grid.glob(".submitit/*/*_result.pkl"))) == 2  # both ran through submitit
    metrics = [json.loads((job / "metrics.json").read_text()) for job in jobs]
    assert all("val/rmse" in m for m in metrics) and metrics[0] != metrics[1]
    runs = [read_offline_run(next((job / "wandb").glob("offline-run-*"))) for job in jobs]
    assert runs[0]["id"] != runs[1]["id"]
    assert runs[0]["group"] == runs[1]["group"] == f"train_{grid.name}"
    for run, loss in zip(runs, ("l1", "ssim_l1_edge"), strict=True):
        assert f"loss={loss}" in run["tags"] and "logger=many" in run["tags"]
        assert f"loss={loss}" in run["config"]["overrides"]
        assert run["config"]["loss"]["weights"].keys() == ({"l1"} if loss == "l1" else {"ssim", "l1", "edge"})
    # the W&B history carries the same final val/rmse as metrics.json (the best = last epoch, or an earlier one)
    for run, m in zip(runs, metrics, strict=True):
        assert any(abs(row["val/rmse"] - m["val/rmse"]) < 1e-4 for row in run["history"] if "val/rmse" in row)


def test_report_ranks_the_grid_and_draws_its_curves(grid, tmp_path, capsys):
    assert report_main([str(grid), "--out", str(tmp_path / "report")]) == 0
    stdout = capsys.readouterr().out
    table = (tmp_path / "report" / "leaderboard.md").read_text()
    rmse = {
        loss: json.loads((grid / job / "metrics.json").read_text())["val/rmse"]
        for job, loss in (("0", "l1"), ("1", "ssim_l1_edge"))
    }
    best, worst = sorted(rmse, key=rmse.get)
    rows = [line for line in table.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert f"loss={best} | {rmse[best]:.4f}" in rows[0] and f"loss={worst} | {rmse[worst]:.4f}" in rows[1]
    assert rows[0] in stdout and "report written to" in stdout
    page = (tmp_path / "report" / "index.html").read_text()
    assert '<img src="curves.png"' in page and '<img src="bars.png"' in page
    assert (tmp_path / "report" / "curves.png").stat().st_size > 10_000
    # without CSV logs the curves come from the offline W&B files, and agree with the CSV ones
    shutil.copytree(grid / "0", tmp_path / "wandb_only" / "0", ignore=shutil.ignore_patterns("csv"))
    from_csv, from_wandb = (
        collect_jobs(grid)[0].curves["val/rmse"],
        collect_jobs(tmp_path / "wandb_only")[0].curves["val/rmse"],
    )
    assert len(from_csv) == 2 and [s for s, _ in from_wandb] == [s for s, _ in from_csv]
    assert [v for _, v in from_wandb] == pytest.approx([v for _, v in from_csv])


def test_optuna_search_scores_a_failing_trial_and_returns_its_best(tmp_path):
    sweep = tmp_path / "search"
    result = run_cli(
        "train.py",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.seed=0",  # its first random draws give heights 32, 40, 32
        "data.height=choice(32,40)",  # 40 is not divisible by Unet's stride 32: that trial fails
        "loss=l1",
        "data.batch_size=4",
        *[o for o in SMALL if not o.startswith(("data.height", "data.batch_size"))],
        "trainer.max_epochs=1",
        "logger=csv",
        f"hydra.sweep.dir={sweep}",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    heights = {
        p.parents[1].name: yaml.safe_load(p.read_text())["data"]["height"] for p in sweep.glob("*/.hydra/config.yaml")
    }
    assert sorted(heights.values()) == [32, 32, 40]
    done = {j: json.loads((sweep / j / "metrics.json").read_text())["val/rmse"] for j in heights if heights[j] == 32}
    assert len(done) == 2 and not any((sweep / j / "metrics.json").exists() for j in heights if heights[j] == 40)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(done.values()), abs=1e-6)
    assert best["best_params"]["data.height"] == 32
    log = result.stdout + result.stderr
    assert "Failed experiment: input size 40x32 is not divisible" in log


def test_every_experiment_passes_a_fast_dev_run(tmp_path):
    """The README's smoke test of every study, on generated copies of each real dataset's layout (data.root=fixture)."""
    # the foundation-model recipes start from hub weights at 518 px (test_hf_models.py runs them offline, tiny);
    # the distillation students need a label cache (test_distill.py)
    skip = ("dav2_", "distill")
    experiments = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml") if not p.stem.startswith(skip))
    sweep = tmp_path / "experiments"
    overrides = [
        "-m",
        "experiment=glob(*,exclude=[dav2_*,distill*])",
        "debug=fdr",
        "paths.data_dir=fixture",
        "data.batch_size=2",
    ]
    # fdr: wiring; 2:1 so the equirect panorama experiment (data.camera=equirect) is a valid size too
    overrides += ["data.num_workers=0", f"hydra.sweep.dir={sweep}", "data.height=64", "data.width=128"]
    result = run_cli("train.py", *overrides, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = {yaml.safe_load(p.read_text())["task_name"]: p.parents[1] for p in sweep.glob("*/.hydra/config.yaml")}
    assert sorted(ran) == experiments
    for name, job in ran.items():
        metrics = json.loads((job / "metrics.json").read_text())
        assert "test/rmse" in metrics or "test/iou" in metrics, name  # task=mask (seed_masknet): IoU, no depth
