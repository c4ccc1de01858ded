"""MaskNet (the MODEST seed's mask network): its exact size, shapes, and a mask-only run that learns and logs IoU."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from conftest import TINY, read_metrics, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn

from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.models.masknet import MaskNet
from depthlab.utils.errors import DepthlabError

REPO = Path(__file__).resolve().parents[1]


def compose_mask(*overrides: str, tmp_path: Path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "train", overrides=["task=mask", f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *overrides]
        )


def test_masknet_has_the_seed_parameter_count_and_layers():
    net = MaskNet()
    assert sum(p.numel() for p in net.parameters()) == 76_097  # seeds/001 MaskNet summary
    convs = [(m.in_channels, m.out_channels, m.kernel_size) for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(3, 32, (3, 3)), (3, 32, (3, 3)), (64, 64, (3, 3)), (64, 64, (3, 3)), (64, 1, (1, 1))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4


def test_masknet_forward_shapes_and_uses_both_inputs():
    net = MaskNet().eval()
    background, image = torch.randn(2, 3, 20, 30), torch.randn(2, 3, 20, 30)
    out = net(background, image)
    assert set(out) == {"mask_logits"} and out["mask_logits"].shape == (2, 1, 20, 30)
    assert net.inputs == ("background", "image") and net.predicts_mask and not net.predicts_depth
    assert not torch.allclose(net(torch.randn(2, 3, 20, 30), image)["mask_logits"], out["mask_logits"])


def test_a_mask_only_net_refuses_depth_loss_terms(tmp_path):
    with pytest.raises(DepthlabError, match="predicts a mask only.*task=mask"):
        build_module(compose_mask("loss=bce_rmse", tmp_path=tmp_path))


def test_short_mask_only_run_raises_iou_and_logs_no_depth_metric(tmp_path):
    tiny = [o for o in TINY if not o.startswith(("callbacks", "baseline", "data.height", "data.width"))]
    cfg = compose_mask(*tiny, "data.height=32", "data.width=32", "optimizer.lr=0.003", tmp_path=tmp_path)
    pl.seed_everything(0)
    datamodule, module = instantiate(cfg.data), build_module(cfg)
    trainer = pl.Trainer(
        max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    before = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    trainer.fit(module, datamodule=datamodule)
    after = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    assert {"val/iou", "val/dice", "val/loss", "val/loss_bce"} <= set(after), sorted(after)
    assert not any(k in after for k in ("val/rmse", "val/abs_rel", "val/delta1")), sorted(after)
    assert after["val/loss"] < 0.8 * before["val/loss"], (before, after)
    assert after["val/iou"] > before["val/iou"] and 0 < after["val/dice"] <= 1, (before, after)


@pytest.mark.slow
def test_seed_masknet_trains_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train.py", "experiment=seed_masknet", *TINY, "logger=csv", tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    assert {"val/iou", "val/dice", "test/iou", "val/loss"} <= set(metrics), sorted(metrics)
    assert not any(key.endswith(("/rmse", "/delta1")) for key in metrics), sorted(metrics)
    assert next((run_dir / "checkpoints").glob("epoch000-loss*.ckpt"))
