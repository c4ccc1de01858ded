"""Device export: TFLite parity in the LiteRT interpreter, fp16 / int8 sizes and reports, .tflite in predict / eval."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from importlib.util import find_spec

import numpy as np
import pytest
from conftest import REAL, REPO, TINY, run_cli

from depthlab.cli.app import run
from depthlab.cli.evaluate import evaluate
from depthlab.cli.export import export_cli
from depthlab.cli.predict import predict_cli
from depthlab.inference import litert
from depthlab.inference.calibration import dataset_batches
from depthlab.inference.exporters import export_onnx
from depthlab.inference.mobile import compare, open_exported
from depthlab.inference.quantize import quantize_onnx
from depthlab.inference.runners import checkpoint_runner, open_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_spec("litert_torch") is None, reason="the tflite extra is not installed (make install)"),
]
# a small Unet (timm resnet10t, 8-16 channel decoder) trained one tiny epoch: conversion takes seconds, not minutes
SMALL = ["model.encoder=tu-resnet10t", "model.arch_kwargs.decoder_channels=[16,16,8,8,8]"]
OFF = ["logger=csv", "test=false", "callbacks.image_panels=null", "callbacks.lr_monitor=null"]
TASKS = {"predict": predict_cli, "export": export_cli, "eval": evaluate}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    result = run_cli("train.py", *TINY, *SMALL, *OFF, tmp_path=tmp, run_dir=tmp / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run" / "checkpoints" / "last.ckpt"


def run_inline(script: str, *argv: str) -> tuple[int, str, str]:
    """Run an entry point in this process (as its root script does) and return (exit code, stdout, stderr).

    Captured by redirection, not capsys: streams cached by the converters must outlive each test.
    """
    old, sys.argv = sys.argv, [f"{script}.py", *argv]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run(script, TASKS[script])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


def table_row(out: str) -> dict[str, str]:
    """The printed report as {column: value}."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("format |"))
    names, values = ([c.strip() for c in lines[i].split("|")] for i in (header, header + 1))
    return dict(zip(names, values, strict=True))


@pytest.fixture(scope="module")
def tflite_fp32(checkpoint, tmp_path_factory):
    """export.py format=tflite through the CLI (one conversion shared by the tests below), and its printed table."""
    tmp = tmp_path_factory.mktemp("tflite")
    path = tmp / "model.tflite"
    argv = [f"ckpt_path={checkpoint}", "format=tflite", f"output={path}", f"hydra.run.dir={tmp / 'e'}"]
    code, out, err = run_inline("export", *argv)
    assert code == 0, err[-3000:]
    return path, out


def test_tflite_fp32_matches_pytorch_in_the_litert_interpreter(checkpoint, tflite_fp32):
    path, out = tflite_fp32
    row = table_row(out)
    assert row["format"] == "tflite" and row["quantize"] == "none" and "parity enforced" in out
    assert float(row["max abs diff"]) < 1e-4
    reference, shipped = checkpoint_runner(checkpoint), open_model(path)
    assert shipped.backend == "litert" and shipped.spec == reference.spec  # the spec travels in the file
    worst, pytorch, exported = compare(reference, shipped, dataset_batches(reference.spec.config, "val", 8, 64, 64))
    assert worst < 1e-4 and abs(pytorch["abs_rel"] - exported["abs_rel"]) < 1e-4


def quantized(tflite: tuple, checkpoint, tmp_path, mode: str) -> tuple[float, float, dict, dict]:
    """Quantise the CLI's float file as export.py does; (size ratio, max abs diff, PyTorch and exported metrics)."""
    source, _ = tflite
    reference = checkpoint_runner(checkpoint)
    train = dataset_batches(reference.spec.config, "train", 8, 64, 64)
    feeds = litert.calibration_inputs(reference.spec, [image for batch in train for image in batch.image])
    target = tmp_path / f"{mode}.tflite"
    litert.quantize(source, target, mode, feeds)
    litert.embed_spec(target, reference.spec)
    val = dataset_batches(reference.spec.config, "val", 8, 64, 64)
    worst, pytorch, exported = compare(reference, open_exported("tflite", target), val)
    return target.stat().st_size / source.stat().st_size, worst, pytorch, exported


def test_tflite_fp16_is_half_the_size_within_tolerance(checkpoint, tflite_fp32, tmp_path):
    ratio, worst, pytorch, exported = quantized(tflite_fp32, checkpoint, tmp_path, "fp16")
    assert 0.4 < ratio < 0.6 and worst < 5e-2
    assert abs(pytorch["abs_rel"] - exported["abs_rel"]) < 5e-3


def test_tflite_int8_is_a_quarter_the_size_and_reported(checkpoint, tflite_fp32, tmp_path):
    ratio, worst, pytorch, exported = quantized(tflite_fp32, checkpoint, tmp_path, "int8")
    assert 0.15 < ratio < 0.35 and np.isfinite(worst)  # reported, not enforced
    assert set(exported) == {"abs_rel", "delta1"} and np.isfinite(exported["abs_rel"])


def test_onnx_int8_through_the_cli_and_fp16_sizes(checkpoint, tmp_path):
    path = tmp_path / "model.onnx"
    argv = [f"ckpt_path={checkpoint}", "format=onnx", "quantize=int8", f"output={path}", "exporter=legacy"]
    argv += ["calibration_samples=8", "eval_samples=8", f"hydra.run.dir={tmp_path / 'e'}"]
    code, out, err = run_inline("export", *argv)
    assert code == 0, err[-3000:]
    row = table_row(out)
    assert row["quantize"] == "int8" and "parity reported, not enforced (int8)" in out
    assert 0.15 < float(row["MB after"]) / float(row["MB before"]) < 0.35
    reference, shipped = checkpoint_runner(checkpoint), open_model(path)
    assert shipped.spec == reference.spec
    float_path, half = tmp_path / "float.onnx", tmp_path / "half.onnx"
    export_onnx(reference, float_path)
    quantize_onnx(float_path, half, "fp16", reference.spec, [])
    assert 0.4 < half.stat().st_size / float_path.stat().st_size < 0.6
    worst, pytorch, exported = compare(
        reference, open_model(half), dataset_batches(reference.spec.config, "val", 8, 64, 64)
    )
    assert worst < 5e-2 and abs(pytorch["abs_rel"] - exported["abs_rel"]) < 5e-3


def test_predict_and_eval_accept_a_tflite_file(checkpoint, tflite_fp32, tmp_path):
    path, _ = tflite_fp32
    real = REAL if REAL.is_dir() else REPO.parents[1] / "shared" / "data" / "real"
    with open(real / "manifest.csv") as f:
        image = str(real / next(csv.DictReader(f))["rgb"])
    for name, model in {"torch": checkpoint, "tflite": path}.items():
        argv = [f"ckpt_path={model}", f"input={image}", f"output={tmp_path / name}"]
        code, _, err = run_inline("predict", *argv, f"hydra.run.dir={tmp_path / ('p' + name)}")
        assert code == 0, err[-3000:]
    depths = [np.load(next((tmp_path / d).rglob("*_depth.npy"))) for d in ("torch", "tflite")]
    assert depths[0].shape == depths[1].shape and np.abs(depths[0] - depths[1]).max() < 1e-4
    scores = {}
    for name, model in {"torch": checkpoint, "tflite": path}.items():
        run_dir = tmp_path / f"eval_{name}"
        code, _, err = run_inline("eval", f"ckpt_path={model}", "split=val", "logger=csv", f"hydra.run.dir={run_dir}")
        assert code == 0, err[-3000:]
        scores[name] = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/abs_rel", "val/delta1", "val/rmse"):
        # abs_rel divides by depths near min_depth, where a 1e-5 m difference shows: relative 1e-3
        assert scores["tflite"][key] == pytest.approx(scores["torch"][key], rel=1e-3, abs=1e-5), key


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("depthlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_refusals_are_one_line(checkpoint, tmp_path, monkeypatch):
    cases = [
        (["format=onnx", "quantize=int4"], "quantize='int4' is unknown; use one of none, fp16, int8"),
        (["format=torchscript", "quantize=int8"], "quantize=int8 is not supported for format=torchscript"),
        (["format=tflite", "height=0"], "height=0 must be a positive multiple"),
        (["quantize=fp16", "exporter=legacy"], "quantize=fp16 needs exporter=dynamo"),
        (["format=tflite", "height=48", "width=64"], "must be positive multiples of 32, the network's stride"),
    ]
    for argv, needle in cases:
        code, _, err = run_inline("export", f"ckpt_path={checkpoint}", *argv, f"hydra.run.dir={tmp_path / 'r'}")
        assert code == 2 and needle in one_error_line(err), (argv, err[-2000:])
    monkeypatch.setattr(litert, "find_spec", lambda name: None)  # as if the tflite extra were not installed
    code, _, err = run_inline("export", f"ckpt_path={checkpoint}", "format=tflite", f"hydra.run.dir={tmp_path / 'r'}")
    assert code == 2 and "pip install -e '.[tflite]'" in one_error_line(err)
    assert not checkpoint.with_suffix(".tflite").exists()
