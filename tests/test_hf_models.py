"""Hugging Face depth models as model= options: presets, offline loading, provenance, scoring, LR groups, fits."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.models import hf_loading
from depthlab.models.build import build_module
from depthlab.models.hf import HFDepthNet
from depthlab.models.param_groups import build_optimizer
from depthlab.utils.errors import DepthlabError
from tests.conftest import REPO, TINY, read_metrics, run_cli
from tests.hf_tiny import DEPTH_ANYTHING, DPT, SIZE, override, size
from tests.hf_tiny import TINY as TINY_HF
from tests.refusals import call

OPTIONS = ("depth_anything_v2", "dpt_hf", "zoedepth")


def tiny_net(**kwargs) -> HFDepthNet:
    return HFDepthNet(family="depth_anything", size="small", config=DEPTH_ANYTHING, **kwargs)


def compose_train(*overrides: str, tmp_path: Path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}", *overrides])


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory) -> tuple[Path, HFDepthNet]:
    """A tiny Depth Anything written by save_pretrained, with a model card naming its licence."""
    directory = tmp_path_factory.mktemp("dav2_tiny")
    torch.manual_seed(0)
    net = tiny_net(depth_type="metric")
    net.model.save_pretrained(directory)
    (directory / "README.md").write_text("---\nlicense: apache-2.0\ntags: [depth]\n---\n# tiny\n")
    return directory, net


def test_published_sizes_have_the_published_parameter_counts():
    with torch.device("meta"):
        counts = {size: sum(p.numel() for p in HFDepthNet(size=size).parameters()) for size in ("small", "base")}
    assert counts["small"] == 24_785_089  # Depth-Anything-V2-Small: 24.8M
    assert 97.0e6 < counts["base"] < 98.0e6  # Depth-Anything-V2-Base: 97.5M


def test_save_pretrained_directory_loads_offline_with_provenance(saved_dir):
    directory, net = saved_dir
    loaded = HFDepthNet(family="depth_anything", size="small", pretrained=str(directory), depth_type="metric")
    x = torch.randn(1, 3, 42, 56)
    torch.testing.assert_close(loaded.eval()(x)["depth"], net.eval()(x)["depth"])
    assert loaded.provenance["source"] == str(directory.resolve())
    assert loaded.provenance["license"] == "apache-2.0"
    assert loaded.provenance["revision"].startswith("sha256:") and len(loaded.provenance["revision"]) == 23


def test_encoder_only_loading_keeps_a_fresh_head(saved_dir):
    directory, net = saved_dir
    torch.manual_seed(1)
    part = HFDepthNet(size="small", pretrained=str(directory), pretrained_parts="encoder", depth_type="metric")
    for (name, a), b in zip(part.encoder.state_dict().items(), net.encoder.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(part.model.head.conv1.weight, net.model.head.conv1.weight)


def test_hub_id_offline_fails_fast_in_one_line(monkeypatch):
    monkeypatch.setattr(hf_loading, "hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(DepthlabError, match="unreachable: run once with network access") as err:
        HFDepthNet(size="small", pretrained="depth-anything/Depth-Anything-V2-Small-hf")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ref", "needle"),
    [("/no/such/dir", "neither an existing directory nor a hub id"), ("weights.safetensors", "neither")],
)
def test_bad_pretrained_reference_is_refused(ref, needle):
    with pytest.raises(DepthlabError, match=needle):
        HFDepthNet(size="small", pretrained=ref)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(DepthlabError, match="has no config.json"):
        HFDepthNet(size="small", pretrained=str(tmp_path))


def test_relative_models_are_scored_in_disparity_space(tmp_path):
    cfg = compose_train("model=depth_anything_v2", override("depth_anything_v2"), "loss=ssi_gm", tmp_path=tmp_path)
    module = build_module(cfg)
    assert module.net.output_kind == "relative_disparity"
    assert (module.protocol.pred_space, module.protocol.alignment) == ("disparity", "lstsq_disparity")
    depth = torch.rand(2, 1, 14, 14) * 5 + 1
    valid = torch.ones_like(depth, dtype=torch.bool)
    pred, target, mask = module.protocol(3.0 / depth + 0.2, depth, valid)  # affine in disparity: perfect after fit
    torch.testing.assert_close(pred[mask], target[mask], rtol=1e-4, atol=1e-4)
    metric = build_module(compose_train("model=depth_anything_v2", "model.depth_type=metric", tmp_path=tmp_path))
    assert metric.net.output_kind == "metric" and metric.protocol.alignment == "none"
    assert metric.net.model.config.max_depth == 10  # data.max_depth of the synthetic set


def test_relative_model_with_a_metric_loss_is_refused(tmp_path):
    outcome = call("train", ["model=depth_anything_v2", "loss=silog", *TINY, f"hydra.run.dir={tmp_path}"])
    assert outcome.code != 0 and len(outcome.errors) == 1
    assert "relative (affine-invariant) disparity" in outcome.errors[0] and "loss=ssi_gm" in outcome.errors[0]


def test_mask_task_is_refused_in_one_line(tmp_path):
    outcome = call("train", ["model=dpt_hf", "task=depth_mask", *TINY, f"hydra.run.dir={tmp_path}"])
    assert outcome.code != 0 and len(outcome.errors) == 1 and "no mask head" in outcome.errors[0]


def test_size_check_names_the_patch_grid():
    with pytest.raises(DepthlabError, match=r"not divisible by 14, the patch size .* data.height=70 data.width=98"):
        tiny_net().check_input_size(64, 96)


def test_dpt_and_zoedepth_take_non_square_inputs():
    dpt = HFDepthNet(family="dpt", size="large", config=DPT)
    assert dpt(torch.randn(1, 3, 48, 80))["depth"].shape == (1, 1, 48, 80)
    assert dpt.rescale  # DPT expects mean = std = 0.5: the ImageNet-normalised input is mapped onto it


def test_layer_decay_gives_each_block_its_learning_rate():
    net = tiny_net(layer_decay=0.5, encoder_lr_mult=0.1)
    optimizer = build_optimizer(partial(torch.optim.AdamW, lr=1e-3), net, net)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    # 4 blocks: embeddings id 0, block i id i + 1, final norm id 5 = top
    expected = {f"encoder.layer{i:02d}": 1e-4 * 0.5 ** (5 - i) for i in range(6)} | {"decoder": 1e-3}
    assert lrs == pytest.approx(expected)
    seen = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(net.parameters()))
    block0 = next(g for g in optimizer.param_groups if g["name"] == "encoder.layer01")
    names = {id(p): n for n, p in net.encoder.named_parameters()}
    assert all(".layer.0." in names[id(p)] for p in block0["params"])


class ConvNet(torch.nn.Module):
    """A network whose encoder is a CNN (no transformer blocks)."""

    layer_decay, name = 0.8, "cnn"

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 1, 1))

    @property
    def encoder(self) -> torch.nn.Module:
        return self.body[0]


def test_layer_decay_covers_timm_vit_encoders_of_smp_models():
    from depthlab.models.nets import SmpDepthNet

    net = SmpDepthNet("DPT", "tu-vit_tiny_patch16_224", arch_kwargs={"dynamic_img_size": True}, layer_decay=0.5)
    optimizer = build_optimizer(partial(torch.optim.AdamW, lr=1e-3), net, net)
    lrs = sorted(g["lr"] for g in optimizer.param_groups if g["name"].startswith("encoder"))
    assert lrs == pytest.approx([1e-3 * 0.5**k for k in range(13, -1, -1)])  # 12 blocks: ids 0..13


def test_layer_decay_needs_numbered_blocks():
    net = ConvNet()
    with pytest.raises(DepthlabError, match="cnn has none; set model.layer_decay=1"):
        build_optimizer(partial(torch.optim.AdamW, lr=1e-3), net, net)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain, ckpt = tiny_net(), tiny_net(gradient_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 28, 42)
    grads = []
    for net in (plain, ckpt):
        net.train()
        net(x)["depth"].square().mean().backward()
        grads.append([p.grad for p in net.parameters()])
    assert sum(g is not None for g in grads[0]) > 100
    for a, b in zip(*grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_fits_scores_and_reloads_offline(option, tmp_path):
    loss = "loss=silog" if option == "zoedepth" else "loss=ssi_gm"
    run = tmp_path / "run"
    args = [f"model={option}", override(option), loss, *TINY, *size(option), "logger=csv", f"hydra.run.dir={run}"]
    assert call("train", args).code == 0
    metrics = read_metrics(run)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert metrics["val/delta1"] > 0
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    config = torch.load(ckpt, map_location="cpu", weights_only=True)["depthlab_config"]["model"]
    assert config["pretrained"] is None and config["architecture"]["model_type"]
    out = tmp_path / "eval"
    assert call("eval", [f"ckpt_path={ckpt}", f"hydra.run.dir={out}"]).code == 0
    assert read_metrics(out)["test/delta1"] == pytest.approx(metrics["test/delta1"], abs=1e-5)


@pytest.mark.slow
def test_any_hf_model_by_directory_trains_and_keeps_provenance(saved_dir, tmp_path):
    directory, _ = saved_dir
    run = tmp_path / "run"
    args = ["model=hf", f"model.name_or_path={directory}", "loss=silog", *TINY, *size("depth_anything_v2")]
    args += ["trainer.max_epochs=3", "optimizer.lr=3e-3", "scheduler=none", "test=false", "logger=csv"]
    assert call("train", [*args, f"hydra.run.dir={run}"]).code == 0
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    model = torch.load(ckpt, map_location="cpu", weights_only=True)["depthlab_config"]["model"]
    assert model["provenance"]["license"] == "apache-2.0"
    assert model["provenance"]["source"] == str(directory.resolve())
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(losses) == 3 and losses[-1] < losses[0]  # fine-tuning the loaded weights lowers the loss


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "fixture", "extra"),
    [
        ("dav2_metric_finetune", "folder", ["data.val_fraction=0.2"]),
        ("dav2_relative_finetune", "redweb", []),
    ],
)
def test_finetune_recipes_run_on_real_dataset_layouts(experiment, fixture, extra, saved_dir, tmp_path):
    directory, _ = saved_dir
    fixtures.WRITERS[fixture](tmp_path / "data")
    args = [f"experiment={experiment}", f"data={fixture}", f"data.root={tmp_path / 'data'}", *extra]
    args += [f"model.pretrained={directory}", "data.height=42", "data.width=56", "data.batch_size=2"]
    args += ["data.eval_batch_size=2", "data.num_workers=0", "trainer.max_epochs=1", "callbacks.progress_bar=null"]
    args += ["logger=csv", "baseline=false"]
    assert call("train", [*args, f"hydra.run.dir={tmp_path / 'run'}"]).code == 0
    metrics = read_metrics(tmp_path / "run")
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values()) and "test/delta1" in metrics
    ckpt = next((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    run = torch.load(ckpt, map_location="cpu", weights_only=True)["depthlab_config"]
    assert run["optimizer"]["weight_decay"] == 0.01 and run["model"]["encoder_lr_mult"] == 0.1
    kind = run["model"]["architecture"]["depth_estimation_type"]
    assert kind == ("metric" if "metric" in experiment else "relative")


def test_recipe_learning_rates_are_the_published_ones(tmp_path):
    cfg = compose_train(
        "experiment=dav2_metric_finetune", "model.pretrained=null", override("depth_anything_v2"), tmp_path=tmp_path
    )
    module = build_module(cfg)
    optimizer = build_optimizer(instantiate(cfg.optimizer), module, module.net)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == pytest.approx({"decoder": 5e-5, "encoder": 5e-6})  # Depth Anything V2 metric_depth/train.py
    assert module.loss.terms["silog"].lambd == 0.5 and module.loss.terms["silog"].scale == 1.0


@pytest.mark.parametrize("option", OPTIONS)
def test_every_trainable_parameter_gets_a_gradient(option):
    """DDP (find_unused_parameters=false) stops on a parameter without gradient: those are frozen at build."""
    family = {"depth_anything_v2": "depth_anything", "dpt_hf": "dpt", "zoedepth": "zoedepth"}[option]
    net = HFDepthNet(family=family, size="small" if option == "depth_anything_v2" else "large", config=TINY_HF[option])
    assert net.unused  # each family has some (mask token, final norm, first fusion residual)
    net.set_encoder_trainable(False)
    net.set_encoder_trainable(True)  # unfreezing keeps them frozen
    net(torch.randn(2, 3, *SIZE[option]))["depth"].mean().backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains_a_foundation_model(tmp_path):
    """gloo DDP without find_unused_parameters: the frozen unused parameters keep the gradient sync complete."""
    run = tmp_path / "ddp"
    args = ["model=depth_anything_v2", override("depth_anything_v2"), "loss=ssi_gm", *TINY, *size("depth_anything_v2")]
    args += ["trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2", "logger=csv", "test=false"]
    result = run_cli("train.py", *args, "data.num_val=7", tmp_path=tmp_path, run_dir=run)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    outcome = call("eval", [f"ckpt_path={ckpt}", "split=val", "logger=csv", f"hydra.run.dir={tmp_path / 'eval'}"])
    assert outcome.code == 0, outcome.stderr[-3000:]
    assert read_metrics(tmp_path / "eval")["val/delta1"] == pytest.approx(read_metrics(run)["val/delta1"], abs=1e-4)


def test_recipe_offline_stops_in_one_line_naming_the_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(hf_loading, "hub_reachable", lambda timeout=2.0: False)
    outcome = call("train", ["experiment=dav2_relative_finetune", *TINY, f"hydra.run.dir={tmp_path}"])
    assert outcome.code != 0 and len(outcome.errors) == 1
    assert "model.pretrained=depth-anything/Depth-Anything-V2-Small-hf must be downloaded" in outcome.errors[0]
    assert not list(tmp_path.glob("checkpoints/*"))
