"""Zero-shot evaluation: eval.py datasets=[...] scores one checkpoint on several data configs, one row each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REAL
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from depthlab.cli import evaluate as evaluate_module
from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError

REPO = Path(__file__).resolve().parents[1]
SMALL = ["data.num_train=2", "data.num_val=4", "data.num_test=4", "data.height=32", "data.width=32"]
SMALL += ["data.num_workers=0", "data.eval_batch_size=4", "model.encoder=resnet18"]


def compose_in(conf: Path, name: str, overrides: list[str]):
    with initialize_config_dir(str(conf), version_base="1.3"):
        return compose(name, overrides=overrides)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A conf copy with a second dataset (synthetic_far: other scenes, 8 m cap); an untrained Unet checkpoint."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, symlinks=True)
    far = OmegaConf.load(conf / "data" / "synthetic.yaml")
    far.seed, far.max_depth = 7, 8.0
    OmegaConf.save(far, conf / "data" / "synthetic_far.yaml")
    monkeypatch.setattr(evaluate_module, "CONF_DIR", conf)
    run = compose_in(conf, "train", [f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *SMALL])
    torch.manual_seed(0)
    module = build_module(run)
    ckpt = tmp_path / "model.ckpt"
    config = OmegaConf.to_container(run, resolve=True)
    torch.save({"state_dict": module.state_dict(), "depthlab_config": config}, ckpt)
    return conf, ckpt


def test_eval_scores_each_dataset_in_one_table(setup, tmp_path: Path, capsys) -> None:
    conf, ckpt = setup
    overrides = [f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path / 'eval'}", "datasets=[synthetic,synthetic_far]"]
    overrides += ["logger=csv"]  # W&B logging of the table: test_eval_run.py
    overrides += [f"+{o}" for o in SMALL if o.startswith("data.")]
    overrides += ["+protocol.alignment=median"]
    metrics = evaluate_module.evaluate(compose_in(conf, "eval", overrides))
    out = capsys.readouterr().out
    assert out.count("synthetic") >= 2 and "delta1" in out
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written == pytest.approx(metrics)
    for name in ("synthetic", "synthetic_far"):
        assert 0 <= written[f"{name}/test/delta1"] <= 1 and written[f"{name}/test/rmse"] > 0
    assert written["synthetic/test/rmse"] != written["synthetic_far/test/rmse"]  # other scenes, other cap
    # each dataset's row has a "(constant)" row below it: its median depth everywhere, through the same protocol
    assert "synthetic (constant)" in out and "synthetic_far (constant)" in out
    for name in ("synthetic", "synthetic_far"):
        assert 0 < written[f"baseline/constant/{name}/test/delta1"] < 1
    # median alignment was applied: the scored prediction has the target's median, so delta1 beats an
    # untrained network's raw output by far
    raw = evaluate_module.evaluate(compose_in(conf, "eval", overrides[:-1]))
    assert written["synthetic/test/delta1"] > raw["synthetic/test/delta1"]


def test_eval_rejects_an_unknown_dataset(setup, tmp_path: Path) -> None:
    conf, ckpt = setup
    cfg = compose_in(conf, "eval", [f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path}", "datasets=[nyu_v2]"])
    with pytest.raises(DepthlabError, match="datasets: 'nyu_v2' is not a data config"):
        evaluate_module.evaluate(cfg)


def test_transfer_to_the_real_indoor_pairs_prints_the_constant_beside_the_model(setup, tmp_path: Path, capsys) -> None:
    """The README's transfer command: datasets=[real_indoor] +protocol.alignment=median on ../shared/data/real."""
    conf, ckpt = setup
    overrides = [f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path / 'eval'}", "datasets=[real_indoor]", "logger=csv"]
    overrides += [f"+data.root={REAL}", "+protocol.alignment=median"]  # the path the config derives from the cwd
    metrics = evaluate_module.evaluate(compose_in(conf, "eval", overrides))
    assert "real_indoor (constant)" in capsys.readouterr().out
    # 11 indoor pairs (NYU, TUM, Kinect); under median alignment the constant's delta1 is a property of the data
    assert metrics["baseline/constant/real_indoor/test/delta1"] == pytest.approx(0.470, abs=0.005)
    assert 0 <= metrics["real_indoor/test/delta1"] <= 1
