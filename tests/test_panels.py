"""Val views: panel columns (prediction as scored, normals, masks), point clouds on disk, W&B and TensorBoard."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from plyfile import PlyData

import depthlab.callbacks.views as views_module
from depthlab.callbacks.image_panels import ImagePanels
from depthlab.callbacks.views import camera_kwargs, camera_of
from depthlab.data.synthetic import SyntheticDataModule
from depthlab.inference.geometry import normals_to_rgb, surface_normals
from depthlab.losses.normals import erode
from depthlab.metrics.protocol import EvalProtocol
from depthlab.models.module import DepthModule
from depthlab.ops.camera import fov_intrinsics
from depthlab.viz import colorize, normal_colors

H = W = 32
K = fov_intrinsics(H, W, math.radians(60.0)).float()
NORMAL = torch.nn.functional.normalize(torch.tensor([0.3, -0.4, -1.0]), dim=0)  # faces the camera
HOLE = (slice(2, 10), slice(20, 28))  # invalid ground truth


def rays() -> torch.Tensor:
    """K^-1 [u, v, 1] per pixel, [3, H, W]."""
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)])


def plane_depth(normal: torch.Tensor, offset: float = -2.0) -> torch.Tensor:
    """Depth [H, W] of the plane normal . X = offset."""
    return offset / (normal.view(3, 1, 1) * rays()).sum(0)


def sample(index: int, depth: torch.Tensor, camera: str | None = None) -> dict:
    valid = torch.ones(1, H, W, dtype=torch.bool)
    valid[0][HOLE] = False
    gen = torch.Generator().manual_seed(index)
    meta = {"dataset": "planes", "index": index} | ({"camera": camera} if camera else {})
    return {
        "image": torch.rand(3, H, W, generator=gen),
        "depth": torch.where(valid, depth[None], torch.zeros(1, H, W)),
        "valid": valid,
        "mask": (torch.rand(1, H, W, generator=gen) > 0.5).float(),
        "intrinsics": K.clone(),
        "meta": meta,
    }


class Data:
    """A val split and an identity denormalisation: all ImagePanels asks of a datamodule."""

    def __init__(self, samples: list[dict]) -> None:
        self.samples = samples

    def dataset(self, split: str) -> list[dict]:
        return self.samples

    def denormalize(self, image: torch.Tensor) -> torch.Tensor:
        return image


class Scaled(pl.LightningModule):
    """Predicts `scale` x the ground truth (a relative model when scale != 1), scored by DepthModule's protocol."""

    scored = DepthModule.scored

    def __init__(self, scale: float = 1.0, alignment: str = "none", masks: bool = False) -> None:
        super().__init__()
        self.scale, self.masks = scale, masks
        self.sources = None  # one dataset, not a mixture (DepthModule.scored reads it)
        self.protocol = EvalProtocol(min_depth=0.01, max_depth=100.0, alignment=alignment)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        depth = torch.where(batch["valid"], batch["depth"], torch.full_like(batch["depth"], 3.0))
        out = {"depth": depth * self.scale}
        return out | ({"mask_logits": torch.zeros_like(depth)} if self.masks else {})


def planes(count: int = 2) -> Data:
    """A tilted plane per sample; the second sample's right half is a second plane (normals not constant)."""
    samples = []
    for i in range(count):
        depth = plane_depth(NORMAL)
        if i % 2:
            depth[:, W // 2 :] = plane_depth(torch.tensor([-0.5, 0.0, -1.0]) / math.sqrt(1.25))[:, W // 2 :]
        samples.append(sample(i, depth))
    return Data(samples)


def fake_trainer(data: Data, loggers: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=False, current_epoch=2, global_step=7, datamodule=data, loggers=loggers or []
    )


def columns(panel: torch.Tensor, count: int) -> list[torch.Tensor]:
    """The panel's columns as [3, rows*H, W] tensors."""
    return [panel[:, :, c * W : (c + 1) * W] for c in range(count)]


@pytest.mark.parametrize(("normals", "masks", "count"), [(True, False, 6), (False, False, 4), (True, True, 8)])
def test_panel_width_follows_normals_and_masks(normals, masks, count):
    cb = ImagePanels(num_samples=2, normals=normals, point_clouds=0)
    views = cb.predict(planes(3), Scaled(masks=masks))
    panel = cb.make_panel(views)
    assert panel.shape == (3, 2 * H, count * W)
    assert len(cb.columns(views)) == count


def test_normal_columns_vary_and_invalid_ground_truth_is_black():
    cb = ImagePanels(num_samples=2, point_clouds=0)
    panel = cb.make_panel(cb.predict(planes(2), Scaled()))
    gt_normals, pred_normals = columns(panel, 6)[4:6]
    assert gt_normals.std() > 0.05 and pred_normals.std() > 0.05
    hole = gt_normals[:, HOLE[0], HOLE[1]]  # first row's invalid block
    assert hole.abs().max() == 0
    assert pred_normals[:, HOLE[0], HOLE[1]].abs().max() > 0  # the prediction has depth there


def test_plane_normal_colour_is_the_analytic_one():
    """GT and (median-aligned) predicted normal columns of a plane show normal_colors(n) inside the valid region."""
    cb = ImagePanels(num_samples=1, point_clouds=0)
    views = cb.predict(planes(1), Scaled(scale=0.5, alignment="median"))
    gt_normals, pred_normals = columns(cb.make_panel(views), 6)[4:6]
    expected = normal_colors(NORMAL.view(3, 1, 1)).view(3)
    interior = torch.zeros(H, W, dtype=torch.bool)
    interior[12:-2, 2:-2] = True  # away from the border and the hole
    assert torch.allclose(gt_normals[:, interior].T, expected.expand(int(interior.sum()), 3), atol=1e-4)
    assert torch.allclose(pred_normals[:, interior].T, expected.expand(int(interior.sum()), 3), atol=1e-4)
    assert normals_to_rgb(NORMAL.view(3, 1, 1).expand(3, 2, 2), torch.ones(2, 2, dtype=torch.bool))[0, 0].tolist() == [
        int(c * 255 + 0.5) for c in expected
    ]


def test_prediction_column_is_the_protocol_aligned_prediction():
    """A relative model predicting GT / 2, median-aligned, shows GT in the prediction column and no error."""
    cb = ImagePanels(num_samples=2, point_clouds=0)
    module = Scaled(scale=0.5, alignment="median")
    views = cb.predict(planes(2), module)
    rgb, gt, pred, error = columns(cb.make_panel(views), 6)[:4]
    valid = views.valid[:, 0].reshape(1, -1, W).expand(3, -1, -1)
    assert torch.allclose(pred[valid], gt[valid], atol=1e-6)
    zero = colorize(torch.zeros(1, 1, 1, 1), 0.0, 1.0, cmap="hot").view(3, 1)  # the error map's colour of 0
    assert torch.allclose(error[valid].view(3, -1), zero.expand(3, int(views.valid.sum())), atol=1e-6)
    assert torch.allclose(views.pred[views.valid], views.target[views.valid], rtol=1e-5)
    assert "alignment median" in " | ".join(cb.columns(views, module.protocol.alignment))


def test_point_cloud_ply_is_the_back_projected_prediction(tmp_path):
    cb = ImagePanels(num_samples=1, dirpath=str(tmp_path), point_clouds=2, max_points=100)
    data, module = planes(3), Scaled(scale=0.5, alignment="median")
    cb.on_validation_epoch_end(fake_trainer(data), module)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "panel_epoch002.png",
        "points_epoch002_0.ply",
        "points_epoch002_1.ply",
    ]
    views = cb.predict(data, module)
    for i in range(2):
        vertex = PlyData.read(str(tmp_path / f"points_epoch002_{i}.ply"))["vertex"]
        assert vertex.count == 100
        xyz = np.stack([vertex[k] for k in "xyz"], 1)
        u = xyz[:, 0] / xyz[:, 2] * float(K[0, 0]) + float(K[0, 2])
        v = xyz[:, 1] / xyz[:, 2] * float(K[1, 1]) + float(K[1, 2])
        assert np.abs(u - u.round()).max() < 1e-3 and np.abs(v - v.round()).max() < 1e-3
        rows, cols = v.round().astype(int), u.round().astype(int)
        assert len(set(zip(rows, cols, strict=True))) == 100  # distinct pixels
        np.testing.assert_allclose(xyz[:, 2], views.pred[i, 0].numpy()[rows, cols], rtol=1e-5)
        rgb = np.stack([vertex[k] for k in ("red", "green", "blue")], 1)
        expected = (views.rgb[i].numpy()[:, rows, cols].T * 255 + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(rgb, expected)


def test_point_cloud_keeps_every_pixel_below_max_points():
    cb = ImagePanels(num_samples=1, point_clouds=1, max_points=10**6)
    points, colors = cb.make_point_clouds(cb.predict(planes(1), Scaled()))[0]
    assert points.shape == (H * W, 3) and colors.shape == (H * W, 3) and colors.dtype == np.uint8


def test_point_clouds_off_writes_nothing_and_predicts_nothing(tmp_path, monkeypatch):
    cb = ImagePanels(num_samples=1, dirpath=str(tmp_path), point_clouds=0)
    monkeypatch.setattr(ImagePanels, "make_point_clouds", lambda *a: pytest.fail("point clouds were built"))
    cb.on_validation_epoch_end(fake_trainer(planes(1)), Scaled())
    assert [p.name for p in tmp_path.iterdir()] == ["panel_epoch002.png"]
    idle = ImagePanels(num_samples=0, dirpath=str(tmp_path / "idle"), point_clouds=0)
    monkeypatch.setattr(ImagePanels, "predict", lambda *a: pytest.fail("predicted with nothing to show"))
    idle.on_validation_epoch_end(fake_trainer(planes(1)), Scaled())
    assert not (tmp_path / "idle").exists()


def test_a_failing_point_cloud_keeps_the_panel_and_training(tmp_path, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("no points today")

    monkeypatch.setattr("depthlab.callbacks.image_panels.sample_points", boom)
    ImagePanels(num_samples=1, dirpath=str(tmp_path)).on_validation_epoch_end(fake_trainer(planes(1)), Scaled())
    assert [p.name for p in tmp_path.iterdir()] == ["panel_epoch002.png"]
    assert "the val point cloud failed" in caplog.text and "no points today" in caplog.text


def test_camera_is_read_per_sample_and_passed_only_when_not_pinhole(monkeypatch):
    assert camera_of({"meta": {"dataset": ["a", "b"]}}, 1) == "pinhole"
    batch = {"meta": {"camera": ["pinhole", "equirect"]}}
    assert [camera_of(batch, i) for i in range(2)] == ["pinhole", "equirect"]
    assert camera_kwargs("pinhole") == {} and camera_kwargs("equirect") == {"camera": "equirect"}
    seen = []

    def record(depth, K, **kwargs):
        seen.append(kwargs)
        return torch.zeros(3, *depth.shape)

    monkeypatch.setattr(views_module, "surface_normals", record)
    data = Data([sample(0, plane_depth(NORMAL), "pinhole"), sample(1, plane_depth(NORMAL), "equirect")])
    cb = ImagePanels(num_samples=2, point_clouds=0)
    cb.make_panel(cb.predict(data, Scaled()))
    assert seen == [{}, {"camera": "equirect"}] * 2  # GT, then predicted normals


def test_samples_without_intrinsics_use_the_assumed_field_of_view():
    data = planes(1)
    del data.samples[0]["intrinsics"]
    cb = ImagePanels(num_samples=1, point_clouds=1, hfov_deg=60.0)
    views = cb.predict(data, Scaled())
    gt_normals = columns(cb.make_panel(views), 6)[4]
    assert torch.allclose(gt_normals[:, 20, 16], normal_colors(NORMAL.view(3, 1, 1)).view(3), atol=1e-4)
    points, _ = cb.make_point_clouds(views)[0]
    assert points.shape == (H * W, 3)


def test_tensorboard_event_file_holds_the_point_cloud_mesh(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    cb = ImagePanels(num_samples=1, point_clouds=1, max_points=50)
    cb.on_validation_epoch_end(fake_trainer(planes(1), [logger]), Scaled())
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir, size_guidance={"tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert "val/panel" in tags["images"]
    mesh = [t for t in tags["tensors"] if t.startswith("val/point_cloud_0")]
    assert mesh, tags
    vertices = [t for t in mesh if t.endswith("VERTEX")][0]
    assert events.Tensors(vertices)[0].step == 7
    assert tuple(d.size for d in events.Tensors(vertices)[0].tensor_proto.tensor_shape.dim) == (1, 50, 3)


@pytest.mark.slow
def test_wandb_offline_run_holds_the_point_cloud(tmp_path, monkeypatch):
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(mode="offline", save_dir=str(tmp_path))
    cb = ImagePanels(num_samples=1, point_clouds=2, max_points=64)
    try:
        cb.on_validation_epoch_end(fake_trainer(planes(2), [logger]), Scaled())
        run_dir = logger.experiment.dir
    finally:
        wandb.finish()
    files = sorted((tmp_path / "wandb").glob("offline-run-*/files/media/object3D/val/point_cloud_*.pts.json"))
    assert len(files) == 2, run_dir
    for path in files:
        points = np.array(json.loads(path.read_text()))
        assert points.shape == (64, 6) and points[:, 3:].max() <= 255


def test_panorama_views_show_the_full_sphere_and_wrap_normals_at_the_seam(tmp_path):

    data = SyntheticDataModule(height=16, width=32, camera="equirect", num_train=2, num_val=1, num_test=1, prerender=0)
    data.setup("fit")
    cb = ImagePanels(num_samples=1, dirpath=str(tmp_path), point_clouds=1, max_points=10**6)
    views = cb.predict(data, Scaled())
    points, _ = cb.make_point_clouds(views)[0]
    for axis in range(3):  # the room surrounds the camera: every axis is seen both ways
        assert points[:, axis].min() < -0.5 and points[:, axis].max() > 0.5
    gt_normals = cb.make_panel(views)[:, :, 4 * 32 : 5 * 32]
    target = views.target[0, 0]
    expected = normal_colors(surface_normals(target, None, camera="equirect"))  # range along rays, not z-depth
    shown = erode(views.valid[:1], circular=True)[0, 0]
    assert shown[:, 0].any()  # the seam column keeps its normals: the erosion wraps around
    assert torch.allclose(gt_normals[:, shown], expected[:, shown], atol=1e-4)
