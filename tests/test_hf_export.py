"""Hugging Face depth models through export.py and predict.py: patch-grid ONNX parity, provenance, relative outputs."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import REAL, REPO, TINY
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from depthlab.cli.app import run
from depthlab.cli.export import export_cli
from depthlab.cli.predict import predict_cli
from depthlab.config_dir import CONF_DIR
from depthlab.inference.exporters import check_exportable, export
from depthlab.inference.predictor import network_size
from depthlab.inference.runners import TorchRunner, checkpoint_runner, open_model
from depthlab.inference.wrapper import wrap
from depthlab.models.build import build_module
from depthlab.models.hf import HFDepthNet
from depthlab.utils.errors import DepthlabError

DA = {
    "backbone_config": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 4,
        "intermediate_size": 64,
        "out_indices": [1, 2, 3, 4],
    },
    "reassemble_hidden_size": 32,
    "neck_hidden_sizes": [16, 16, 32, 32],
    "fusion_hidden_size": 16,
    "head_hidden_size": 8,
}
DPT = "{hidden_size:32,num_hidden_layers:4,num_attention_heads:2,intermediate_size:64,image_size:64,neck_hidden_sizes:[16,16,32,32],fusion_hidden_size:16,backbone_out_indices:[0,1,2,3]}"  # noqa: E501
ZOE = "{backbone_config:{model_type:beit,hidden_size:32,num_hidden_layers:4,num_attention_heads:2,intermediate_size:64,image_size:64,out_indices:[1,2,3,4],use_relative_position_bias:true,reshape_hidden_states:false},neck_hidden_sizes:[16,16,32,32],fusion_hidden_size:16,bottleneck_features:16,num_relative_features:8,bin_embedding_dim:16,num_attractors:[4,2,2,1]}"  # noqa: E501
DATA = [o for o in TINY if o.startswith("data.") and not o.startswith(("data.height", "data.width"))]


def compose_run(*overrides: str) -> OmegaConf:
    """train.yaml with tiny synthetic data and the given model overrides."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*DATA, f"paths.root_dir={REPO}", *overrides])


def spread(model: torch.nn.Module) -> None:
    """Unit-gain weights: transformers' 0.02-std init leaves a tiny depth output ~1e-7, too flat to test parity on."""
    for p in model.parameters():
        if p.dim() > 1:
            p.data.normal_(0, p[0].numel() ** -0.5)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory) -> Path:
    """A tiny Depth Anything written by save_pretrained, with a model card stating its licence."""
    directory = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = HFDepthNet(family="depth_anything", size="small", config=DA).model
    spread(model)
    model.save_pretrained(directory)
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    return directory


@pytest.fixture(scope="module")
def checkpoint(pretrained_dir, tmp_path_factory) -> Path:
    """model=depth_anything_v2 from the save_pretrained directory, trained 3 steps at 56x84, saved by Lightning."""
    cfg = compose_run(
        "model=depth_anything_v2",
        f"model.pretrained={pretrained_dir}",
        "loss=ssi_gm",
        "data.height=56",
        "data.width=84",
    )
    pl.seed_everything(0)
    module = build_module(cfg)
    trainer = pl.Trainer(
        max_steps=3,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=instantiate(cfg.data))
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


def real_image() -> str:
    with open(REAL / "manifest.csv") as f:
        return str(REAL / next(csv.DictReader(f))["rgb"])


def run_inline(script: str, *argv: str, capsys) -> tuple[int, str, str]:
    """Run an entry point in this process (as its root script does) and return (exit code, stdout, stderr)."""
    task = {"predict": predict_cli, "export": export_cli}[script]
    old, sys.argv = sys.argv, [f"{script}.py", *argv]
    try:
        run(script, task)
        code = 0
    except SystemExit as err:
        code = err.code
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("depthlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_checkpoint_spec_is_relative_on_the_patch_grid_with_provenance(checkpoint, pretrained_dir):
    spec = checkpoint_runner(checkpoint).spec
    assert spec.disparity and spec.stride == 14 and (spec.height, spec.width) == (56, 84)
    provenance = spec.config["model"]["provenance"]
    assert provenance["source"] == str(pretrained_dir.resolve()) and provenance["license"] == "apache-2.0"
    assert provenance["revision"].startswith("sha256:")
    line = spec.provenance_line()
    assert str(pretrained_dir.resolve()) in line and provenance["revision"] in line and "apache-2.0" in line
    assert network_size(spec, "input", (480, 640)) == (476, 644)  # resolution=input rounds to the patch, not 32
    with pytest.raises(DepthlabError, match="multiples of 14"):
        network_size(spec, [64, 96], (480, 640))


def test_untraceable_routes_are_refused_in_one_line(checkpoint, tmp_path, capsys):
    for argv, needle in (
        (["format=torchscript"], "cannot be exported as torchscript"),
        (["format=onnx", "exporter=legacy"], "cannot be exported as onnx/legacy"),
    ):
        args = [f"ckpt_path={checkpoint}", *argv, f"output={tmp_path / 'm'}{'.pt' if 'torch' in argv[0] else '.onnx'}"]
        code, _, err = run_inline("export", *args, f"hydra.run.dir={tmp_path / 'e'}", capsys=capsys)
        line = one_error_line(err)
        assert code == 2 and needle in line and "use format=onnx exporter=dynamo" in line, line
    assert not list(tmp_path.glob("m*"))
    zoe = build_module(compose_run("model=zoedepth", f"model.config={ZOE}", "loss=silog")).net
    net, spec = wrap(zoe, {"data": {"height": 64, "width": 96}})
    with pytest.raises(DepthlabError, match="cannot be exported as onnx/dynamo"):
        check_exportable(TorchRunner(net, spec), "onnx", "dynamo")


def test_predict_writes_relative_disparity_only_and_refuses_metric_outputs(checkpoint, tmp_path, capsys):
    image, out = real_image(), tmp_path / "pred"
    base = [f"ckpt_path={checkpoint}", f"input={image}", f"output={out}", f"hydra.run.dir={tmp_path / 'r'}"]
    for flag in ("point_cloud=true", "normals=true"):
        code, _, err = run_inline("predict", *base, flag, capsys=capsys)
        line = one_error_line(err)
        assert code == 2 and "relative disparity" in line and "needs metric depth" in line, line
    assert not out.exists()
    code, stdout, err = run_inline("predict", *base, "resolution=input", capsys=capsys)
    assert code == 0, err[-3000:]
    assert "pretrained weights:" in stdout and "license apache-2.0" in stdout
    assert "multiple of 14" in stdout and "relative disparity" in stdout
    stem = out / Path(image).stem
    disparity = np.load(f"{stem}_disparity.npy")
    assert disparity.shape == (480, 640) and np.isfinite(disparity).all() and disparity.std() > 1e-3
    assert Path(f"{stem}_disparity_color.png").is_file()
    assert not list(out.glob("*_depth*")) and not list(out.glob("*.ply"))


@pytest.mark.slow
def test_onnx_export_parity_at_two_patch_grid_sizes_and_predict_runs_it(checkpoint, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    args = [f"ckpt_path={checkpoint}", "format=onnx", f"output={path}", f"hydra.run.dir={tmp_path / 'e'}"]
    code, stdout, err = run_inline("export", *args, capsys=capsys)
    assert code == 0, err[-3000:]
    assert "pretrained weights:" in stdout and "license apache-2.0" in stdout
    assert float(stdout.split("max abs difference ")[1].split()[0]) <= 1e-4
    reference, shipped = checkpoint_runner(checkpoint), open_model(path)
    assert shipped.spec == reference.spec and shipped.spec.disparity
    assert shipped.spec.provenance == reference.spec.provenance and shipped.spec.provenance_line()
    generator = torch.Generator().manual_seed(3)
    for batch, height, width in ((1, 70, 98), (2, 42, 126)):  # odd and even patch grids, neither the training size
        images = {"image": torch.rand(batch, 3, height, width, generator=generator)}
        expected, actual = reference(images)["depth"], shipped(images)["depth"]
        assert actual.shape == (batch, 1, height, width) and expected.std() > 1e-3
        assert (actual - expected).abs().max() <= 1e-4
    image = real_image()
    for name, model in {"torch": checkpoint, "onnx": path}.items():
        argv = [f"ckpt_path={model}", f"input={image}", f"output={tmp_path / name}", f"hydra.run.dir={tmp_path / name}"]
        code, stdout, err = run_inline("predict", *argv, capsys=capsys)
        assert code == 0 and "relative disparity" in stdout and "license apache-2.0" in stdout, err[-3000:]
    stem = Path(image).stem
    torch_disp, onnx_disp = (np.load(tmp_path / d / f"{stem}_disparity.npy") for d in ("torch", "onnx"))
    assert np.abs(torch_disp - onnx_disp).max() <= 1e-4


@pytest.mark.slow
def test_dpt_onnx_export_keeps_odd_and_even_patch_grids(tmp_path):
    torch.manual_seed(0)
    net = build_module(compose_run("model=dpt_hf", f"model.config={DPT}", "loss=ssi_gm")).net
    spread(net)
    inference, spec = wrap(net, {"data": {"height": 64, "width": 96}})
    runner = TorchRunner(inference, spec)
    assert export(runner, "onnx", tmp_path / "dpt.onnx") <= 1e-4  # parity at grids 4x6 and 5x8
    shipped = open_model(tmp_path / "dpt.onnx")
    images = {"image": torch.rand(1, 3, 112, 80, generator=torch.Generator().manual_seed(0))}  # grid 7x5
    expected = runner(images)["depth"]
    assert expected.std() > 1e-3 and (shipped(images)["depth"] - expected).abs().max() <= 1e-4


def test_full_size_depth_anything_small_trains_a_step_at_196x252():
    torch.manual_seed(0)
    net = build_module(compose_run("model=depth_anything_v2", "model.size=small", "loss=ssi_gm")).net.train()
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 1) == 24.8
    start = time.perf_counter()
    depth = net(torch.randn(1, 3, 196, 252))["depth"]
    depth.mean().backward()
    seconds = time.perf_counter() - start
    assert depth.shape == (1, 1, 196, 252) and torch.isfinite(depth).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert seconds < 30, seconds  # ~2 s on a quiet 2-core CPU
