"""Inference building blocks on known input: intrinsics, normals, point clouds, image IO, batching, masks, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from plyfile import PlyData
from torch import nn

from depthlab.data.pixels import read_rgb
from depthlab.inference import io
from depthlab.inference.camera import Camera
from depthlab.inference.exporters import export, max_abs_difference
from depthlab.inference.geometry import (
    intrinsics_matrix,
    point_cloud,
    rescale_intrinsics,
    surface_normals,
    write_ply,
)
from depthlab.inference.predictor import PredictOptions, network_size, predict
from depthlab.inference.runners import OnnxRunner, TorchRunner, open_model
from depthlab.inference.spec import ModelSpec
from depthlab.inference.wrapper import wrap
from depthlab.ops.camera import fov_intrinsics
from depthlab.utils.errors import DepthlabError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
CONFIG = {"data": {"mean": list(MEAN), "std": list(STD), "min_depth": 0.001, "max_depth": 10.0}}


class StubDepthMask(nn.Module):
    """Depth = 1 + 4 * green + column ramp, mask_logits = red - 0.5 (in [0, 1] RGB units): outputs known per pixel."""

    output_stride = 1

    def __init__(self, ramp: float = 0.0, inputs: tuple[str, ...] = ("image",)) -> None:
        super().__init__()
        self.ramp, self.inputs = ramp, inputs
        self.scale = nn.Parameter(torch.ones(()))  # something to export

    def forward(self, *images: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb = images[-1] * 0.25 + 0.5  # undo the normalisation InferenceNet applies
        if len(images) == 2:
            rgb = rgb - (images[0] * 0.25 + 0.5) + 0.5
        depth = self.scale * (1 + 4 * rgb[:, 1:2])
        if self.ramp:  # position-dependent (not flip-invariant); sizes made concrete, so only for eager tests
            depth = depth + self.ramp * torch.linspace(0, 1, rgb.shape[-1]).view(1, 1, 1, -1)
        return {"depth": depth, "mask_logits": rgb[:, :1] - 0.5}


def stub_runner(**kwargs) -> TorchRunner:
    net, spec = wrap(StubDepthMask(**kwargs), CONFIG)
    return TorchRunner(net, spec)


def write_image(path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, (h, w) in {"a/one.png": (12, 20), "b/two.png": (9, 14)}.items():
        write_image(tmp_path / "in" / name, rng.integers(0, 256, (h, w, 3)) / 255.0)
        paths.append(tmp_path / "in" / name)
    return paths


def test_fov_and_rescaled_intrinsics_match_their_definitions():
    K = fov_intrinsics(48, 64, math.pi / 2).float()
    assert torch.allclose(K, intrinsics_matrix(32.0, 32.0, 31.5, 23.5))
    half = rescale_intrinsics(K, (48, 64), (24, 32))
    assert torch.allclose(half, intrinsics_matrix(16.0, 16.0, 15.5, 11.5))  # pixel centres map exactly


def test_point_cloud_and_normals_of_a_fronto_parallel_plane():
    K = intrinsics_matrix(10.0, 12.0, 4.0, 3.0)
    depth = torch.full((7, 9), 2.0)
    valid = torch.ones(7, 9, dtype=torch.bool)
    valid[0, 0] = False
    points = point_cloud(depth, K, valid)
    assert points.shape == (62, 3)
    v, u = 6, 8  # the last pixel
    assert torch.allclose(points[-1], torch.tensor([(u - 4) / 10 * 2, (v - 3) / 12 * 2, 2.0]))
    normals = surface_normals(depth, K)
    assert torch.allclose(normals[:, 2:-2, 2:-2], torch.tensor([0.0, 0.0, -1.0]).view(3, 1, 1), atol=1e-5)


def test_ply_reads_back_with_every_vertex_and_colour(tmp_path):
    points = torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.5, 3.0]])
    colors = np.array([[255, 0, 0], [0, 10, 20]], dtype=np.uint8)
    write_ply(tmp_path / "p.ply", points, colors)
    vertex = PlyData.read(str(tmp_path / "p.ply"))["vertex"]
    assert vertex.count == 2
    assert np.allclose(np.stack([vertex[k] for k in "xyz"], 1), points.numpy())
    assert (np.stack([vertex[k] for k in ("red", "green", "blue")], 1) == colors).all()


def test_inputs_from_file_folder_glob_and_list(images, tmp_path):
    (tmp_path / "in" / "a" / "notes.txt").write_text("x")
    assert io.collect_inputs(str(images[0])) == [images[0].resolve()]
    assert io.collect_inputs(str(tmp_path / "in" / "a")) == [images[0].resolve()]
    assert io.collect_inputs(str(tmp_path / "in" / "*" / "*.png")) == [p.resolve() for p in images]
    assert io.collect_inputs([str(images[1]), str(images[0]), str(images[1])]) == [
        images[1].resolve(),
        images[0].resolve(),
    ]
    with pytest.raises(DepthlabError, match="does not exist"):
        io.collect_inputs(str(tmp_path / "nope.png"))
    with pytest.raises(DepthlabError, match="holds no images"):
        io.collect_inputs(str(tmp_path / "in" / "*.jpg"))
    assert io.output_stems(images) == [images[0].relative_to(tmp_path / "in").with_suffix("")] + [
        images[1].relative_to(tmp_path / "in").with_suffix("")
    ]


def test_depth_png_is_rounded_units_and_clips_far_depth():
    png, clipped = io.depth_to_uint16(np.array([[0.0, 1.2344, 70.0]]), 1000)
    assert png.tolist() == [[0, 1234, 65535]] and clipped == 1


def test_corrupt_image_is_named(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(DepthlabError, match="bad.png is not a readable image"):
        io.image_size(bad)
    with pytest.raises(DepthlabError, match="bad.png is not a readable image"):
        read_rgb(bad)


def test_network_size_rules():
    spec = ModelSpec(height=64, width=96, stride=32)
    assert network_size(spec, "train", (480, 640)) == (64, 96)
    assert network_size(spec, "input", (375, 1242)) == (384, 1248)
    assert network_size(spec, [128, 160], (5, 5)) == (128, 160)
    with pytest.raises(DepthlabError, match="multiples of 32"):
        network_size(spec, [100, 160], (5, 5))
    assert network_size(ModelSpec(stride=32), "train", (100, 20)) == (96, 32)  # no training size: rounded input


def test_predict_writes_depth_and_mask_at_input_resolution_with_known_values(images, tmp_path):
    runner, out = stub_runner(), tmp_path / "out"
    options = PredictOptions(resolution="input", batch_size=2)
    predict(runner, runner.spec, images, out, options, camera=None)
    for path in images:
        rgb = np.asarray(Image.open(path), dtype=np.float32) / 255.0
        stem = out / path.relative_to(tmp_path / "in").with_suffix("")
        depth = np.load(f"{stem}_depth.npy")
        assert depth.shape == rgb.shape[:2] and np.allclose(depth, 1 + 4 * rgb[..., 1], atol=1e-5)
        png16 = np.asarray(Image.open(f"{stem}_depth.png"))
        assert png16.dtype == np.uint16 and (png16 == np.rint(depth * 1000)).all()
        assert np.asarray(Image.open(f"{stem}_depth_color.png")).shape == (*rgb.shape[:2], 3)
        mask = np.asarray(Image.open(f"{stem}_mask.png"))
        assert ((mask == 255) == (rgb[..., 0] > 0.5)).all() and set(np.unique(mask)) <= {0, 255}
    with pytest.raises(DepthlabError, match="already holds predictions"):
        predict(runner, runner.spec, images, out, options, camera=None)


def test_flip_tta_averages_the_mirrored_prediction(images, tmp_path):
    runner = stub_runner(ramp=1.0)
    plain = PredictOptions(resolution="input")
    predict(runner, runner.spec, images[:1], tmp_path / "plain", plain, camera=None)
    predict(runner, runner.spec, images[:1], tmp_path / "tta", PredictOptions(resolution="input", flip_tta=True), None)
    d0, d1 = (np.load(tmp_path / d / "one_depth.npy") for d in ("plain", "tta"))
    # the ramp is replaced by its mean with its mirror (0.5 everywhere); the image term flips twice and stays
    assert np.allclose(d1, d0 - np.linspace(0, 1, d0.shape[1]) + 0.5, atol=1e-5)


def test_two_input_models_need_a_background(images, tmp_path):
    runner = stub_runner(inputs=("background", "image"))
    options = PredictOptions(resolution="input")
    with pytest.raises(DepthlabError, match="pass background="):
        predict(runner, runner.spec, images, tmp_path / "o", options, camera=None)
    backgrounds = tmp_path / "bg"
    for path in images:
        write_image(backgrounds / path.name, np.full((*io.image_size(path), 3), 0.5))
    predict(runner, runner.spec, images, tmp_path / "o", options, camera=None, background=backgrounds)
    rgb = np.asarray(Image.open(images[0]), dtype=np.float32) / 255.0
    bg = 128 / 255  # the background PNG's green value
    assert np.allclose(np.load(tmp_path / "o" / "a" / "one_depth.npy"), 1 + 4 * (rgb[..., 1] - bg + 0.5), atol=1e-5)


def test_dataset_intrinsics_are_the_renderers_and_unknown_datasets_fall_back(tmp_path):
    config = {
        "data": {
            "_target_": "depthlab.data.synthetic.SyntheticDataModule",
            "height": 32,
            "width": 48,
            "num_train": 1,
            "num_val": 1,
            "num_test": 8,
            "num_workers": 0,
            "cache": False,
        }
    }
    camera = Camera("dataset", 60.0, config)
    K = camera(32, 48)
    assert 0.5 * 48 / np.tan(np.radians(65) / 2) <= K[0, 0] <= 0.5 * 48 / np.tan(np.radians(55) / 2)
    assert torch.allclose(camera(64, 96)[0, 0], 2 * K[0, 0])
    fallback = Camera("dataset", 90.0, {"data": {"_target_": "no.such.Module"}})
    assert "FOV guess" in fallback.source
    assert torch.allclose(fallback(10, 20), fov_intrinsics(10, 20, math.pi / 2).float())
    assert torch.allclose(Camera([5, 6, 7, 8], 60, None)(1, 1), intrinsics_matrix(5, 6, 7, 8))
    with pytest.raises(DepthlabError, match="intrinsics=.* is not understood"):
        Camera([1, 2], 60, None)


# the dynamo exporter is exercised on the real default model in test_predict_export.py (it costs ~10 s per process)
@pytest.mark.parametrize(("fmt", "exporter"), [("onnx", "legacy"), ("torchscript", "dynamo")])
def test_multi_task_export_keeps_mask_logits_and_dynamic_shapes(fmt, exporter, tmp_path):
    runner = stub_runner()
    path = tmp_path / ("m.onnx" if fmt == "onnx" else "m.pt")
    assert export(runner, fmt, path, exporter=exporter) < 1e-5
    shipped = open_model(path)
    assert shipped.spec == runner.spec and shipped.spec.outputs == ("depth", "mask_logits")
    image = {"image": torch.rand(2, 3, 5, 7)}
    assert torch.allclose(shipped(image)["mask_logits"], runner(image)["mask_logits"], atol=1e-6)
    assert max_abs_difference(runner, shipped) < 1e-5
    if fmt == "onnx":
        assert isinstance(shipped, OnnxRunner)


def test_foreign_and_corrupt_model_files_are_named(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(DepthlabError, match="bad.onnx is not a readable ONNX model"):
        open_model(bad)
    script = tmp_path / "plain.pt"
    with pytest.warns(FutureWarning):  # torch.jit.save's deprecation notice
        torch.jit.save(torch.jit.script(nn.Identity()), str(script))
    with pytest.raises(DepthlabError, match="not written by depthlab's export.py"):
        open_model(script)
    with pytest.raises(DepthlabError, match="does not exist"):
        open_model(tmp_path / "missing.ckpt")
