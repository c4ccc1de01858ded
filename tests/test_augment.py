"""Joint augmentation: markers stay aligned, invalid zeros never blend into depth, intrinsics follow the geometry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from depthlab.config_dir import CONF_DIR
from depthlab.data.base import finalize_sample
from depthlab.data.gpu_augment import BatchAugment
from depthlab.data.transforms import Augment, JointTransform, build_transform

H, W = 32, 40
K = np.array([[30.0, 0, 20.0], [0, 30.0, 16.0], [0, 0, 1]], np.float32)
GEOMETRIC = {
    "resize": ((48, 56), Augment()),
    "hflip": (None, Augment(hflip=1.0)),
    "scale+crop": ((H, W), Augment(scale=(1.3, 1.5))),
    "rotate": (None, Augment(rotate=12.0, rotate_p=1.0)),
    "all": ((40, 48), Augment(hflip=0.5, scale=(0.8, 1.3), rotate=8.0, rotate_p=1.0)),
}
PHOTOMETRIC = dict(color_jitter=1.0, brightness_contrast=1.0, hue_saturation=1.0, blur=1.0, noise=1.0)


def marker_sample(top: int = 12, left: int = 22) -> dict:
    """A 4x4 marker, bright in both images, at depth 5 in a 2 m scene, in the fg mask; K pointing at the scene."""
    image = np.full((H, W, 3), 0.2, np.float32)
    depth = np.full((H, W), 2.0, np.float32)
    mask = np.zeros((H, W), np.float32)
    image[top : top + 4, left : left + 4] = 1.0
    depth[top : top + 4, left : left + 4] = 5.0
    mask[top : top + 4, left : left + 4] = 1.0
    return {"image": image, "depth": depth, "mask": mask, "background": image.copy(), "intrinsics": K.copy()}


def centroid(weights: np.ndarray) -> np.ndarray:
    """Weighted (x, y) centre of a marker: exact for nearest-resampled masks, sub-pixel for bilinear images."""
    weights = np.asarray(weights, np.float64)
    y, x = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]]
    return np.array([(x * weights).sum(), (y * weights).sum()]) / weights.sum()


def brightness(image: np.ndarray) -> np.ndarray:
    return np.clip(image.mean(-1) - 0.2, 0, None)  # the marker above the 0.2 scene; padding (0) weighs nothing


def assert_marker_aligned(image, background, depth, mask, valid):
    depth_marker = centroid(depth == 5.0)
    for other in (brightness(image), brightness(background), mask, valid & (depth == 5.0)):
        np.testing.assert_allclose(centroid(other), depth_marker, atol=1.0)


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_marker_stays_aligned_and_intrinsics_follow_every_geometric_transform(name):
    size, augment = GEOMETRIC[name]
    transform = JointTransform(size, augment)
    for _ in range(6):
        sample = marker_sample()
        out = transform(sample)
        assert_marker_aligned(out["image"], out["background"], out["depth"], out["mask"], out["valid"])
        # the marker sits where the new K projects the ray the old K sent through the old marker centre
        ray = np.linalg.inv(K) @ np.array([24.0, 14.0, 1.0])  # marker pixels 22..25 span [22, 26) in x
        moved = centroid(out["depth"] == 5.0) + 0.5  # pixel centres -> continuous coordinates
        if name == "rotate":  # in-plane rotation is not a K change: only the focal length is kept
            assert out["intrinsics"][0, 0] == pytest.approx(30.0, rel=1e-4)
        if augment.rotate > 0:
            continue
        errors = []
        for mirrored in (ray, ray * [-1, 1, 1]):  # a flip mirrors the camera, hence the ray
            projected = out["intrinsics"] @ mirrored
            errors.append(np.abs(projected[:2] / projected[2] - moved).max())
        assert min(errors) <= 1.0, errors


def test_resize_scales_intrinsics_exactly():
    out = JointTransform((64, 80), Augment())(marker_sample())
    np.testing.assert_allclose(out["intrinsics"], [[60, 0, 40], [0, 60, 32], [0, 0, 1]], atol=1e-4)
    assert out["image"].shape == (64, 80, 3) and out["depth"].shape == (64, 80)


@pytest.mark.parametrize("name", ["resize", "scale+crop", "rotate", "all"])
def test_invalid_zeros_are_never_interpolated_into_valid_depth(name):
    size, augment = GEOMETRIC[name]
    rng = np.random.default_rng(0)
    depth = rng.choice(np.array([2.0, 3.0, 7.0], np.float32), size=(H, W))
    depth[rng.random((H, W)) < 0.3] = 0.0
    depth[0, 0] = np.nan
    transform = JointTransform(size, augment)
    for _ in range(4):
        out = transform({"image": np.zeros((H, W, 3), np.float32), "depth": depth.copy()})
        assert set(np.unique(out["depth"]).tolist()) <= {0.0, 2.0, 3.0, 7.0}
        np.testing.assert_array_equal(out["valid"], out["depth"] > 0)


def test_photometric_ops_touch_images_only():
    sample = marker_sample()
    out = JointTransform(None, Augment(**PHOTOMETRIC))(sample)
    assert not np.allclose(out["image"], sample["image"]) and 0 <= out["image"].min() <= out["image"].max() <= 1
    for key in ("depth", "mask", "intrinsics"):
        np.testing.assert_array_equal(out[key], sample[key])
    assert out["valid"].all()


def test_build_transform_skips_work_and_names_bad_presets():
    assert build_transform(None, None) is None and build_transform(None, {"hflip": 0.0}) is None
    assert build_transform((8, 8), None) is not None
    with pytest.raises(ValueError, match="data.augment.scale=\\[1.2, 0.9\\]"):
        build_transform(None, {"scale": [1.2, 0.9]})


def batch_of(samples: list[dict]) -> dict:
    mean, std = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    finals = [finalize_sample(s, 1e-3, 10.0, mean, std) for s in samples]
    return {
        k: torch.stack([f[k] for f in finals]) for k in ("image", "background", "depth", "valid", "mask", "intrinsics")
    }


def test_kornia_batch_augment_keeps_alignment_validity_and_intrinsics():
    torch.manual_seed(0)
    augment = BatchAugment(
        Augment(hflip=0.5, scale=(1.2, 1.4), rotate=0.0, **PHOTOMETRIC), torch.zeros(3), torch.ones(3)
    )
    rng = np.random.default_rng(1)
    samples = [marker_sample(int(rng.integers(6, 20)), int(rng.integers(6, 30))) for _ in range(6)]
    for s in samples:
        s["depth"][rng.random((H, W)) < 0.2] = 0.0
    before = batch_of(samples)
    out = augment(before)
    assert out["image"].shape == before["image"].shape and out["valid"].dtype == torch.bool
    assert set(out["depth"].unique().tolist()) <= {0.0, 2.0, 5.0} and torch.equal(out["valid"], out["depth"] > 0)
    for i in range(6):
        d = out["depth"][i, 0].numpy()
        np.testing.assert_allclose(centroid(out["mask"][i, 0].numpy()), centroid(d == 5.0), atol=1.0)
        ray = np.linalg.inv(before["intrinsics"][i].numpy()) @ np.append(
            centroid(before["mask"][i, 0].numpy()) + 0.5, 1
        )
        moved = centroid(out["mask"][i, 0].numpy()) + 0.5
        errors = []
        for mirrored in (ray, ray * [-1, 1, 1]):  # a flip mirrors the camera, hence the ray
            projected = out["intrinsics"][i].numpy() @ mirrored
            errors.append(np.abs(projected[:2] / projected[2] - moved).max())
        assert min(errors) <= 1.0, errors


def test_gpu_aug_moves_the_preset_from_workers_to_batches(tmp_path):
    from depthlab.data.fixtures import write_folder
    from depthlab.data.folder import FolderDataModule

    write_folder(tmp_path)
    preset = {"hflip": 1.0}
    cpu = FolderDataModule(root=str(tmp_path), height=32, width=32, augment=preset)
    gpu = FolderDataModule(root=str(tmp_path), height=32, width=32, augment=preset, gpu_aug=True, batch_size=2)
    assert cpu.transform("train").augment.hflip == 1.0 and gpu.transform("train").augment.hflip == 0.0
    gpu.setup("fit")
    batch = next(iter(gpu.loader("train", shuffle=False)))
    gpu.trainer = SimpleNamespace(training=True)
    flipped = gpu.on_after_batch_transfer(batch, 0)
    torch.testing.assert_close(flipped["depth"], batch["depth"].flip(-1))
    gpu.trainer = SimpleNamespace(training=False)
    assert gpu.on_after_batch_transfer(batch, 0) is batch


def test_presets_are_a_config_group_and_synthetic_stays_unaugmented():
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        synthetic = compose("train", overrides=["paths.root_dir=."])
        nyu = compose("train", overrides=["data=nyuv2", "paths.root_dir=."])
        strong = compose("train", overrides=["data=kitti", "augment=strong", "paths.root_dir=."])
    assert not Augment.from_mapping(synthetic.data.augment).active
    assert Augment.from_mapping(nyu.data.augment).hflip == 0.5
    assert Augment.from_mapping(strong.data.augment).blur > 0
