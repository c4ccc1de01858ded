"""Each real dataset's exact on-disk layout loads through its DataModule: shapes, dtypes, metres, masks, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REAL
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.base import SPLITS
from depthlab.data.diode import DIODEDataModule
from depthlab.data.folder import FolderDataModule
from depthlab.data.hrwsi import HRWSIDataModule
from depthlab.data.kitti import KITTIDataModule
from depthlab.data.modest import MODESTDataModule
from depthlab.data.nyuv2 import NYUv2DataModule
from depthlab.data.redweb import ReDWebDataModule
from depthlab.utils.errors import DepthlabError

RAW = {"height": None, "width": None, "augment": None}  # native size, no augmentation: decoded values untouched


def all_samples(dm):
    return [(split, dm.dataset(split)[i]) for split in SPLITS for i in range(len(dm.dataset(split)))]


def assert_contract(sample, shape, background=False, mask=False, intrinsics=True):
    assert sample["image"].shape == (3, *shape) and sample["image"].dtype == torch.float32
    assert sample["depth"].shape == (1, *shape) and sample["depth"].dtype == torch.float32
    assert sample["valid"].shape == (1, *shape) and sample["valid"].dtype == torch.bool
    assert (sample["depth"][~sample["valid"]] == 0).all()
    assert ("background" in sample) == background and ("mask" in sample) == mask
    assert ("intrinsics" in sample) == intrinsics
    if mask:
        assert set(sample["mask"].unique().tolist()) <= {0.0, 1.0}


def assert_metres(dm, sample, expected):
    """Decoded depth equals the encoding's value wherever it is inside (min_depth, max_depth), 0 elsewhere."""
    expected = np.asarray(expected, np.float32)
    inside = (expected > dm.min_depth) & (expected < dm.max_depth)
    np.testing.assert_array_equal(sample["valid"][0].numpy(), inside)
    np.testing.assert_array_equal(sample["depth"][0].numpy(), np.where(inside, expected, 0))


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [("sync", {"train_list": "train.txt", "test_list": "test.txt"}), ("sync", {}), ("csv", {})],
)
def test_nyuv2_sync_and_csv_decode_metres(tmp_path, fmt, kwargs):
    writer = fixtures.write_nyu_sync if fmt == "sync" else fixtures.write_nyu_csv
    truth = writer(tmp_path)
    dm = NYUv2DataModule(root=str(tmp_path), format=fmt, **kwargs, **RAW)
    samples = all_samples(dm)
    assert {s["meta"]["path"] for _, s in samples} == set(truth)
    for _, sample in samples:
        assert_contract(sample, (48, 64))
        assert_metres(dm, sample, truth[sample["meta"]["path"]])
        assert sample["intrinsics"][0, 0] == pytest.approx(fixtures.NYU_FOCAL)
    if fmt == "csv":  # 8-bit train depth is v / 255 * 10 m: coarse steps of 39 mm
        train = dm.dataset("train")[0]["depth"]
        steps = torch.unique(train[train > 0] / (10 / 255))
        torch.testing.assert_close(steps, steps.round(), atol=1e-4, rtol=0)
    if kwargs:  # split files: scene 2 is the test split, val held out of train scenes
        assert all("scene_0002" in s["meta"]["path"] for split, s in samples if split == "test")
        train_scenes = {Path(s["meta"]["path"]).parent.name for split, s in samples if split == "train"}
        val_scenes = {Path(s["meta"]["path"]).parent.name for split, s in samples if split == "val"}
        assert train_scenes and val_scenes and not train_scenes & val_scenes


@pytest.mark.parametrize("depth_type", ["filled", "raw"])
def test_nyuv2_labeled_mat_transposes_axes_and_uses_the_official_split(tmp_path, depth_type):
    truth = fixtures.write_nyu_mat(tmp_path, n=6)
    dm = NYUv2DataModule(root=str(tmp_path), format="mat", depth_type=depth_type, val_fraction=0, **RAW)
    test_indices = [r.index for r in dm.splits()["test"]]
    assert test_indices == [1, 4] and [r.index for r in dm.splits()["train"]] == [0, 2, 3, 5]  # 1-based 2, 5
    for split in ("train", "test"):
        for i, record in enumerate(dm.splits()[split]):
            sample = dm.dataset(split)[i]
            assert_contract(sample, (48, 64))
            assert_metres(dm, sample, truth[f"{depth_type}/{record.index}"])
            rgb, _ = fixtures.scene(record.index, 48, 64)
            image = dm.denormalize(sample["image"][None])[0].permute(1, 2, 0).numpy()
            np.testing.assert_allclose(image, rgb / 255.0, atol=1e-5)
    assert (dm.dataset("test")[0]["valid"]).all() == (depth_type == "filled")


def test_diode_reads_npy_depth_and_mask_per_scene_kind(tmp_path):
    truth = fixtures.write_diode(tmp_path)
    for scenes, kinds in (("indoors", {"indoors"}), ("outdoor", {"outdoor"}), ("all", {"indoors", "outdoor"})):
        dm = DIODEDataModule(root=str(tmp_path), scenes=scenes, max_depth=300.0, **RAW)
        samples = all_samples(dm)
        assert {Path(s["meta"]["path"]).stem.split("_")[2] for _, s in samples} == kinds
        assert len(dm.dataset("test")) == 4 * len(kinds)  # official val = test
        for _, sample in samples:
            assert_contract(sample, (48, 64))
            assert_metres(dm, sample, truth[sample["meta"]["path"]])
        assert dm.dataset("test")[0]["intrinsics"][0, 0] == pytest.approx(886.81)


def test_kitti_eigen_files_skip_none_and_read_calibration(tmp_path):
    truth = fixtures.write_kitti(tmp_path)
    dm = KITTIDataModule(
        root=str(tmp_path),
        train_list="eigen_train_files.txt",
        test_list="eigen_test_files.txt",
        kb_crop=False,
        max_depth=80.0,
        **RAW,
    )
    samples = all_samples(dm)
    assert dm.skipped == {"train": 0, "test": 1} and len(dm.dataset("test")) == 4
    for _, sample in samples:
        assert_contract(sample, (40, 64))
        assert_metres(dm, sample, truth[sample["meta"]["path"]])
        assert 0.1 < sample["valid"].float().mean() < 0.5  # sparse LiDAR ground truth
        assert sample["intrinsics"][0, 2] == pytest.approx(31.5)  # P_rect_02 of calib_cam_to_cam.txt
    scanned = KITTIDataModule(root=str(tmp_path), kb_crop=False, val_fraction=0, **RAW)
    assert [len(scanned.dataset(s)) for s in ("train", "test")] == [4, 4]


def test_kitti_kb_crop_keeps_bottom_centre_and_moves_the_principal_point(tmp_path):
    truth = fixtures.write_kitti(tmp_path, n=2, height=375, width=1242)
    dm = KITTIDataModule(root=str(tmp_path), kb_crop=True, val_fraction=0, **RAW)
    sample = dm.dataset("train")[0]
    assert_contract(sample, (352, 1216))
    assert_metres(dm, sample, truth[sample["meta"]["path"]][23:, 13:1229])
    assert sample["intrinsics"][0, 2] == pytest.approx(1242 / 2 - 0.5 - 13)
    assert sample["intrinsics"][1, 2] == pytest.approx(375 / 2 + 0.5 - 23)


@pytest.mark.parametrize(("module", "writer"), [(ReDWebDataModule, "redweb"), (HRWSIDataModule, "hrwsi")])
def test_relative_datasets_invert_disparity_and_mark_themselves_relative(tmp_path, module, writer):
    truth = fixtures.WRITERS[writer](tmp_path)
    dm = module(root=str(tmp_path), min_depth=0.5, max_depth=256.0, **RAW)
    assert dm.relative is True
    for _, sample in all_samples(dm):
        assert_contract(sample, (48, 64), intrinsics=False)
        assert sample["meta"]["relative"] is True
        np.testing.assert_allclose(sample["depth"][0].numpy(), truth[sample["meta"]["path"]], rtol=1e-6)
    assert module(root=str(tmp_path), relative=False).relative is False


def test_modest_gives_bg_fg_background_thresholded_mask_and_relative_depth(tmp_path):
    truth = fixtures.write_modest(tmp_path)
    dm = MODESTDataModule(root=str(tmp_path), min_depth=0.0, max_depth=1.01, **RAW)
    samples = all_samples(dm)
    assert len(samples) == 8 and dm.relative
    for _, sample in samples:
        assert_contract(sample, (32, 32), background=True, mask=True, intrinsics=False)
        path = sample["meta"]["path"]
        assert (sample["mask"][0].numpy() != truth[f"mask:{path}"]).mean() < 0.02  # JPEG edges only
        error = np.abs(sample["depth"][0].numpy() - truth[path])  # JPEG pseudo-depth: lossy near mask edges
        assert error.mean() < 1 / 255 and error.max() < 12 / 255
    groups = {s: {Path(x["meta"]["path"]).name[:5] for sp, x in samples if sp == s} for s in SPLITS}
    assert not groups["train"] & (groups["val"] | groups["test"])  # a background stays in one split


def test_folder_reads_png_npy_pfm_masks_and_split_lists(tmp_path):
    truth = fixtures.write_folder(tmp_path)
    dm = FolderDataModule(root=str(tmp_path), intrinsics=[50, 50, 32, 24], **RAW)
    samples = all_samples(dm)
    assert sorted(s["meta"]["path"] for _, s in samples) == sorted(truth)
    for _, sample in samples:
        assert_contract(sample, (48, 64), mask=True)
        assert_metres(dm, sample, truth[sample["meta"]["path"]])
    (tmp_path / "train.txt").write_text("frame_000\nframe_001\nrgb/frame_002.png\n")
    (tmp_path / "test.txt").write_text("frame_005\n")
    listed = FolderDataModule(root=str(tmp_path), train_list="train.txt", test_list="test.txt", val_fraction=0)
    assert len(listed.dataset("train")) == 3 and listed.dataset("val")[0]["meta"]["path"].endswith("frame_005.png")
    scaled = FolderDataModule(root=str(tmp_path), depth_scale=100.0, invalid_value=None, max_depth=1000.0, **RAW)
    png = next(s for _, s in all_samples(scaled) if s["meta"]["path"].endswith("frame_000.png"))
    np.testing.assert_allclose(png["depth"][0].numpy(), truth[png["meta"]["path"]] * 10, rtol=1e-6)


def test_nan_inf_and_out_of_range_depth_are_invalid(tmp_path):
    fixtures.write_rgb(tmp_path / "rgb" / "a.png", np.zeros((2, 3, 3), np.uint8))
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "a.npy", np.array([[np.nan, np.inf, 2.0], [0.5, 20.0, -1.0]], np.float32))
    dm = FolderDataModule(root=str(tmp_path), val_fraction=0, test_fraction=0, min_depth=1.0, max_depth=10.0, **RAW)
    sample = dm.dataset("train")[0]
    assert sample["valid"][0].tolist() == [[False, False, True], [False, False, False]]
    assert sample["depth"][0].tolist() == [[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]


def manifest(name: str) -> list[dict[str, str]]:
    with (REAL / "manifest.csv").open() as f:
        return [row for row in csv.DictReader(f) if row["set"] == name]


def assert_real_metres(dm, rows, crop=(slice(None), slice(None))):
    """Every real pair decodes to manifest scale: metres = value / depth_scale (read independently with Pillow)."""
    seen = {s["meta"]["path"]: s for _, s in all_samples(dm)}
    assert len(seen) == len(rows)
    for row in rows:
        sample = seen[str(REAL / row["rgb"])]
        value = np.asarray(Image.open(REAL / row["depth"]))[crop]
        assert_metres(dm, sample, value.astype(np.float32) / np.float32(row["depth_scale"]))
        assert sample["valid"].float().mean() > 0.05


def test_real_nyu_sync_pairs_load_through_nyuv2():
    rows = manifest("nyu_sync")
    dm = NYUv2DataModule(root=str(REAL / "nyu_sync"), format="sync", **RAW)
    assert_real_metres(dm, rows)
    assert dm.dataset("train")[0]["intrinsics"][0, 0] == pytest.approx(float(rows[0]["fx"]))


def test_real_kitti_pairs_load_through_kitti_with_kb_crop(tmp_path):
    rows = manifest("kitti_annotated")
    lines = [f"{r['rgb'].split('/', 1)[1]} {r['depth'].split('/', 1)[1]} {r['fx']}" for r in rows]
    (tmp_path / "train.txt").write_text("\n".join(lines[:2]) + "\n")
    (tmp_path / "test.txt").write_text(lines[2] + "\nrgb/0000000999.png None 707.0493\n")
    k = [float(rows[0][key]) for key in ("fx", "fy", "cx", "cy")]
    root = str(REAL / "kitti_annotated")
    kwargs = dict(train_list=str(tmp_path / "train.txt"), test_list=str(tmp_path / "test.txt"), val_fraction=0)
    dm = KITTIDataModule(root=root, gt_root=root, intrinsics=k, max_depth=80.0, **kwargs, **RAW)
    assert_real_metres(dm, rows, crop=(slice(23, None), slice(13, 1229)))
    sample = dm.dataset("train")[0]
    assert sample["depth"].shape == (1, 352, 1216)
    torch.testing.assert_close(sample["intrinsics"][:2, 2], torch.tensor([k[2] - 13, k[3] - 23]))


@pytest.mark.parametrize(("name", "scale"), [("tum", 5000), ("kinect", 1000)])
def test_real_tum_and_kinect_pairs_load_through_folder(name, scale):
    rows = manifest(name)
    assert {float(r["depth_scale"]) for r in rows} == {scale}
    dm = FolderDataModule(
        root=str(REAL / name), rgb_dir=".", depth_dir=".", depth_suffix="_depth", depth_scale=scale, **RAW
    )
    assert_real_metres(dm, rows)


@pytest.mark.parametrize("name", ["nyuv2", "diode", "kitti", "redweb", "hrwsi", "modest", "folder"])
def test_missing_root_names_layout_and_source(tmp_path, name):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"data={name}", f"data.root={tmp_path / 'nope'}", "paths.root_dir=."])
    dm = instantiate(cfg.data)  # instantiating does not touch the disk
    assert dm.eval_crop == cfg.data.eval_crop and dm.relative == cfg.data.relative
    with pytest.raises(DepthlabError, match=f"data.root=.*nope is not a directory; data={name} expects .* get it from"):
        dm.setup("fit")


def test_corrupt_file_size_mismatch_and_empty_split_are_named(tmp_path):
    fixtures.write_folder(tmp_path, n=3)
    (tmp_path / "depth" / "frame_000.png").write_bytes(b"not a png")
    dm = FolderDataModule(root=str(tmp_path), val_fraction=0, test_fraction=0, **RAW)
    index = next(i for i, r in enumerate(dm.splits()["train"]) if r.rgb.stem == "frame_000")
    with pytest.raises(DepthlabError, match=r"frame_000.png is not a readable image \(corrupt"):
        dm.dataset("train")[index]
    cv2.imwrite(str(tmp_path / "depth" / "frame_000.png"), np.ones((10, 10), np.uint16))
    with pytest.raises(
        DepthlabError, match=r"size mismatch: .*rgb/frame_000.png is 64x48 but .*frame_000.png is 10x10"
    ):
        dm.dataset("train")[index]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    listed = FolderDataModule(root=str(tmp_path), train_list="train_missing.txt")
    with pytest.raises(DepthlabError, match="split file .*train_missing.txt does not exist"):
        listed.setup("fit")
    empty = FolderDataModule(root=str(tmp_path), train_list="empty.txt")
    with pytest.raises(DepthlabError, match="the train split of data=folder is empty: data.train_list=empty.txt lists"):
        empty.setup("fit")
    (tmp_path / "depth" / "frame_001.npy").unlink()
    with pytest.raises(DepthlabError, match="frame_001.png has no depth file"):
        FolderDataModule(root=str(tmp_path)).setup("fit")


def test_bad_settings_are_one_line_errors(tmp_path):
    for kwargs, needle in [
        ({"format": "zip"}, "data.format='zip' is unknown"),
        ({"height": 64}, "give both"),
        ({"val_fraction": 1.5}, "data.val_fraction=1.5"),
        ({"eval_crop": "eigen"}, "data.eval_crop='eigen' is unknown"),
        ({"augment": {"flip": 0.5}}, "data.augment.flip is unknown"),
    ]:
        with pytest.raises(DepthlabError, match=needle):
            NYUv2DataModule(root=str(tmp_path), **kwargs)
