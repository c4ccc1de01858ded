"""Each fact lives once: metric direction, crop names, averaging modes, K from a field of view, option checks."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from depthlab.config_dir import CONF_DIR
from depthlab.data import render
from depthlab.inference.camera import Camera
from depthlab.losses import SurfaceNormalLoss
from depthlab.metrics import DepthMetrics
from depthlab.metrics.crops import CROPS
from depthlab.metrics.depth import AVERAGES
from depthlab.metrics.direction import higher_is_better
from depthlab.ops.camera import fov_intrinsics
from depthlab.report.collect import Job
from depthlab.report.table import rank
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

SRC = Path(__file__).resolve().parents[1] / "src" / "depthlab"
KEYS = ("abs_rel", "sq_rel", "rmse", "mse", "rmse_log", "log10", "silog", "mae", "delta1", "delta2", "delta3", "ssim")


def compose_train(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("metric", ["rmse", "delta1", "iou", "silog"])
def test_every_consumer_ranks_a_metric_the_same_way(metric: str, tmp_path: Path):
    """Checkpoints, early stopping, the LR plateau, Optuna and the torchmetrics flags agree with one table."""
    cfg = compose_train(
        f"monitor=val/{metric}",
        f"optimized_metric=val/{metric}",
        "callbacks=early_stopping",
        "scheduler=plateau",
        "hparams_search=optuna",
        f"hydra.sweep.dir={tmp_path}",
    )
    up = higher_is_better(metric)
    assert up == (metric in ("delta1", "iou"))
    assert cfg.callbacks.model_checkpoint.mode == cfg.callbacks.early_stopping.mode == ("max" if up else "min")
    assert cfg.scheduler.factory.mode == ("max" if up else "min")
    assert OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)["direction"] == ("maximize" if up else "minimize")
    if metric in KEYS:
        assert DepthMetrics.higher_is_better_per_key[metric] is up


def test_report_ranks_with_the_same_direction():
    jobs = [Job("a", Path("a"), [], {"val/delta1": 0.9, "val/rmse": 0.5}), Job("b", Path("b"), [], {"val/rmse": 0.4})]
    jobs.append(Job("c", Path("c"), [], {"val/delta1": 0.8}))
    assert [j.name for j in rank(jobs, "val/delta1")] == ["a", "c", "b"]
    assert [j.name for j in rank(jobs, "val/rmse")] == ["b", "a", "c"]


def test_every_metric_key_has_one_direction():
    assert {k: higher_is_better(f"test/{k}") for k in KEYS} == {k: k.startswith("delta") or k == "ssim" for k in KEYS}
    assert DepthMetrics.higher_is_better_per_key["whdr"] is False


def test_k_from_a_field_of_view_is_the_same_for_renderer_loss_and_predict():
    """fx = (W / 2) / tan(hfov / 2), principal point at the centre: one function, three users."""
    height, width, hfov_deg = 30, 40, 60.0
    K = fov_intrinsics(height, width, math.radians(hfov_deg))
    assert K[0, 0].item() == pytest.approx(20 / math.tan(math.radians(30))) and K[0, 0] == K[1, 1]
    assert (K[0, 2].item(), K[1, 2].item()) == (19.5, 14.5)
    pred = torch.ones(2, 1, height, width)
    loss_K = SurfaceNormalLoss(hfov_deg=hfov_deg).intrinsics({}, pred)
    assert loss_K.shape == (2, 3, 3) and torch.equal(loss_K[1], K.float())
    assert torch.equal(Camera("fov", hfov_deg, None)(height, width), K.float())
    hfov = render._sample_params(3).hfov
    assert np.array_equal(
        render.render_scene(3, height, width).intrinsics, fov_intrinsics(height, width, hfov).float().numpy()
    )


def test_crop_and_average_names_come_from_one_list():
    for path in (CONF_DIR / "data").glob("*.yaml"):
        crop = OmegaConf.load(path).get("eval_crop")
        assert crop is None or crop in CROPS, path.name
    assert OmegaConf.load(CONF_DIR / "protocol" / "default.yaml").average in AVERAGES
    with pytest.raises(Exception, match=r"data.eval_crop='eigen' is unknown; use null or one of eigen_nyu"):
        instantiate(compose_train("data.eval_crop=eigen").data)


def test_check_choice_names_key_value_and_choices():
    check_choice("k", None, ("a",), none=True)
    with pytest.raises(DepthlabError, match=r"^k='c' is unknown; use one of a, b$"):
        check_choice("k", "c", ("a", "b"))
    with pytest.raises(DepthlabError, match=r"^k=None is unknown"):
        check_choice("k", None, ("a", "b"))


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_losses_do_not_import_metrics_and_option_errors_use_one_check():
    """Masked ops and alignment live in depthlab.ops; a hand-written `is unknown; use one of` is a second copy."""
    for path in (SRC / "losses").glob("*.py"):
        assert not any(m.startswith("depthlab.metrics") for m in _imported_modules(path)), path.name
    copies = [p.name for p in SRC.rglob("*.py") if "is unknown; use one of" in p.read_text() and p.stem != "choices"]
    assert copies == []


def test_fixture_is_a_sentinel_only_while_no_such_directory_exists(tmp_path: Path, monkeypatch):
    from depthlab.data.fixtures import is_fixture_root

    monkeypatch.chdir(tmp_path)
    assert is_fixture_root("fixture") and is_fixture_root("fixture/kitti")
    assert not is_fixture_root("fixture/kitti/deeper") and not is_fixture_root("data/fixture")
    (tmp_path / "fixture" / "kitti").mkdir(parents=True)
    assert not is_fixture_root("fixture/kitti") and not is_fixture_root("fixture")
