"""demo.py: the page's requests go through predict.py's code path, say metres or 'relative', and refuse bad input."""

from __future__ import annotations

import math
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
import trimesh
from hydra import compose, initialize_config_dir
from PIL import Image

from depthlab.cli.demo import configured_model, launch_options
from depthlab.config_dir import CONF_DIR
from depthlab.demo.app import build, handler, upload_path
from depthlab.demo.session import DemoSession, Limits
from depthlab.inference.geometry import intrinsics_matrix
from depthlab.inference.mesh import TO_GLTF, depth_mesh, grid_faces
from depthlab.inference.predictor import PredictOptions
from depthlab.inference.runners import open_model
from tests.conftest import REAL, TINY
from tests.hf_tiny import override, size
from tests.refusals import call

NYU = REAL / "nyu_sync" / "rgb_00000.jpg"
KITTI = REAL / "kitti_annotated" / "rgb" / "0000000005.png"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The default model's last.ckpt, written without training (trainer.max_epochs=0): weights are beside the point."""
    run = tmp_path_factory.mktemp("ckpt")
    args = [*TINY, "trainer.max_epochs=0", "logger=csv", "test=false", "callbacks.image_panels=null"]
    assert call("train", [*args, f"hydra.run.dir={run}"]).code == 0
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture
def session(checkpoint, tmp_path) -> DemoSession:
    runner = open_model(checkpoint)
    return DemoSession(runner, runner.spec, PredictOptions(), tmp_path / "requests")


def demo_config(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("demo", overrides=list(overrides))


def test_requests_write_exactly_what_predict_py_writes(session, checkpoint, tmp_path):
    result = session.run(NYU, "fov", 70.0)
    args = [f"ckpt_path={checkpoint}", f"input={NYU}", f"output={tmp_path / 'cli'}", "normals=true", "intrinsics=fov"]
    assert call("predict", [*args, "fov_deg=70", "point_cloud=true", f"hydra.run.dir={tmp_path / 'run'}"]).code == 0
    cli = tmp_path / "cli"
    folder = result.depth_color.parent
    for name in ("rgb_00000_depth.npy", "rgb_00000_depth.png", "rgb_00000_normals.png", "rgb_00000_points.ply"):
        assert (folder / name).read_bytes() == (cli / name).read_bytes(), name
    assert [p.name for p in result.downloads] == [
        "rgb_00000_depth.png", "rgb_00000_depth.npy", "rgb_00000_points.ply", "rgb_00000_mesh.glb"
    ]  # fmt: skip
    assert result.depth.shape == (480, 640) and result.depth.dtype == np.float32


def test_summary_states_the_range_in_metres_and_the_intrinsics(session):
    result = session.run(NYU, "fx fy cx cy", 60.0, (500.0, 510.0, 320.0, 240.0))
    depth = result.depth
    valid = (depth > session.spec.min_depth) & (depth < session.spec.max_depth)
    low, median, high = np.percentile(depth[valid], [0, 50, 100])
    assert f"{low:.2f} – {high:.2f} m, median {median:.2f} m" in result.summary
    assert "Metric depth in metres" in result.summary and "value / 1000 = metres" in result.summary
    assert "fx 500.0, fy 510.0, cx 320.0, cy 240.0 px (given (fx, fy, cx, cy))" in result.summary


def test_the_fov_slider_sets_the_focal_length(session):
    result = session.run(NYU, "fov", 90.0)
    assert "fx 320.0" in result.summary  # 640 / 2 / tan(45 deg)


def test_the_mesh_is_the_metric_back_projection_in_gltf_axes(session):
    result = session.run(NYU, "fx fy cx cy", 60.0, (500.0, 500.0, 319.5, 239.5))
    mesh = next(iter(trimesh.load(result.mesh).geometry.values()))
    flipped = mesh.vertices / TO_GLTF  # glTF (x, -y, -z) back to the camera frame, metres
    assert len(mesh.vertices) <= 120_000 and len(mesh.faces) > 0
    assert flipped[:, 2].min() >= session.spec.min_depth and flipped[:, 2].max() <= session.spec.max_depth
    step = math.ceil(math.sqrt(480 * 640 / 120_000))
    u, v = step // 2, step // 2  # the first grid vertex is the full image's pixel (step // 2, step // 2)
    z = result.depth[v, u]
    assert flipped[0] == pytest.approx([(u - 319.5) * z / 500.0, (v - 239.5) * z / 500.0, z], rel=1e-5)


def test_mesh_faces_skip_invalid_pixels_and_depth_jumps():
    depth = torch.full((60, 80), 2.0)
    depth[:, 40:] = 4.0  # a wall twice as far: no face may bridge the jump
    valid = torch.ones(60, 80, dtype=torch.bool)
    valid[1, 1] = False  # the first grid vertex (step 2 samples pixels 1, 3, 5, ...)
    mesh = depth_mesh(
        depth, intrinsics_matrix(50, 50, 39.5, 29.5), valid, np.zeros((60, 80, 3), np.uint8), max_vertices=1200
    )
    assert len(mesh.vertices) == 30 * 40  # step 2
    assert len(mesh.faces) == 29 * 39 * 2 - 29 * 2 - 1  # minus the jump column and the cell at the invalid corner
    assert grid_faces(np.ones((2, 2), bool), np.array([[1.0, 1.05], [1.0, 1.05]]), 0.1).shape == (2, 3)
    assert grid_faces(np.ones((2, 2), bool), np.array([[1.0, 1.2], [1.0, 1.2]]), 0.1).shape == (0, 3)


@pytest.mark.parametrize(
    ("content", "name", "limits", "message"),
    [
        (b"this is not a picture", "notes.png", Limits(), "is not an image PIL can read"),
        (None, "big.png", Limits(max_pixels=10_000), "is 160x120 (0.0192 Mpx); the demo takes up to 0.01 Mpx"),
    ],
)
def test_bad_uploads_get_a_message_in_the_page(checkpoint, tmp_path, content, name, limits, message):
    path = tmp_path / name
    if content is None:
        Image.new("RGB", (160, 120)).save(path)
    else:
        path.write_bytes(content)
    runner = open_model(checkpoint)
    session = DemoSession(runner, runner.spec, PredictOptions(), tmp_path / "requests", limits=limits)
    estimate = handler(session)
    with pytest.raises(gr.Error, match=re.escape(message)):
        estimate({"path": str(path), "orig_name": name}, None, "fov", 60.0, None, None, None, None)
    with pytest.raises(gr.Error, match="no image given"):
        estimate(None, None, "fov", 60.0, None, None, None, None)
    with pytest.raises(gr.Error, match="4 positive numbers"):
        estimate({"path": str(NYU)}, None, "fx fy cx cy", 60.0, 500.0, None, 320.0, 240.0)
    assert not (tmp_path / "requests").exists()  # nothing written for a refused request


def test_upload_payloads_give_their_server_path():
    assert upload_path({"path": "/tmp/a.png", "url": "x"}) == "/tmp/a.png"
    assert upload_path(None) is None and upload_path("/tmp/b.png") == "/tmp/b.png"


def test_relative_models_say_relative_and_write_no_metres(tmp_path):
    cfg = demo_config("model=depth_anything_v2", override("depth_anything_v2"), *size("depth_anything_v2"))
    runner = configured_model(cfg)
    session = DemoSession(runner, runner.spec, PredictOptions(), tmp_path / "requests")
    result = session.run(KITTI)
    assert "**Relative depth** (no metric scale)" in result.summary and "unknown scale and shift" in result.summary
    assert "Metric depth" not in result.summary and " m, median" not in result.summary
    assert result.mesh is None and result.normals is None
    assert sorted(p.name for p in result.downloads) == ["0000000005_disparity.npy", "0000000005_disparity_color.png"]
    page = build(session, "tiny relative model")
    assert isinstance(page, gr.Blocks)


def test_the_server_stays_on_this_machine_unless_told():
    options = launch_options(demo_config("demo.examples=[/data/real/a.png]"), Path("/tmp/out"))
    assert options["server_name"] == "127.0.0.1" and options["share"] is False and options["server_port"] == 7860
    assert options["max_file_size"] == "50mb" and options["allowed_paths"] == ["/tmp/out", "/data/real"]
    opened = launch_options(demo_config("demo.host=0.0.0.0", "demo.port=null", "demo.examples=[]"), Path("/tmp/out"))
    assert opened["server_name"] == "0.0.0.0" and opened["server_port"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "demo.py needs a model: ckpt_path="),
        (["ckpt_path=/no/such/model.ckpt"], "ckpt_path=/no/such/model.ckpt does not exist"),
        (["model=unet", "demo.port=70000"], "demo.port=70000 must be a TCP port"),
        (["model=unet", "intrinsics=guess"], "intrinsics=guess must be dataset, fov or [fx,fy,cx,cy]"),
        (["model=unet", "demo.share=maybe"], "demo.share"),
    ],
)
def test_bad_demo_arguments_stop_with_one_line(args, message, tmp_path):
    outcome = call("demo", [*args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert outcome.code != 0 and len(outcome.errors) == 1 and message in outcome.errors[0], outcome.stderr[-2000:]


def test_a_model_option_with_pretrained_weights_serves_without_a_checkpoint(tmp_path, capsys):
    from depthlab.models.hf import HFDepthNet
    from tests.hf_tiny import TINY as HF_TINY  # noqa: N811

    torch.manual_seed(0)
    saved = tmp_path / "dav2"
    HFDepthNet(size="small", config=HF_TINY["depth_anything_v2"], depth_type="metric").model.save_pretrained(saved)
    (saved / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    args = ["model=depth_anything_v2", override("depth_anything_v2"), *size("depth_anything_v2"), "demo.port=null"]
    args += [f"model.pretrained={saved}", "model.depth_type=metric", "demo.block=false", "demo.examples=[]"]
    try:
        outcome = call("demo", [*args, f"hydra.run.dir={tmp_path / 'run'}"])
        printed = capsys.readouterr().out
    finally:
        gr.close_all()
    assert outcome.code == 0, outcome.stderr[-2000:]
    assert f"demo: `model=depth_anything_v2`: pretrained weights: {saved}" in printed
    assert "license apache-2.0" in printed and "Running on local URL:  http://127.0.0.1:" in printed


def test_an_exported_onnx_model_serves_the_same_depth(session, checkpoint, tmp_path):
    onnx = tmp_path / "model.onnx"
    assert (
        call(
            "export", [f"ckpt_path={checkpoint}", "format=onnx", f"output={onnx}", f"hydra.run.dir={tmp_path / 'x'}"]
        ).code
        == 0
    )
    runner = open_model(onnx)
    exported = DemoSession(runner, runner.spec, PredictOptions(), tmp_path / "onnx_requests").run(NYU, "fov", 60.0)
    eager = session.run(NYU, "fov", 60.0)
    assert runner.backend == "onnxruntime" and "onnxruntime backend" in exported.summary
    np.testing.assert_allclose(exported.depth, eager.depth, atol=1e-4)
    assert exported.mesh is not None and exported.mesh.stat().st_size > 0
