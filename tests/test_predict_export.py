"""End-to-end on a tiny trained checkpoint: predict on the real images, export with parity, errors on bad input."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from conftest import REAL, REPO, TINY, run_cli
from PIL import Image
from plyfile import PlyData

from depthlab.cli.app import run
from depthlab.cli.export import export_cli
from depthlab.cli.predict import predict_cli
from depthlab.inference.exporters import max_abs_difference
from depthlab.inference.runners import checkpoint_runner, open_model

pytestmark = pytest.mark.slow
MAX_DEPTH = 10.0
# conftest's REAL is the main checkout's sibling; from a git worktree (/work/wt/<name>) it sits one level higher
REAL = REAL if REAL.is_dir() else REPO.parents[1] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The default model (Unet-resnet18) trained for one tiny epoch at 64x64 by the real train.py."""
    tmp = tmp_path_factory.mktemp("train")
    overrides = [*TINY, "logger=csv", "test=false", "callbacks.image_panels=null", "callbacks.lr_monitor=null"]
    result = run_cli("train.py", *overrides, tmp_path=tmp, run_dir=tmp / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run" / "checkpoints" / "last.ckpt"


def real_images() -> list[str]:
    with open(REAL / "manifest.csv") as f:
        return [str(REAL / row["rgb"]) for row in csv.DictReader(f)]


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


def test_predict_on_real_images_writes_every_output_at_input_resolution(checkpoint, tmp_path):
    images = real_images()
    out = tmp_path / "pred"
    listing = "[" + ",".join(images) + "]"
    args = [f"ckpt_path={checkpoint}", f"input={listing}", f"output={out}", "normals=true", "point_cloud=true"]
    result = run_cli("predict.py", *args, "flip_tta=true", "batch_size=4", tmp_path=tmp_path, run_dir=tmp_path / "r")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(images)} images" in result.stdout and "SyntheticDataModule dataset" in result.stdout
    assert "predict: 100%" in result.stderr  # the progress bar
    for image in images:
        stem = out / image.removeprefix(str(REAL) + "/").rsplit(".", 1)[0]
        width, height = Image.open(image).size
        depth = np.load(f"{stem}_depth.npy")
        assert depth.shape == (height, width) and depth.dtype == np.float32
        assert np.isfinite(depth).all() and 0 < depth.min() and depth.max() <= MAX_DEPTH
        png16 = np.asarray(Image.open(f"{stem}_depth.png"))
        assert png16.shape == (height, width) and np.abs(png16.astype(float) - depth * 1000).max() <= 0.5 + 1e-3
        assert np.asarray(Image.open(f"{stem}_depth_color.png")).shape == (height, width, 3)
        normals = np.asarray(Image.open(f"{stem}_normals.png"), dtype=np.float32) / 255 * 2 - 1
        valid = (depth > 1e-3) & (depth < MAX_DEPTH)
        assert normals.shape == (height, width, 3)
        assert np.allclose(np.linalg.norm(normals[valid], axis=-1), 1, atol=0.02)
        vertex = PlyData.read(f"{stem}_points.ply")["vertex"]
        assert vertex.count == valid.sum()
        assert np.allclose(np.asarray(vertex["z"]), depth[valid], atol=1e-5)


def test_onnx_export_matches_pytorch_and_predict_runs_it(checkpoint, tmp_path, capsys):
    onnx_path = tmp_path / "model.onnx"
    args = [f"ckpt_path={checkpoint}", "format=onnx", f"output={onnx_path}", f"hydra.run.dir={tmp_path / 'e'}"]
    code, out, err = run_inline("export", *args, capsys=capsys)
    assert code == 0, err[-3000:]
    reported = float(out.split("max abs difference ")[1].split()[0])
    reference, shipped = checkpoint_runner(checkpoint), open_model(onnx_path)
    assert shipped.backend == "onnxruntime" and shipped.spec == reference.spec
    assert max_abs_difference(reference, shipped) <= 1e-4 and reported <= 1e-4
    image = real_images()[0]
    for name, model in {"torch": checkpoint, "onnx": onnx_path}.items():
        argv = [f"ckpt_path={model}", f"input={image}", f"output={tmp_path / name}", f"hydra.run.dir={tmp_path / name}"]
        code, out, err = run_inline("predict", *argv, capsys=capsys)
        assert code == 0, err[-3000:]
    stem = image.rsplit("/", 1)[1].rsplit(".", 1)[0]
    torch_depth, onnx_depth = (np.load(tmp_path / d / f"{stem}_depth.npy") for d in ("torch", "onnx"))
    assert np.abs(torch_depth - onnx_depth).max() <= 1e-4


def test_torchscript_export_matches_pytorch(checkpoint, tmp_path, capsys):
    path = tmp_path / "model.pt"
    argv = [f"ckpt_path={checkpoint}", "format=torchscript", f"output={path}", f"hydra.run.dir={tmp_path / 'e'}"]
    code, out, err = run_inline("export", *argv, capsys=capsys)
    assert code == 0, err[-3000:]
    shipped = open_model(path)
    assert shipped.backend == "torchscript" and max_abs_difference(checkpoint_runner(checkpoint), shipped) <= 1e-4
    code, _, err = run_inline("export", *argv, capsys=capsys)  # the file exists now
    assert code == 2 and "exists; pass overwrite=true" in err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("depthlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_bad_input_gives_one_line_errors_and_writes_nothing(checkpoint, tmp_path, capsys):
    good = real_images()[0]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(open(good, "rb").read())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    cases = [
        (
            "predict",
            [f"ckpt_path={checkpoint}", f"input={folder}", f"output={out}"],
            "broken.png is not a readable image",
        ),
        ("predict", ["ckpt_path=/nope/best.ckpt", f"input={good}", f"output={out}"], "/nope/best.ckpt does not exist"),
        ("predict", [f"ckpt_path={checkpoint}", f"output={out}"], "input is required"),
        (
            "predict",
            [f"ckpt_path={checkpoint}", f"input={good}", f"output={out}", "resolution=[50,64]"],
            "multiples of 32",
        ),
        ("export", [f"ckpt_path={checkpoint}", "format=coreml"], "format='coreml' is unknown; use one of onnx"),
        ("export", ["ckpt_path=/nope/best.ckpt"], "/nope/best.ckpt does not exist"),
    ]
    for script, argv, needle in cases:
        code, _, err = run_inline(script, *argv, f"hydra.run.dir={tmp_path / 'run'}", capsys=capsys)
        assert code == 2 and needle in one_error_line(err), (argv, err[-2000:])
    assert not out.exists() and not checkpoint.with_suffix(".mlmodel").exists()
