"""Networks, depth heads and the guards around them."""

from __future__ import annotations

import math

import pytest
import torch

from depthlab.models import nets
from depthlab.models.heads import DepthActivation
from depthlab.models.nets import SmpDepthNet
from depthlab.utils.errors import DepthlabError


@pytest.mark.parametrize(
    ("kind", "x", "expected"),
    [
        ("sigmoid", 0.0, 5.0),
        ("softplus", 0.0, math.log(2) + 1e-3),
        ("exp", math.log(3.0), 3.0),
        ("identity", 2.5, 2.5),
    ],
)
def test_depth_heads(kind, x, expected):
    head = DepthActivation(kind, min_depth=1e-3, max_depth=10.0)
    assert head(torch.tensor([x])).item() == pytest.approx(expected, rel=1e-6)


def test_unknown_head_is_rejected():
    with pytest.raises(DepthlabError, match="model.head='relu' is unknown"):
        DepthActivation("relu")


@pytest.mark.parametrize("encoder", ["resnet18", "tu-resnet10t"])
def test_smp_and_timm_encoders_give_positive_depth(encoder):
    net = SmpDepthNet("Unet", encoder, arch_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    out = net(torch.randn(2, 3, 64, 96))
    assert out["depth"].shape == (2, 1, 64, 96)
    assert (out["depth"] > 0).all() and (out["depth"] < 10).all()


def test_input_size_must_divide_output_stride():
    net = SmpDepthNet("Unet", "resnet18")
    net.check_input_size(96, 128)
    with pytest.raises(DepthlabError, match=r"input size 100x128 is not divisible by 32, .*data.height=96"):
        net.check_input_size(100, 128)


def test_unknown_encoder_is_one_line():
    with pytest.raises(DepthlabError, match="resnet19") as info:
        SmpDepthNet("Unet", "resnet19")
    assert "\n" not in str(info.value)


def test_pretrained_weights_fail_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty weight cache
    monkeypatch.setattr(nets, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(
        DepthlabError, match="encoder_weights=imagenet must be downloaded .* model.encoder_weights=null"
    ):
        SmpDepthNet("Unet", "resnet18", encoder_weights="imagenet")


def test_unknown_architecture_lists_smps_registry():
    with pytest.raises(DepthlabError, match=r"model.arch='unetx' is unknown; use one of unet, .*dpt"):
        SmpDepthNet("Unetx", "resnet18")


def test_unknown_pretrained_weights_name_the_available_ones():
    with pytest.raises(DepthlabError, match=r"encoder_weights=foo does not exist for resnet18; use one of imagenet"):
        SmpDepthNet("Unet", "resnet18", encoder_weights="foo")


def test_an_arch_kwarg_smp_refuses_is_one_line():
    with pytest.raises(DepthlabError, match=r"smp cannot build model.arch=DeepLabV3 .*output stride") as info:
        SmpDepthNet("DeepLabV3", "resnet18", arch_kwargs={"encoder_output_stride": 4})
    assert "\n" not in str(info.value)
