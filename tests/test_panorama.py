"""360-degree panoramas end to end: synthetic equirect samples, exact roll, refusals, data=pano, train and predict."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import TINY, run_cli
from plyfile import PlyData

from depthlab.data.augment_table import Augment
from depthlab.data.fixtures import write_pano
from depthlab.data.folder import FolderDataModule
from depthlab.data.gpu_augment import roll_batch
from depthlab.data.pano import PanoDataModule
from depthlab.data.synthetic import SyntheticDataModule
from depthlab.data.transforms import JointTransform, roll
from depthlab.ops.camera import equirect_rays
from depthlab.utils.errors import DepthlabError

SMALL = {"num_train": 2, "num_val": 1, "num_test": 1, "prerender": 0}


def test_synthetic_equirect_sample_is_2_to_1_with_range_depth_and_meta_camera():
    module = SyntheticDataModule(height=16, width=32, camera="equirect", **SMALL)
    sample = module.dataset("val")[0]
    assert sample["image"].shape == (3, 16, 32) and sample["depth"].shape == (1, 16, 32)
    assert sample["meta"]["camera"] == "equirect" and "intrinsics" not in sample
    assert sample["valid"].float().mean() > 0.9  # a closed room: every direction hits a surface (windows aside)
    points = sample["depth"][0] * equirect_rays(16, 32)  # range x unit ray: the room surrounds the camera
    for axis in range(3):
        assert points[axis].min() < -0.5 and points[axis].max() > 0.5
    pinhole = SyntheticDataModule(height=16, width=24, **SMALL).dataset("val")[0]
    assert pinhole["meta"]["camera"] == "pinhole" and pinhole["intrinsics"].shape == (3, 3)


def test_synthetic_equirect_refuses_a_non_2_to_1_size():
    with pytest.raises(DepthlabError, match=r"2:1 .*data.height=16 data.width=32"):
        SyntheticDataModule(height=16, width=24, camera="equirect", **SMALL)


def _sample(height: int = 8, width: int = 16) -> dict:
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 9.0, (height, width)).astype(np.float32)
    valid = rng.random((height, width)) > 0.2
    return {
        "image": rng.random((height, width, 3), dtype=np.float32),
        "depth": depth,
        "valid": valid,
        "mask": (rng.random((height, width)) > 0.5).astype(np.float32),
    }


def test_roll_then_roll_back_is_the_identity():
    sample = _sample()
    keys = ["image", "depth", "valid", "mask"]
    there = roll({k: sample[k].copy() for k in keys}, keys, 5)
    assert not np.array_equal(there["depth"], sample["depth"])
    back = roll(there, keys, -5)
    for key in keys:
        assert np.array_equal(back[key], sample[key]), key


def test_roll_augmentation_moves_every_target_together_and_keeps_depth_values():
    sample = _sample()
    random.seed(3)
    out = JointTransform(None, Augment(roll=1.0))(dict(sample))
    depth_in = np.where(sample["valid"], sample["depth"], 0)
    shifts = [s for s in range(16) if np.array_equal(np.roll(depth_in, s, axis=1), out["depth"])]
    assert len(shifts) == 1 and shifts[0] != 0  # an exact circular shift, no resampling
    s = shifts[0]
    assert np.array_equal(np.roll(sample["image"], s, axis=1), out["image"])
    assert np.array_equal(np.roll(sample["mask"], s, axis=1), out["mask"])
    assert np.array_equal(np.roll(sample["valid"], s, axis=1), out["valid"])


def test_gpu_roll_moves_image_and_depth_by_the_same_shift():
    torch.manual_seed(0)
    depth = torch.rand(3, 1, 4, 8)
    batch = roll_batch({"image": depth.repeat(1, 3, 1, 1), "depth": depth.clone()}, ("image", "depth"), 1.0)
    assert torch.equal(batch["image"][:, :1], batch["depth"])
    assert not torch.equal(batch["depth"], depth)
    assert torch.equal(batch["depth"].sort(-1).values, depth.sort(-1).values)  # values preserved row by row


def test_pinhole_crops_are_refused_for_panoramas_and_rolls_for_pinhole():
    with pytest.raises(DepthlabError, match=r"data.augment.scale .*augment=panorama"):
        SyntheticDataModule(height=16, width=32, camera="equirect", augment={"scale": [1.0, 1.2]}, **SMALL)
    with pytest.raises(DepthlabError, match="data.augment.rotate"):
        SyntheticDataModule(height=16, width=32, camera="equirect", augment={"rotate": 5.0}, **SMALL)
    with pytest.raises(DepthlabError, match="data.augment.roll=1.0 wraps the image around"):
        SyntheticDataModule(height=16, width=32, augment={"roll": 1.0}, **SMALL)
    SyntheticDataModule(height=16, width=32, camera="equirect", augment={"roll": 1.0, "hflip": 0.5}, **SMALL)


def test_pano_fixture_loads_train_val_test_with_their_counts(tmp_path):
    truth = write_pano(tmp_path, n=6)
    module = PanoDataModule(root=str(tmp_path), height=16, width=32, augment={"roll": 1.0})
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [4, 2, 2]  # test.csv absent: val
    sample = module.dataset("val")[0]
    assert sample["meta"]["camera"] == "equirect" and sample["image"].shape == (3, 16, 32)
    full = PanoDataModule(root=str(tmp_path), height=None, width=None).dataset("val")[0]
    expected = truth[full["meta"]["path"]]
    assert np.allclose(full["depth"][0].numpy(), np.where(expected > 0, expected, 0), atol=1e-6)  # mm PNG decoded


def test_pano_rows_may_not_leave_the_root(tmp_path):
    root = tmp_path / "pano"
    write_pano(root, n=6)
    write_pano(tmp_path / "elsewhere", n=3)
    for entry in ("../elsewhere/{rgb}", str(tmp_path / "elsewhere" / "{rgb}")):
        rgb = next((tmp_path / "elsewhere").glob("*/pan/images/*.jpg")).relative_to(tmp_path / "elsewhere")
        depth = Path(str(rgb).replace("pan/images", "depth")).with_suffix(".png")
        (root / "train.csv").write_text(f"rgb_path,depth_path\n{entry.format(rgb=rgb)},{depth}\n")
        with pytest.raises(DepthlabError, match=r"outside data.root=.*data.allow_outside_root=true"):
            PanoDataModule(root=str(root), height=16, width=32).dataset("train")
    with pytest.raises(DepthlabError, match="must be equirect"):
        PanoDataModule(root=str(root), camera="pinhole")


def test_folder_list_lines_pair_rgb_and_depth_for_equirect_data(tmp_path):
    write_pano(tmp_path, n=3)
    rows = [line.split(",") for line in (tmp_path / "train.csv").read_text().splitlines()[1:]]
    (tmp_path / "pairs.txt").write_text("".join(f"{rgb} {depth}\n" for rgb, depth in rows))
    lists = {"train_list": "pairs.txt", "val_list": "pairs.txt", "rgb_dir": ".", "depth_dir": "."}
    module = FolderDataModule(root=str(tmp_path), camera="equirect", height=16, width=32, **lists)
    train = module.dataset("train")
    assert len(train) == len(rows) == 2
    assert train[0]["meta"]["camera"] == "equirect" and train[0]["meta"]["path"].endswith(rows[0][0])
    with pytest.raises(DepthlabError, match="2:1"):
        FolderDataModule(root=str(tmp_path), camera="equirect", height=16, width=16)


@pytest.fixture(scope="module")
def panorama_run(tmp_path_factory) -> Path:
    """Two training steps of experiment=panorama_l1_normal_ssim at 32x64 through the CLI."""
    tmp = tmp_path_factory.mktemp("panorama")
    overrides = [*TINY, "data.height=32", "data.width=64", "data.prerender=0", "+trainer.max_steps=2", "logger=csv"]
    result = run_cli(
        "train.py", "experiment=panorama_l1_normal_ssim", *overrides, "test=false", tmp_path=tmp, run_dir=tmp / "run"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run"


@pytest.mark.slow
def test_panorama_experiment_trains_two_steps(panorama_run):
    import json

    metrics = json.loads((panorama_run / "metrics.json").read_text())
    assert np.isfinite(metrics["val/rmse"]) and np.isfinite(metrics["val/loss_normal"])
    config = (panorama_run / ".hydra" / "config.yaml").read_text()
    assert "camera: equirect" in config and "roll: 1.0" in config and "circular_padding: true" in config


@pytest.mark.slow
def test_predict_point_cloud_of_an_equirect_checkpoint_spans_the_sphere(panorama_run, tmp_path):
    image = SyntheticDataModule(height=32, width=64, camera="equirect", **SMALL).dataset("val").raw[0]["image"]
    cv2.imwrite(str(tmp_path / "pano.png"), cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    ckpt = panorama_run / "checkpoints" / "last.ckpt"
    out = tmp_path / "pred"
    args = [f"ckpt_path={ckpt}", f"input={tmp_path / 'pano.png'}", f"output={out}", "point_cloud=true", "normals=true"]
    result = run_cli("predict.py", *args, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "camera: equirectangular" in result.stdout
    vertex = PlyData.read(str(out / "pano_points.ply"))["vertex"]
    assert vertex.count > 0.9 * 32 * 64
    for axis in "xyz":
        assert vertex[axis].min() < 0 < vertex[axis].max(), axis  # points in every direction around the camera
    pinhole = run_cli("predict.py", *args, "camera=pinhole", "overwrite=true", tmp_path=tmp_path)
    assert pinhole.returncode == 0, pinhole.stderr[-3000:]
    assert PlyData.read(str(out / "pano_points.ply"))["vertex"]["z"].min() > 0  # a pinhole cloud lies in front
