"""Every named loss combination composes from config, re-weights from overrides, and trains its loss down."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn

from depthlab.config_dir import CONF_DIR
from depthlab.data.synthetic import SyntheticDataModule

# bce_rmse and bce_dice_ssim (depth + mask) are issue 4's configs; they need outputs["mask_logits"]
NAMED = ["l1_edge_ssim", "l1_normal_ssim", "ssim_mse", "ranking", "silog", "ssi_gm", "ssim_l1_edge"]


def compose_train(*overrides: str, tmp_path) -> object:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", *overrides])


@pytest.fixture(scope="module")
def batch() -> dict:
    """One fixed batch of four 32x32 synthetic scenes (images, depth, valid, intrinsics)."""
    dm = SyntheticDataModule(num_train=4, num_val=1, num_test=1, height=32, width=32, batch_size=4, num_workers=0)
    return next(iter(dm.loader("train", shuffle=False)))


class TinyNet(nn.Module):
    """Two convolutions and a softplus head: enough capacity to fit one batch a little."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 3, padding=1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self.body(image) + 1.0)


@pytest.mark.parametrize("name", NAMED)
def test_named_combination_lowers_its_loss(name: str, batch: dict, tmp_path) -> None:
    loss = instantiate(compose_train(f"loss={name}", tmp_path=tmp_path).loss)
    torch.manual_seed(0)
    net = TinyNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    values = []
    for _ in range(40):
        out = loss({"depth": net(batch["image"])}, batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        values.append(out["loss"].item())
    first, last = sum(values[:5]) / 5, sum(values[-5:]) / 5
    assert last < 0.9 * first, (name, first, last)


def test_term_parameters_and_weights_override_from_the_command_line(tmp_path) -> None:
    cfg = compose_train(
        "loss=ssi_gm",
        "loss.weights.gm=2.0",
        "loss.terms.ssi.method=lstsq",
        "loss.terms.ssi.space=depth",
        "loss.terms.gm.scales=2",
        tmp_path=tmp_path,
    )
    loss = instantiate(cfg.loss)
    assert loss.weights == {"ssi": 1.0, "gm": 2.0}
    assert (loss.terms["ssi"].method, loss.terms["ssi"].space, loss.terms["gm"].scales) == ("lstsq", "depth", 2)
    silog = instantiate(compose_train("loss=silog", "loss.terms.silog.lambd=1.0", tmp_path=tmp_path).loss)
    assert silog.terms["silog"].lambd == 1.0 and silog.terms["silog"].scale == 10.0
