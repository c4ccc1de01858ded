"""Every architecture option builds with a small encoder and runs a training and a validation step on CPU."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.models.heads import DepthActivation

REPO = Path(__file__).resolve().parents[1]
HF_OPTIONS = {"hf", "depth_anything_v2", "dpt_hf", "zoedepth"}  # transformers depth models: test_hf_models.py
ARCH_OPTIONS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml") if p.stem not in HF_OPTIONS)
# a small encoder per option: the timm ResNet-10 for CNN decoders, each transformer family's smallest otherwise
SMALL = {"dpt": "model.encoder=tu-vit_tiny_patch16_224", "segformer": "model.encoder=mit_b0"}
TINY_DATA = [
    "data.num_train=4",
    "data.num_val=2",
    "data.num_test=2",
    "data.height=64",
    "data.width=64",
    "data.batch_size=2",
    "data.eval_batch_size=2",
    "data.num_workers=0",
]


def compose_train(*overrides: str, tmp_path: Path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *overrides])


def small_model(option: str) -> list[str]:
    """A small encoder (and the input size PAN needs: its deepest features are pooled 3 more times)."""
    if option == "depthmasknet":
        return ["model.base_width=4"]
    size = ["data.height=128", "data.width=128"] if option == "pan" else []
    return [SMALL.get(option, "model.encoder=tu-resnet10t"), *size]


def test_every_smp_architecture_has_an_option():
    expected = {"unet", "unetplusplus", "fpn", "deeplabv3", "deeplabv3plus", "manet", "linknet", "pspnet", "pan"}
    assert expected | {"upernet", "segformer", "dpt", "depthmasknet", "smp"} <= set(ARCH_OPTIONS)


# smp = unet with smp's decoder; masknet predicts a mask only (tests/test_masknet.py)
@pytest.mark.parametrize("option", [o for o in ARCH_OPTIONS if o not in ("smp", "masknet")])
def test_architecture_trains_and_validates_with_depth_and_mask(option, tmp_path):
    cfg = compose_train(f"model={option}", "task=depth_mask", *TINY_DATA, *small_model(option), tmp_path=tmp_path)
    datamodule, module = instantiate(cfg.data), build_module(cfg)
    module.check_data(datamodule)
    before = {k: v.clone() for k, v in module.net.state_dict().items() if v.is_floating_point()}
    trainer = pl.Trainer(
        fast_dev_run=1, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(module, datamodule=datamodule)
    metrics = trainer.callback_metrics
    for key in ("train/loss", "train/loss_bce", "train/loss_rmse", "val/rmse", "val/iou", "val/dice"):
        assert math.isfinite(float(metrics[key])), (key, metrics)
    changed = [k for k, v in module.net.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert changed, "the training step updated no weight"
    outputs = module(next(iter(datamodule.val_dataloader())))
    assert outputs["depth"].shape == outputs["mask_logits"].shape == (2, 1, cfg.data.height, cfg.data.width)


@pytest.mark.parametrize(
    ("kind", "x", "expected"),
    [("disparity", 0.0, 1.0 / (math.log(2.0) + 0.1)), ("relative", 0.0, math.log(2.0)), ("relative", -30.0, 0.0)],
)
def test_disparity_and_relative_heads(kind, x, expected):
    head = DepthActivation(kind, min_depth=1e-3, max_depth=10.0)
    assert head(torch.tensor([x])).item() == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_disparity_head_is_bounded_by_max_depth():
    depth = DepthActivation("disparity", max_depth=10.0)(torch.linspace(-50, 50, 101))
    assert (depth > 0).all() and (depth <= 10.0).all() and torch.all(depth[1:] <= depth[:-1])


def test_architecture_benchmark_reports_parameters_and_time(capsys):
    from depthlab.benchmarks import archs

    results = archs.main(["--height", "64", "--width", "64", "--batch", "1", "--steps", "1", "--models", "linknet"])
    params, ms = results["linknet"]
    assert params == sum(p.numel() for p in archs.build("linknet", []).parameters()) and ms > 0
    assert "| linknet | resnet18 |" in capsys.readouterr().out
