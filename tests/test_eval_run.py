"""eval.py is a run like training: the trainer= and logger= groups, exact DDP metrics, unknown trainer keys refused."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, read_metrics
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from refusals import call

from depthlab.cli.common import format_value
from depthlab.cli.lineage import evaluated_run
from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.utils.wandb import latest_run_dir, read_offline_run

# 7 val / test images in batches of 4: two DDP ranks get 4 and 3 (none repeated, none dropped)
DATA = ["data.num_train=2", "data.num_val=7", "data.num_test=7", "data.height=32", "data.width=32"]
DATA += ["data.num_workers=0", "data.eval_batch_size=4"]
TRAIN = [*DATA, "model.encoder=resnet18", "trainer.precision=32-true", "logger.wandb.group=study"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An untrained tiny Unet's checkpoint in a run directory; its config puts its W&B run in the group `study`."""
    run = tmp_path_factory.mktemp("train")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*TRAIN, f"paths.output_dir={run}", f"paths.root_dir={REPO}"])
    torch.manual_seed(0)
    path = run / "checkpoints" / "last.ckpt"
    path.parent.mkdir()
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.save({"state_dict": build_module(cfg).state_dict(), "depthlab_config": config}, path)
    return f"ckpt_path={path}"


def _eval(*args: str) -> None:
    outcome = call("eval", list(args))
    assert outcome.code == 0, outcome.stderr[-3000:]


def test_eval_logs_its_metrics_to_the_csv_logger(ckpt, tmp_path):
    _eval(ckpt, "split=val", "logger=csv", f"hydra.run.dir={tmp_path}")
    printed = read_metrics(tmp_path)
    [row] = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert {k: float(v) for k, v in row.items() if k != "step"} == pytest.approx(printed, rel=1e-9)
    assert printed["val/rmse"] > 0 and 0 <= printed["val/delta1"] <= 1


@pytest.fixture
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))


def test_eval_logs_to_wandb_in_the_group_of_the_run_it_evaluates(ckpt, tmp_path, offline_wandb, capsys):
    _eval(ckpt, "logger=wandb", f"hydra.run.dir={tmp_path / 'eval'}")
    printed = read_metrics(tmp_path / "eval")
    assert format_value(printed["test/rmse"]) in capsys.readouterr().out
    run = read_offline_run(latest_run_dir(tmp_path / "eval"))
    [history] = run["history"]
    assert {k: history[k] for k in printed} == pytest.approx(printed, rel=1e-9)
    assert run["group"] == "study"  # from the checkpoint's config: its run directory holds no W&B run
    assert run["config"]["evaluated_run"]["group"] == "study" and run["config"]["eval"]["split"] == "test"

    # a checkpoint in a run directory with a W&B run: that run's own id and group win over the config's
    moved = tmp_path / "eval" / "checkpoints" / "last.ckpt"
    moved.parent.mkdir()
    shutil.copy(ckpt.split("=", 1)[1], moved)
    origin = evaluated_run(moved, OmegaConf.create({"logger": {"wandb": {"group": "other"}}}))
    assert (origin["id"], origin["group"]) == (run["id"], "study")


def flushed_history(run_dir: Path, key: str, timeout: float = 30.0) -> dict:
    """The offline run's history once `key` is in it: W&B's service process may still be writing after finish()."""
    deadline = time.monotonic() + timeout
    while True:
        history = {k: v for row in read_offline_run(run_dir)["history"] for k, v in row.items()}
        if key in history or time.monotonic() > deadline:
            return history
        time.sleep(0.5)


def test_zero_shot_eval_logs_its_table_to_wandb(ckpt, tmp_path, offline_wandb):
    small = [f"+{o}" for o in DATA]
    _eval(ckpt, "logger=wandb", "datasets=[synthetic]", *small, f"hydra.run.dir={tmp_path}")
    printed = read_metrics(tmp_path)
    run_dir = latest_run_dir(tmp_path)
    history = flushed_history(run_dir, "synthetic/test/rmse")
    assert history["synthetic/test/rmse"] == pytest.approx(printed["synthetic/test/rmse"], rel=1e-9)
    # a W&B Table (uploaded as a run table artifact when synced), one row per dataset and its constant's row
    assert history["zero_shot/test/_type"] == "table-file"
    assert history["zero_shot/test/artifact_path"].startswith("wandb-client-artifact://")
    table = json.loads((run_dir / "files" / history["zero_shot/test/path"]).read_text())
    assert table["columns"][:4] == ["dataset", "abs_rel", "sq_rel", "rmse"]
    assert [row[0] for row in table["data"]] == ["synthetic", "synthetic (constant)"]
    assert table["data"][0][3] == pytest.approx(printed["synthetic/test/rmse"], rel=1e-9)


@pytest.mark.slow
def test_ddp_spawn_eval_on_two_cpu_processes_equals_one_process(ckpt, tmp_path):
    _eval(ckpt, "split=val", "logger=csv", f"hydra.run.dir={tmp_path / 'one'}")
    ddp = ["trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2"]
    _eval(ckpt, "split=val", "logger=csv", *ddp, f"hydra.run.dir={tmp_path / 'ddp'}")
    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "ddp")
    assert sorted(one) == sorted(two)
    # the loss is a mean of per-batch values and the ranks batch other images together; every metric is exact
    metrics = [k for k in one if not k.startswith("val/loss")]
    assert len(metrics) >= 11
    for key in metrics:
        assert two[key] == pytest.approx(one[key], rel=1e-6, abs=1e-9), key


@pytest.mark.parametrize(
    ("entry", "override", "fix"),
    [
        ("eval", "trainer.max_epochz=3", "did you mean trainer.max_epochs?"),
        ("eval", "+trainer.max_epochz=3", "is not an argument of lightning.pytorch.Trainer"),
        ("eval", "precision=16-mixed", "did you mean trainer.precision?"),
        ("train", "trainer.max_epochz=3", "did you mean trainer.max_epochs?"),
        ("train", "+trainer.max_epochz=3", "did you mean trainer.max_epochs?"),
        ("train", "trainer.benchmark=true", "use +trainer.benchmark=true"),
    ],
)
def test_an_unknown_trainer_key_is_refused_in_one_line(entry, override, fix, tmp_path):
    needs = ["ckpt_path=unused.ckpt"] if entry == "eval" else []
    outcome = call(entry, [override, *needs, f"hydra.run.dir={tmp_path / 'run'}"])
    assert outcome.code == 2 and len(outcome.errors) == 1, outcome.stderr[-3000:]
    assert override.lstrip("+").split("=")[0] in outcome.errors[0] and fix in outcome.errors[0]
    assert "Traceback" not in outcome.stderr and not (tmp_path / "run").exists()
