"""The NYU seed's ready-to-use model, facebook/dpt-dinov2-{small,base}-nyu: offline presets, weights, max_epochs=0."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub import constants
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from refusals import call

from depthlab.config_dir import CONF_DIR
from depthlab.models import hf_loading
from depthlab.models.hf import HFDepthNet
from depthlab.models.hf_presets import published_depth_type
from tests.conftest import TINY
from tests.hf_tiny import DPT

# a 2-block, 32-wide DINOv2 under the same DPT head (patch 14, projection, no fusion-residual bias)
SMALLER = {
    "backbone_config": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_hidden_layers": 4,
        "out_indices": [1, 2, 3, 4],
    },
    "neck_hidden_sizes": [8, 16, 16, 32],
}  # fmt: skip  (the head's projection is fixed at 256 channels)


def dinov2_dpt(**kwargs: object) -> HFDepthNet:
    return HFDepthNet(family="dpt", size="dinov2-small-nyu", config=SMALLER, **kwargs)


def test_presets_have_the_published_parameter_counts():
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["model=dpt_hf", "model.size=dinov2-base-nyu", "paths.root_dir=."])
    with torch.device("meta"):
        base = instantiate(cfg.model)
        small = HFDepthNet(family="dpt", size="dinov2-small-nyu")
    assert sum(p.numel() for p in small.parameters()) == 37_197_601
    assert sum(p.numel() for p in base.parameters()) == 111_954_049
    assert base.model.config.backbone_config.model_type == "dinov2" and base.output_kind == "metric"


def test_patch_14_imagenet_normalisation_and_metric_output():
    net = dinov2_dpt()
    assert (net.patch_size, net.output_stride, net.depth_type) == (14, 14, "metric")
    assert not net.rescale  # the datamodule's ImageNet mean / std is the model's own (not DPT's 0.5 / 0.5)
    half = dinov2_dpt(data_mean=(0.5, 0.5, 0.5), data_std=(0.5, 0.5, 0.5))
    torch.testing.assert_close(half.in_scale.flatten(), torch.tensor([0.5 / 0.229, 0.5 / 0.224, 0.5 / 0.225]))
    assert HFDepthNet(family="dpt", size="large", config=DPT).rescale  # ViT DPT: 0.5 / 0.5
    assert published_depth_type("dpt", None, "facebook/dpt-dinov2-base-nyu") == "metric"  # model=hf by hub id


def test_forward_predicts_metres_at_the_input_size():
    net = dinov2_dpt().eval()
    with torch.no_grad():
        depth = net(torch.randn(2, 3, 56, 56))["depth"]
    assert depth.shape == (2, 1, 56, 56) and bool(torch.isfinite(depth).all()) and bool((depth >= 0).all())


def test_weights_load_from_a_save_pretrained_directory_offline(tmp_path):
    torch.manual_seed(0)
    saved = dinov2_dpt()
    saved.model.save_pretrained(tmp_path)
    loaded = HFDepthNet(family="dpt", size="dinov2-small-nyu", pretrained=str(tmp_path))
    x = torch.randn(1, 3, 42, 56)
    torch.testing.assert_close(loaded.eval()(x)["depth"], saved.eval()(x)["depth"])
    assert loaded.depth_type == "metric" and loaded.provenance["source"] == str(tmp_path.resolve())


def test_the_hub_id_loads_from_the_hugging_face_cache_without_the_hub(tmp_path, monkeypatch):
    """model.pretrained=facebook/dpt-dinov2-small-nyu: a cached snapshot is used as is (no network, no download)."""
    snapshot = tmp_path / "models--facebook--dpt-dinov2-small-nyu" / "snapshots" / ("a" * 40)
    torch.manual_seed(0)
    cached = dinov2_dpt()
    cached.model.save_pretrained(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(
        hf_loading, "hub_reachable", lambda *a, **k: pytest.fail("a cached model must not need the hub")
    )
    loaded = HFDepthNet(family="dpt", size="dinov2-small-nyu", pretrained="facebook/dpt-dinov2-small-nyu")
    x = torch.randn(1, 3, 28, 42)
    torch.testing.assert_close(loaded.eval()(x)["depth"], cached.eval()(x)["depth"])
    assert loaded.provenance["source"] == "hf://facebook/dpt-dinov2-small-nyu" and loaded.depth_type == "metric"
    assert loaded.provenance["license"] == "apache-2.0"


@pytest.mark.slow
def test_max_epochs_0_saves_last_ckpt_of_the_weights_as_they_are(tmp_path):
    config = "{backbone_config:{hidden_size:32,num_attention_heads:2,intermediate_size:64,num_hidden_layers:4,"
    config += "out_indices:[1,2,3,4]},neck_hidden_sizes:[8,16,16,32]}"
    args = ["model=dpt_hf", "model.size=dinov2-small-nyu", f"model.config={config}", "loss=silog", *TINY]
    args += ["data.height=56", "data.width=56", "trainer.max_epochs=0", "logger=csv", f"hydra.run.dir={tmp_path}"]
    outcome = call("train", args)
    assert outcome.code == 0, outcome.stderr[-3000:]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["depthlab_config"]["model"]["size"] == "dinov2-small-nyu" and ckpt["global_step"] == 0
