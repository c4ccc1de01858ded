"""Sparse ground truth (< 5 % valid): metrics and pointwise losses equal NumPy on the measured pixels only,
dense-neighbourhood terms are refused, the scatter resize keeps measured values, folder / KITTI load sparse."""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, assert_one_line_error, run_cli
from hydra import compose, initialize_config_dir
from reference import np_metrics

from depthlab.cli.train import train
from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.augment_table import Augment
from depthlab.data.folder import FolderDataModule
from depthlab.data.io import decode_depth
from depthlab.data.kitti import KITTIDataModule
from depthlab.data.sparse import check_sparse_mode, scatter_resize
from depthlab.data.transforms import JointTransform
from depthlab.losses.composite import CompositeLoss
from depthlab.losses.gradient import EdgeAwareSmoothnessLoss, GradientMatchingLoss
from depthlab.losses.normals import SurfaceNormalLoss
from depthlab.losses.ranking import RankingLoss, StructureGuidedRankingLoss
from depthlab.losses.scale_invariant import ScaleShiftInvariantLoss, SILogLoss
from depthlab.losses.sparse import check_sparse_loss
from depthlab.losses.terms import BerHuLoss, EdgeLoss, L1Loss, MSELoss, RMSELoss, SSIMLoss
from depthlab.metrics.baseline import baselines
from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.functional import DEPTH_METRIC_KEYS, per_image_metrics
from depthlab.metrics.protocol import EvalProtocol
from depthlab.models.sparse_checks import check_sparse
from depthlab.ops.pairs import sample_random_pairs
from depthlab.utils.errors import DepthlabError

H, W = 48, 64


def dense_depth(seed: int) -> np.ndarray:
    """A smooth positive depth map in metres, 1..9 m."""
    y, x = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(seed)
    return (1 + 4 * y / H + 3 * x / W + rng.uniform(0, 1, (H, W))).astype(np.float64)


def random_points(seed: int, fraction: float = 0.03) -> np.ndarray:
    """Exactly round(fraction x H x W) measured pixels at random: an SfM-like mask."""
    mask = np.zeros(H * W, bool)
    mask[np.random.default_rng(seed).choice(H * W, round(fraction * H * W), replace=False)] = True
    return mask.reshape(H, W)


def scanlines(seed: int) -> np.ndarray:
    """LiDAR-like: every 4th row from the middle down, every 3rd column of it, with dropouts (~4 % valid)."""
    mask = np.zeros((H, W), bool)
    mask[H // 2 :: 4, ::3] = True
    return mask & (np.random.default_rng(seed).random((H, W)) < 0.9)


def batch(masks: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pred, target, valid) [B, 1, H, W] float64: target zero off the mask, pred a noisy scaled copy."""
    g = np.stack([dense_depth(i) for i in range(len(masks))])[:, None]
    p = g * 0.9 + np.random.default_rng(7).normal(0, 0.3, g.shape)
    p = np.abs(p) + 0.05
    v = np.stack(masks)[:, None]
    return torch.tensor(p), torch.tensor(np.where(v, g, 0.0)), torch.tensor(v)


MASKS = [random_points(0), scanlines(1), np.zeros((H, W), bool)]  # the third image has no valid pixel


def test_masks_are_below_five_percent():
    fractions = [m.mean() for m in MASKS]
    assert 0.02 < fractions[0] < 0.05 and 0.02 < fractions[1] < 0.05 and fractions[2] == 0


def test_every_metric_equals_numpy_on_valid_pixels_and_the_empty_image_is_excluded():
    p, g, v = batch(MASKS)
    per_image = per_image_metrics(p, g, v, ssim=False)
    refs = [np_metrics(p[b, 0][v[b, 0]].numpy(), g[b, 0][v[b, 0]].numpy()) for b in range(2)]
    for key in refs[0]:
        for b in range(2):
            assert per_image[key][b].item() == pytest.approx(refs[b][key], rel=1e-9, abs=1e-12), key
        assert math.isnan(per_image[key][2].item())
    for average in ("per_image", "per_pixel"):
        metric = DepthMetrics(average=average, ssim=False)
        metric.update(p[:2], g[:2], v[:2])
        metric.update(p[2:], g[2:], v[2:])
        out = {k: float(x) for k, x in metric.compute().items()}
        assert "ssim" not in out and set(out) == set(DEPTH_METRIC_KEYS) - {"ssim"}
        if average == "per_image":
            expected = {k: np.mean([r[k] for r in refs]) for k in refs[0]}
        else:
            pooled = v[:2, 0].numpy()
            expected = np_metrics(p[:2, 0].numpy()[pooled], g[:2, 0].numpy()[pooled])
        for key, value in expected.items():
            assert out[key] == pytest.approx(value, rel=1e-9), (average, key)


def np_loss(name: str, p: np.ndarray, g: np.ndarray) -> float:
    """NumPy references over the pooled valid pixels of the batch (1-D arrays)."""
    if name == "l1":
        return float(np.mean(np.abs(p - g)))
    if name == "mse":
        return float(np.mean((p - g) ** 2))
    if name == "rmse":
        return float(np.sqrt(np.mean((p - g) ** 2) + 1e-8))
    if name == "berhu":
        x = np.abs(p - g)
        c = 0.2 * x.max()
        return float(np.mean(np.where(x <= c, x, (x**2 + c**2) / (2 * c))))
    d = np.log(p) - np.log(g)  # silog, BTS: lambd 0.85, scale 10
    return float(10 * np.sqrt(np.var(d) + 0.15 * np.mean(d) ** 2 + 1e-8))


POINTWISE = {"l1": L1Loss(), "mse": MSELoss(), "rmse": RMSELoss(), "berhu": BerHuLoss(), "silog": SILogLoss()}


@pytest.mark.parametrize("name", list(POINTWISE))
def test_pointwise_losses_equal_numpy_and_ignore_the_empty_image(name):
    p, g, v = batch(MASKS)
    pred = p.clone().requires_grad_(True)
    value = POINTWISE[name]({"depth": pred}, {"depth": g, "valid": v})
    mask = v[:, 0].numpy()
    assert value.item() == pytest.approx(np_loss(name, p[:, 0].numpy()[mask], g[:, 0].numpy()[mask]), rel=1e-9)
    value.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[~v] == 0).all() and pred.grad[2].abs().sum() == 0


def np_ssi(p: np.ndarray, g: np.ndarray, method: str) -> np.ndarray:
    """Per-image residual in disparity space (MiDaS): median / MAD normalisation or least squares."""
    d = 1 / g
    if method == "median":
        norm = [(x - np.median(x)) / np.mean(np.abs(x - np.median(x))) for x in (p, d)]
        return norm[0] - norm[1]
    s, t = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), d, rcond=None)[0]
    return s * p + t - d


@pytest.mark.parametrize("method", ["median", "lstsq"])
def test_ssi_aligns_each_image_on_its_few_points(method):
    p, g, v = batch(MASKS)
    pred = p.clone().requires_grad_(True)
    value = ScaleShiftInvariantLoss(method=method)({"depth": pred}, {"depth": g, "valid": v})
    residuals = [np_ssi(p[b, 0][v[b, 0]].numpy(), g[b, 0][v[b, 0]].numpy(), method) for b in range(2)]
    assert value.item() == pytest.approx(np.mean(np.abs(np.concatenate(residuals))), rel=1e-7)
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[2].abs().sum() == 0


def test_ranking_counts_only_measured_pairs():
    p, g, v = batch(MASKS)
    value = RankingLoss(n_pairs=500, seed=3)({"depth": p}, {"depth": g, "valid": v})
    i, j = sample_random_pairs(v, 500, torch.Generator().manual_seed(3))
    costs = []
    for b in range(2):  # image 2 has no valid pixel: its pairs are drawn anywhere and not counted
        pf, gf = p[b, 0].flatten().numpy(), g[b, 0].flatten().numpy()
        z, ratio = pf[i[b]] - pf[j[b]], gf[i[b]] / gf[j[b]]
        label = (ratio >= 1.02).astype(float) - (ratio <= 1 / 1.02)
        costs.append(np.where(label != 0, np.log1p(np.exp(-label * z)), z**2))
    assert value.item() == pytest.approx(np.mean(np.concatenate(costs)), rel=1e-9)


def test_unmasked_smoothness_needs_no_target_and_is_finite():
    p, g, v = batch(MASKS)
    image = torch.rand(3, 3, H, W, dtype=torch.float64)
    term = EdgeAwareSmoothnessLoss()
    sparse, dense = (term({"depth": p}, {"depth": g, "valid": m, "image": image}) for m in (v, torch.ones_like(v)))
    assert torch.isfinite(sparse) and sparse.item() == dense.item()  # independent of where the target is measured


DENSE = {
    "ssim": SSIMLoss(),
    "edge": EdgeLoss(),
    "gm": GradientMatchingLoss(),
    "normal": SurfaceNormalLoss(hfov_deg=60),
    "structure_ranking": StructureGuidedRankingLoss(),
    "smoothness": EdgeAwareSmoothnessLoss(masked=True),
}


@pytest.mark.parametrize("name", list(DENSE))
def test_dense_neighbourhood_terms_are_refused_on_sparse_data_naming_the_term(name):
    loss = CompositeLoss({"l1": L1Loss(), name: DENSE[name]}, {"l1": 1.0, name: 0.5})
    with pytest.raises(DepthlabError, match=f"loss term {name} .* sparse targets of data=folder") as err:
        check_sparse_loss(loss, "folder")
    assert "\n" not in str(err.value)


class _Module:
    """The two attributes check_sparse reads from a DepthModule."""

    def __init__(self, loss: torch.nn.Module) -> None:
        self.loss, self.metrics = loss, {s: DepthMetrics() for s in ("train", "val", "test")}

    def split_metrics(self, split: str) -> DepthMetrics:
        return self.metrics[split]


def test_pointwise_recipe_passes_and_the_ssim_metric_is_dropped_only_when_sparse():
    loss = CompositeLoss({"l1": L1Loss(), "smoothness": EdgeAwareSmoothnessLoss()}, {"l1": 1.0, "smoothness": 0.1})
    for sparse in (False, True):
        module = _Module(loss)
        check_sparse(module, {"meta": {"sparse": sparse}}, "folder")
        assert [module.split_metrics(s).ssim for s in ("train", "val", "test")] == [not sparse] * 3
    module = _Module(CompositeLoss({"ssim": SSIMLoss()}, {"ssim": 1.0}))
    check_sparse(module, {"meta": {"sparse": False}}, "folder")  # dense data: every term allowed
    with pytest.raises(DepthlabError, match="loss term ssim"):
        check_sparse(module, {"meta": {"sparse": True}}, "folder")


@pytest.mark.parametrize("size", [(24, 32), (17, 50), (96, 128), (48, 64)])
@pytest.mark.parametrize("kind", ["points", "scanlines"])
def test_scatter_resize_keeps_measured_values_and_loses_only_collisions(size, kind):
    mask = random_points(5) if kind == "points" else scanlines(5)
    depth = np.where(mask, dense_depth(5), 0).astype(np.float32)
    out, valid = scatter_resize(depth, mask, size)
    assert out.shape == valid.shape == size and (out[~valid] == 0).all()
    rows, cols = np.nonzero(mask)
    cells = np.minimum((rows + 0.5) * size[0] / H, size[0] - 1).astype(int) * size[1] + np.minimum(
        (cols + 0.5) * size[1] / W, size[1] - 1
    ).astype(int)
    assert valid.sum() == len(np.unique(cells))  # one point per occupied cell: only collisions are lost
    nearest = {c: np.inf for c in cells}
    for c, d in zip(cells, depth[rows, cols], strict=True):
        nearest[c] = min(nearest[c], d)
    got = dict(zip(np.flatnonzero(valid), out[valid], strict=True))
    assert got == {c: np.float32(d) for c, d in nearest.items()}  # measured values only, the nearest per cell
    if size == (48, 64):
        assert (out == depth).all()


def test_transform_resizes_sparse_targets_by_scatter_and_dense_ones_nearest():
    mask = random_points(2)
    depth = np.where(mask, dense_depth(2), 0).astype(np.float32)
    sample = {"image": np.zeros((H, W, 3), np.float32), "depth": depth, "valid": mask, "meta": {}}
    sparse = JointTransform((24, 32), sparse="auto")(dict(sample))
    expected, _ = scatter_resize(depth, mask, (24, 32))
    assert sparse["meta"]["sparse"] is True and (sparse["depth"] == expected).all()
    dense = JointTransform((24, 32), sparse=False)(dict(sample))
    nearest = cv2.resize(depth, (32, 24), interpolation=cv2.INTER_NEAREST_EXACT)
    assert dense["meta"]["sparse"] is False and (dense["depth"] == nearest).all()
    assert sparse["valid"].sum() > 2 * dense["valid"].sum()  # nearest keeps ~1 point in 4 at half size
    assert set(sparse["depth"][sparse["valid"]]) <= set(depth[mask])


def test_sparse_mode_is_checked():
    assert [check_sparse_mode(m, 0.3) for m in (True, "false", "auto", "True")] == [True, False, "auto", True]
    for mode, threshold in (("maybe", 0.3), (1, 0.3), ("auto", 0.0)):
        with pytest.raises(DepthlabError, match="data.sparse"):
            check_sparse_mode(mode, threshold)


def write_sparse_folder(root, n: int = 6) -> None:
    """rgb/ + depth/ 16-bit PNGs (mm) with 3 % of pixels measured."""
    for i in range(n):
        rgb, depth = fixtures.scene(i, H, W)
        fixtures.write_rgb(root / "rgb" / f"f{i}.png", rgb)
        measured = random_points(i) & (depth > 0)
        fixtures.write_u16(root / "depth" / f"f{i}.png", np.where(measured, depth, 0), 1000)


def test_folder_with_sparse_pngs_loads_with_meta_sparse(tmp_path):
    write_sparse_folder(tmp_path)
    kwargs = {"root": str(tmp_path), "height": 24, "width": 32, "num_workers": 0}
    for mode, expected in (("auto", True), (False, False)):
        assert FolderDataModule(sparse=mode, **kwargs).dataset("train")[0]["meta"]["sparse"] is expected
    sample = FolderDataModule(sparse="auto", **kwargs).dataset("test")[0]  # resized, not augmented
    raw, valid = decode_depth(tmp_path / "depth" / Path(sample["meta"]["path"]).name)
    assert valid.mean() < 0.05
    expected, kept = scatter_resize(raw, valid, (24, 32))
    assert (sample["valid"][0].numpy() == kept).all() and (sample["depth"][0].numpy() == expected).all()
    native = FolderDataModule(sparse="auto", root=str(tmp_path), num_workers=0).dataset("val")[0]  # no transform
    assert native["meta"]["sparse"] is True and native["valid"].float().mean() < 0.05


def test_kitti_fixture_with_data_sparse_true_keeps_its_points(tmp_path):
    fixtures.write_kitti(tmp_path)
    kwargs = {"root": str(tmp_path), "kb_crop": False, "height": 20, "width": 32, "num_workers": 0}
    kwargs |= {"max_depth": 80.0, "train_list": "eigen_train_files.txt", "val_fraction": 0}
    sparse = KITTIDataModule(sparse=True, **kwargs).dataset("train")[0]
    dense = KITTIDataModule(sparse=False, **kwargs).dataset("train")[0]
    assert sparse["meta"]["sparse"] is True and dense["meta"]["sparse"] is False
    assert sparse["valid"].sum() > dense["valid"].sum()


def test_gpu_aug_with_geometry_is_refused_on_sparse_data(tmp_path):
    with pytest.raises(DepthlabError, match="data.gpu_aug=true"):
        FolderDataModule(root=str(tmp_path), sparse="auto", gpu_aug=True, augment={"scale": [1.0, 1.2]})


CLI = ["data=folder", "data.height=32", "data.width=32", "data.batch_size=2", "data.eval_batch_size=2"]
CLI += ["data.num_workers=0", "data.sparse=auto", "data.val_fraction=0.2", "trainer.max_epochs=1"]
CLI += ["trainer.limit_train_batches=2", "callbacks.progress_bar=null", "callbacks.image_panels=null", "logger=csv"]
CLI += ["baseline=false", "model.arch_kwargs.decoder_channels=[16,16,16,8,8]"]


@pytest.mark.slow
def test_cli_trains_two_steps_on_sparse_folder_and_refuses_ssim(tmp_path):
    write_sparse_folder(tmp_path / "data", n=8)
    root = f"data.root={tmp_path / 'data'}"
    result = run_cli("train.py", *CLI, root, tmp_path=tmp_path, run_dir=tmp_path / "run", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = (tmp_path / "run" / "metrics.json").read_text()
    assert '"train/loss"' in metrics and '"test/rmse"' in metrics and '"test/ssim"' not in metrics
    refused = run_cli("train.py", *CLI, root, "loss=ssim_l1_edge", tmp_path=tmp_path, run_dir=tmp_path / "r2")
    assert_one_line_error(refused, "loss term ssim", "sparse targets of data=folder")


@pytest.mark.parametrize("preset", [{"hflip": 1.0, "scale": [1.0, 1.2], "rotate": 2.5, "rotate_p": 1.0}])
def test_augmented_sparse_targets_hold_only_measured_depths(preset):
    mask = scanlines(4)
    depth = np.where(mask, dense_depth(4), 0).astype(np.float32)
    sample = {"image": np.zeros((H, W, 3), np.float32), "depth": depth, "valid": mask, "meta": {}}
    sample["intrinsics"] = np.array([[50, 0, 32], [0, 50, 24], [0, 0, 1]], np.float32)  # rides first in keypoints
    transform = JointTransform((24, 32), Augment.from_mapping(preset), sparse=True)
    for seed in range(5):
        random.seed(seed)
        out = transform(dict(sample))
        assert out["meta"]["sparse"] is True and out["valid"].any() and (out["depth"][~out["valid"]] == 0).all()
        kept = out["depth"][out["valid"]]
        assert set(kept) <= set(depth[mask]) and len(set(kept)) == len(kept)  # moved as points: none duplicated
        assert 25 - 1e-3 <= out["intrinsics"][0, 0] <= 30 + 1e-3  # resize x 0.5, zoom x 1.0..1.2


def test_zooming_out_a_sparse_target_keeps_every_point_but_collisions():
    mask = random_points(6)
    depth = np.where(mask, dense_depth(6), 0).astype(np.float32)
    sample = {"image": np.zeros((H, W, 3), np.float32), "depth": depth, "valid": mask, "meta": {}}
    out = JointTransform((H, W), Augment.from_mapping({"scale": [0.5, 0.5]}), sparse=True)(sample)
    half, _ = scatter_resize(depth, mask, (H // 2, W // 2))  # zoom 0.5, then padded back to H x W
    assert sorted(out["depth"][out["valid"]]) == sorted(half[half > 0])


@pytest.mark.parametrize("alignment", ["median", "lstsq", "lstsq_disparity"])
def test_protocol_alignment_fits_on_the_few_points_and_survives_one_or_none(alignment):
    one = np.zeros((H, W), bool)
    one[10, 10] = True
    p, g, v = batch([random_points(0), one, np.zeros((H, W), bool)])
    pred, _, valid = EvalProtocol(max_depth=100.0, alignment=alignment)(p, g, v)
    assert torch.isfinite(pred).all()
    x, y = p[0, 0][v[0, 0]].numpy(), g[0, 0][v[0, 0]].numpy()
    if alignment == "median":
        expected = x * np.median(y) / np.median(x)
    elif alignment == "lstsq":
        s, t = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]
        expected = s * x + t
    else:  # the network output is depth (pred_space=depth): its inverse is fitted onto 1 / g
        s, t = np.linalg.lstsq(np.stack([1 / x, np.ones_like(x)], 1), 1 / y, rcond=None)[0]
        expected = 1 / np.maximum(s / x + t, 1e-3)
    assert np.allclose(pred[0, 0][v[0, 0]].numpy(), expected, rtol=1e-9)
    if alignment == "median":  # one point: scaled onto it exactly
        assert pred[1, 0, 10, 10].item() == pytest.approx(g[1, 0, 10, 10].item())


def test_baselines_on_sparse_folder_report_no_ssim(tmp_path):
    write_sparse_folder(tmp_path)
    dm = FolderDataModule(sparse="auto", root=str(tmp_path), height=24, width=32, num_workers=0)
    scores = baselines(dm, "val", ("constant",))
    assert "constant/val/rmse" in scores and math.isfinite(scores["constant/val/rmse"])
    assert not any(key.endswith("/ssim") for key in scores)


@pytest.mark.slow
def test_one_epoch_on_the_kitti_fixture_with_data_sparse_true(tmp_path):
    fixtures.write_kitti(tmp_path / "data")
    kitti = ["data=kitti", f"data.root={tmp_path / 'data'}", "data.sparse=true", "data.kb_crop=false"]
    kitti += ["data.train_list=eigen_train_files.txt", "data.test_list=eigen_test_files.txt", "data.val_fraction=0"]
    rest = [o for o in CLI if not o.startswith(("data=", "data.sparse", "data.val_fraction"))]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*kitti, *rest, f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}"])
    assert math.isfinite(train(cfg))
    metrics = (tmp_path / "metrics.json").read_text()
    assert '"test/rmse"' in metrics and '"test/ssim"' not in metrics
