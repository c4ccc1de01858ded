"""Depth + mask: loss terms equal their formulas, IoU / Dice are exact, a short run lowers both losses."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from conftest import TINY, read_metrics, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

from depthlab.config_dir import CONF_DIR
from depthlab.losses.mask import BCEMaskLoss, DiceMaskLoss
from depthlab.metrics.mask import MaskMetrics
from depthlab.models.build import build_module
from depthlab.models.depthmasknet import DepthMaskNet

REPO = Path(__file__).resolve().parents[1]


def test_bce_and_dice_terms_equal_their_formulas():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    p = torch.sigmoid(logits)
    bce = -(mask * torch.log(p) + (1 - mask) * torch.log(1 - p)).mean()
    dice = 1 - 2 * (p * mask).sum() / (p.sum() + mask.sum())
    outputs, batch = {"mask_logits": logits}, {"mask": mask}
    assert BCEMaskLoss()(outputs, batch).item() == pytest.approx(bce.item(), rel=1e-6)
    assert DiceMaskLoss()(outputs, batch).item() == pytest.approx(dice.item(), rel=1e-5)
    weighted = -(3 * mask * torch.log(p) + (1 - mask) * torch.log(1 - p)).mean()
    assert BCEMaskLoss(pos_weight=3.0)(outputs, batch).item() == pytest.approx(weighted.item(), rel=1e-6)


def test_mask_metrics_accumulate_iou_and_dice_over_batches():
    metrics = MaskMetrics()
    assert not metrics.updated
    # batch 1: TP 1, FP 1, FN 0; batch 2: TP 1, FP 0, FN 1 -> IoU 2/4, Dice 4/6 over the epoch
    metrics.update(torch.tensor([[[[5.0, 5.0, -5.0]]]]), torch.tensor([[[[1.0, 0.0, 0.0]]]]))
    metrics.update(torch.tensor([[[[5.0, -5.0, -5.0]]]]), torch.tensor([[[[1.0, 1.0, 0.0]]]]))
    values = metrics.compute()
    assert metrics.updated
    assert values["iou"].item() == pytest.approx(0.5) and values["dice"].item() == pytest.approx(2 / 3)


def test_depthmasknet_two_inputs_two_outputs():
    net = DepthMaskNet(base_width=4)
    background, image = torch.randn(2, 3, 64, 96), torch.randn(2, 3, 64, 96)
    out = net(background, image)
    assert net.inputs == ("background", "image") and net.predicts_mask
    assert out["depth"].shape == out["mask_logits"].shape == (2, 1, 64, 96)
    assert (out["depth"] > 0).all() and (out["depth"] < 10).all()
    # the background input is used: changing it changes both outputs
    other = net(torch.randn(2, 3, 64, 96), image)
    assert not torch.allclose(other["mask_logits"], out["mask_logits"])
    assert not torch.allclose(other["depth"], out["depth"])


def test_depthmasknet_matches_the_seed_parameter_count():
    assert sum(p.numel() for p in DepthMaskNet(base_width=16).parameters()) == 7_083_874  # seeds/001 summary


@pytest.mark.slow
def test_short_multitask_run_lowers_depth_and_mask_losses(tmp_path):
    overrides = [o for o in TINY if not o.startswith(("callbacks", "baseline"))]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                "task=depth_mask",
                "model.encoder=tu-resnet10t",
                "data.num_train=32",
                "optimizer.lr=0.003",
                f"paths.output_dir={tmp_path}",
                f"paths.root_dir={REPO}",
            ],
        )
    pl.seed_everything(0)
    datamodule, module = instantiate(cfg.data), build_module(cfg)
    trainer = pl.Trainer(
        max_epochs=5, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    before = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    trainer.fit(module, datamodule=datamodule)
    after = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    assert after["val/loss_rmse"] < 0.8 * before["val/loss_rmse"], (before, after)
    assert after["val/loss_bce"] < 0.8 * before["val/loss_bce"], (before, after)
    assert 0.0 <= after["val/iou"] <= 1.0 and after["val/iou"] > before["val/iou"], (before, after)


@pytest.mark.slow
def test_depthmasknet_trains_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "train.py",
        *TINY,
        "model=depthmasknet",
        "task=depth_mask",
        "loss=bce_dice_ssim",
        "model.base_width=8",
        "logger=csv",
        "callbacks.image_panels.num_samples=2",
        tmp_path=tmp_path,
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    for key in ("val/iou", "val/dice", "test/iou", "test/rmse", "train/loss_dice", "val/loss_ssim"):
        assert key in metrics, sorted(metrics)
    assert "iou" in result.stdout and json.loads((run_dir / "metrics.json").read_text())["val/iou"] >= 0
    panel = Image.open(next((run_dir / "panels").glob("*.png")))
    # RGB | GT | pred | error | GT normals | predicted normals | GT mask | predicted mask, 2 rows
    assert panel.size == (8 * 64, 2 * 64)
    assert len(list((run_dir / "panels").glob("points_epoch*_0.ply"))) >= 1
