"""experiment=nyu_unet_ssim matches the NYU UNet seed (seeds/003): network size, schedule, input, loss, mse."""

from __future__ import annotations

import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR
from depthlab.metrics import DepthMetrics, depth_metrics


@pytest.fixture(scope="module")
def cfg():
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=["experiment=nyu_unet_ssim", "paths.root_dir=.", "paths.output_dir=."])


@pytest.mark.slow  # ~13 s on a busy 2-core box (smp's encoder build)
def test_unet_is_smps_default_decoder_on_mobilenet_v2(cfg):
    with torch.device("meta"):
        net = instantiate(cfg.model)
    assert (cfg.model.arch, cfg.model.encoder, dict(cfg.model.arch_kwargs)) == ("Unet", "mobilenet_v2", {})
    assert sum(p.numel() for p in net.parameters()) == 6_628_945  # measured with model=smp, smp's decoder


def test_one_cycle_peaks_at_25x_the_starting_lr(cfg):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = instantiate(cfg.scheduler.factory)(optimizer=optimizer, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(4e-5) and max(lrs) == pytest.approx(25 * lrs[0])
    assert lrs.index(max(lrs)) == 29 and cfg.scheduler.interval == "step"  # warm-up over 30% of the steps


def test_input_is_224_and_loss_is_ssim_plus_mse(cfg):
    assert (cfg.data.height, cfg.data.width, cfg.data.format) == (224, 224, "csv")
    assert dict(cfg.loss.weights) == {"ssim": 1.0, "mse": 1.0}


def test_mse_is_rmse_squared_per_image():
    target = torch.tensor([[1.0, 2.0], [4.0, 5.0]])
    pred = torch.tensor([[1.0, 2.8], [2.0, 9.0]])
    out = depth_metrics(pred, target, min_valid=1)
    assert out["mse"] == pytest.approx((0.64 + 4 + 16) / 4) and out["mse"] == pytest.approx(out["rmse"] ** 2)
    metric = DepthMetrics(min_valid=1)  # two images: mse is averaged per image, so it is not the mean rmse squared
    metric.update(
        torch.stack([pred, target])[:, None], torch.stack([target, target])[:, None], torch.ones(2, 1, 2, 2) > 0
    )
    stats = metric.compute()
    assert float(stats["mse"]) == pytest.approx((0.64 + 4 + 16) / 8)
    assert float(stats["rmse"]) == pytest.approx(math.sqrt((0.64 + 4 + 16) / 4) / 2)
