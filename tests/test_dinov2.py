"""timm DINOv2 / DINOv3 encoders: patch-14 DPT, offline or local encoder weights, provenance, checkpointing."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from hydra import compose, initialize_config_dir
from refusals import hostile_checkpoint
from safetensors.torch import save_file

from depthlab.config_dir import CONF_DIR
from depthlab.models import nets, weights
from depthlab.models.build import build_module
from depthlab.models.checkpoint import CONFIG_KEY, module_from_checkpoint
from depthlab.models.nets import SmpDepthNet
from depthlab.models.weights import provenance
from depthlab.utils.errors import DepthlabError

DINOV2 = "tu-vit_small_patch14_dinov2.lvd142m"
# a 64-wide DINOv2 (same 12 blocks, patch embedding, prefix tokens and layer scale as the real one)
TINY_VIT = {"embed_dim": 64, "num_heads": 2, "dynamic_img_size": True}
DECODER = {"decoder_intermediate_channels": [16, 32, 64, 64], "decoder_fusion_channels": 16}


def tiny_dpt(encoder: str = DINOV2, **kwargs: object) -> SmpDepthNet:
    return SmpDepthNet("DPT", encoder, arch_kwargs=TINY_VIT | DECODER, **kwargs)


def test_patch14_dpt_predicts_at_the_input_size_and_names_the_valid_sizes():
    net = tiny_dpt().eval()
    assert (net.output_stride, net.min_input_size, net.resize_output) == (28, 28, True)
    assert [b.upsample.stride for b in net.net.decoder.reassemble_blocks[:2]] == [(4, 4), (2, 2)]  # x4, x2 of 16
    with torch.no_grad():
        depth = net(torch.rand(2, 3, 140, 168))["depth"]
    assert depth.shape == (2, 1, 140, 168) and bool(((depth > 0) & (depth < 10)).all())
    with pytest.raises(DepthlabError, match=r"518x518 is not divisible by 28, .*data.height=504 data.width=504"):
        net.check_input_size(518, 518)
    with pytest.raises(DepthlabError, match=r"128x160 is not divisible by 28, .*data.height=140 data.width=168"):
        net.check_input_size(128, 160)


def test_patch16_dinov3_keeps_smps_decoder_and_output_size():
    net = tiny_dpt("tu-vit_small_patch16_dinov3.lvd1689m").eval()
    assert (net.output_stride, net.resize_output) == (32, False)
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 96))["depth"].shape == (1, 1, 64, 96)


@pytest.mark.parametrize("save", ["safetensors", "torch", "directory"])
def test_a_local_weight_file_loads_offline_into_the_encoder(save, tmp_path, monkeypatch):
    monkeypatch.setattr(nets, "hub_reachable", lambda *a, **k: pytest.fail("a local file must not need the hub"))
    torch.manual_seed(1)
    reference = timm.create_model("vit_small_patch14_dinov2", **TINY_VIT).state_dict()
    path = {"safetensors": tmp_path / "w.safetensors", "torch": tmp_path / "w.pth", "directory": tmp_path}[save]
    if save == "torch":
        torch.save(reference, path)
    else:
        save_file(reference, tmp_path / ("model.safetensors" if save == "directory" else "w.safetensors"))
    net = tiny_dpt(encoder_weights=str(path))
    loaded = net.encoder.model.state_dict()
    assert loaded.keys() == reference.keys() and all(torch.equal(loaded[k], v) for k, v in reference.items())
    assert not torch.equal(tiny_dpt().encoder.model.pos_embed, reference["pos_embed"])  # random init differs
    assert net.provenance == {"source": str(path), "revision": "", "license": "unknown (see the weights' model card)"}


def test_bad_local_weights_are_refused_in_one_line(tmp_path):
    marker = tmp_path / "pwned"
    hostile = hostile_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(DepthlabError, match=r"evil.pth does not load into tu-vit_small") as info:
        tiny_dpt(encoder_weights=str(hostile))
    assert not marker.exists() and "\n" not in str(info.value)  # weights_only: the pickle never ran
    with pytest.raises(DepthlabError, match=r"missing.safetensors is not a weight file"):
        tiny_dpt(encoder_weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(DepthlabError, match=r"needs a timm encoder \(model.encoder=tu-<name>\)"):
        SmpDepthNet("Unet", "resnet18", encoder_weights=str(hostile))
    with pytest.raises(DepthlabError, match=r"encoder_weights=foo is unknown for the timm encoder .*use timm"):
        tiny_dpt(encoder_weights="foo")


def test_timm_weights_fail_fast_when_the_hub_is_unreachable(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty weight cache
    monkeypatch.setattr(nets, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(DepthlabError, match=r"encoder_weights=timm must be downloaded from huggingface.co") as info:
        tiny_dpt(encoder_weights="timm")
    assert "\n" not in str(info.value)


def test_provenance_names_source_revision_and_license(monkeypatch):
    assert tiny_dpt().provenance is None
    monkeypatch.setattr(weights, "try_to_load_from_cache", lambda repo, name: None)  # not in the hub cache
    assert provenance(DINOV2, "timm") == {
        "source": "timm/vit_small_patch14_dinov2.lvd142m",
        "revision": "",
        "license": "apache-2.0",
    }
    snapshot = "/hf/hub/models--timm--vit_small_patch14_dinov2.lvd142m/snapshots/{}/{}"
    monkeypatch.setattr(weights, "try_to_load_from_cache", lambda repo, name: snapshot.format("ab12" * 10, name))
    assert provenance(DINOV2, "timm")["revision"] == "ab12" * 10  # the cached commit
    assert provenance("tu-vit_small_patch16_dinov3.lvd1689m", "timm")["license"] == "dinov3-license"
    assert provenance("resnet18", "imagenet") == {
        "source": "smp-hub/resnet18.imagenet",
        "revision": "3f2325ff978283d47aa6a1d6878ca20565622683",
        "license": "unknown (see the weights' model card)",
    }


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    plain, checkpointed = tiny_dpt(), tiny_dpt(gradient_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert checkpointed.encoder.model.grad_checkpointing and not plain.encoder.model.grad_checkpointing
    image = torch.rand(2, 3, 56, 84)
    results = []
    for net in (plain, checkpointed):
        torch.manual_seed(3)  # the same dropout mask in DPT's head
        loss = net.train()(image)["depth"].mean()
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in net.named_parameters() if p.grad is not None}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert torch.allclose(loss_a, loss_b) and grads_a.keys() == grads_b.keys()
    assert len(grads_a) > 150 and all(torch.allclose(grads_a[n], grads_b[n], atol=1e-6) for n in grads_a)
    assert grads_a["net.encoder.model.blocks.0.attn.qkv.weight"].abs().sum() > 0


def test_a_checkpoint_rebuilds_without_its_weight_file_and_keeps_provenance(tmp_path: Path):
    weight_file, ckpt = tmp_path / "w.safetensors", tmp_path / "run.ckpt"
    save_file(timm.create_model("vit_small_patch14_dinov2", **TINY_VIT).state_dict(), weight_file)
    tiny = [f"++model.arch_kwargs.{k}={str(v).lower()}" for k, v in TINY_VIT.items()]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "model=dpt",
                f"model.encoder={DINOV2}",
                f"model.encoder_weights={weight_file}",
                *tiny,
                f"paths.output_dir={tmp_path}",
            ],
        )
    module = build_module(cfg)
    torch.save({"state_dict": module.state_dict(), CONFIG_KEY: module.run_config}, ckpt)
    weight_file.unlink()  # e.g. evaluated on another machine
    rebuilt, _ = module_from_checkpoint(ckpt)
    saved = module.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in rebuilt.state_dict().items())
    assert rebuilt.net.provenance["source"] == str(weight_file)
