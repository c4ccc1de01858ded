"""Depth metrics: hand-computed values, an independent NumPy reference on real RGB-D pairs, streaming sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import REAL
from PIL import Image
from reference import manifest_rows, np_metrics

from depthlab.metrics import DEPTH_METRIC_KEYS, DepthMetrics, depth_metrics, per_image_metrics

LN = math.log
L10 = math.log10


# ---------------------------------------------------------------- hand-computed values on 2x2 images

# image 0: g = [1, 2, 4, 5], p = [1, 2.8, 2, 9], all valid; ratios 1, 1.4, 2, 1.8
# image 1: g = [2, 3, -, 6], p = [1, 3, -1, 6], pixel 2 invalid (its pred -1 is ignored); ratios 2, 1, 1
# image 2: g = 4 everywhere, p = [5, 4, 4, 0]: ratio exactly 1.25 (delta1 is strict) and pred 0 -> 1e-6
# image 3: only 2 valid pixels < min_valid = 3 -> NaN
TARGET = [[[1, 2], [4, 5]], [[2, 3], [0, 6]], [[4, 4], [4, 4]], [[3, 0], [0, 3]]]
PRED = [[[1, 2.8], [2, 9]], [[1, 3], [-1, 6]], [[5, 4], [4, 0]], [[3, 1], [1, 3]]]
_A, _B = LN(1.25), LN(1e-6 / 4)
EXPECTED = {
    "abs_rel": [(0 + 0.8 / 2 + 2 / 4 + 4 / 5) / 4, (1 / 2) / 3, (1 / 4 + 4 / 4) / 4],
    "sq_rel": [(0.64 / 2 + 4 / 4 + 16 / 5) / 4, (1 / 2) / 3, (1 / 4 + 16 / 4) / 4],
    "rmse": [math.sqrt((0.64 + 4 + 16) / 4), math.sqrt(1 / 3), math.sqrt(17 / 4)],
    "mse": [(0.64 + 4 + 16) / 4, 1 / 3, 17 / 4],
    "rmse_log": [
        math.sqrt((LN(1.4) ** 2 + LN(2) ** 2 + LN(1.8) ** 2) / 4),
        LN(2) / math.sqrt(3),
        math.sqrt((_A**2 + _B**2) / 4),
    ],
    "log10": [(L10(1.4) + L10(2) + L10(1.8)) / 4, L10(2) / 3, (L10(1.25) + abs(L10(2.5e-7))) / 4],
    "silog": [
        100 * math.sqrt((LN(1.4) ** 2 + LN(2) ** 2 + LN(1.8) ** 2) / 4 - (LN(1.26) / 4) ** 2),
        100 * LN(2) * math.sqrt(2) / 3,
        100 * math.sqrt((_A**2 + _B**2) / 4 - ((_A + _B) / 4) ** 2),
    ],
    "mae": [6.8 / 4, 1 / 3, 5 / 4],
    "delta1": [1 / 4, 2 / 3, 2 / 4],
    "delta2": [2 / 4, 2 / 3, 3 / 4],
    "delta3": [3 / 4, 2 / 3, 3 / 4],
}


def _bchw(rows: list) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)[:, None]


def test_per_image_metrics_match_hand_computed_values() -> None:
    target, pred = _bchw(TARGET), _bchw(PRED)
    out = per_image_metrics(pred, target, target > 0, min_valid=3)
    assert set(out) == set(DEPTH_METRIC_KEYS)
    for key, expected in EXPECTED.items():
        values = out[key]
        assert values.shape == (4,) and values.dtype == torch.float64
        assert values[:3].tolist() == pytest.approx(expected, rel=1e-12), key
    assert all(torch.isnan(out[key][3]) for key in DEPTH_METRIC_KEYS)
    assert all(torch.isfinite(out[key][:3]).all() for key in DEPTH_METRIC_KEYS)


def test_depth_metrics_averages_hand_values_over_counted_images() -> None:
    out = depth_metrics(np.array(PRED), np.array(TARGET), min_valid=3)
    for key, expected in EXPECTED.items():
        assert out[key] == pytest.approx(sum(expected) / 3, rel=1e-12), key


def test_ssim_of_constant_images_matches_closed_form() -> None:
    # constant maps: sigma = 0, so SSIM = (2xy + C1) / (x^2 + y^2 + C1), C1 = 1e-4, x, y scaled by the range
    target = torch.full((1, 1, 12, 12), 4.0, dtype=torch.float64)
    pred = torch.full_like(target, 2.0)
    valid = torch.ones_like(target, dtype=torch.bool)
    default_range = per_image_metrics(pred, target, valid)["ssim"]  # range = max target = 4 -> x .5, y 1
    assert default_range.item() == pytest.approx(1.0001 / 1.2501, rel=1e-9)
    range8 = per_image_metrics(pred, target, valid, ssim_range=8.0)["ssim"]  # x .25, y .5
    assert range8.item() == pytest.approx(0.2501 / 0.3126, rel=1e-9)


def test_ssim_zeroes_invalid_pixels_of_both_maps() -> None:
    gen = torch.Generator().manual_seed(0)
    target = 1 + 5 * torch.rand(2, 1, 20, 24, generator=gen, dtype=torch.float64)
    valid = torch.rand(target.shape, generator=gen) > 0.3
    valid[1] = False
    valid[1, :, :3, :3] = True  # 9 valid pixels < 10: skipped
    pred = torch.where(valid, target, torch.full_like(target, 50.0))  # equal where valid, garbage elsewhere
    ssim = per_image_metrics(pred, target, valid)["ssim"]
    assert ssim[0].item() == pytest.approx(1.0, abs=1e-12)
    assert torch.isnan(ssim[1])
    worse = per_image_metrics(pred * 1.3, target, valid, ssim_range=6.0)["ssim"][0]
    assert -1.0 <= worse.item() < 0.999


def test_depth_metrics_accepts_numpy_and_torch_layouts() -> None:
    gen = np.random.default_rng(1)
    target = gen.uniform(0.5, 12.0, size=(3, 8, 9))
    pred = target * gen.uniform(0.8, 1.2, size=target.shape)
    valid = gen.random(target.shape) > 0.2
    ref = depth_metrics(pred, target, valid, max_depth=10.0)
    as_tensor = depth_metrics(
        torch.from_numpy(pred)[:, None],
        torch.from_numpy(target)[:, None],
        torch.from_numpy(valid)[:, None],
        max_depth=10.0,
    )
    assert as_tensor == pytest.approx(ref, rel=1e-12)
    single = depth_metrics(pred[0], target[0], valid[0], max_depth=10.0)
    manual = per_image_metrics(
        *(torch.from_numpy(a[:1])[:, None] for a in (pred, target)),
        torch.from_numpy(valid[:1] & (target[:1] < 10.0))[:, None],
        ssim_range=10.0,
    )
    assert single == pytest.approx({k: v.item() for k, v in manual.items()}, rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(np.ones((1, 2, 4, 4)), np.ones((1, 2, 4, 4)))


# ------------------------------------------------------------ real pairs vs an independent NumPy reference


def numpy_reference(pred: np.ndarray, target: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """FIELD_NOTES section 1, literally, on one image's valid pixels."""
    return np_metrics(pred[valid], target[valid])


def _load_depth(row: dict[str, str], stride: int = 2) -> np.ndarray:
    """Depth in metres; every `stride`-th row and column (still real sensor values) keeps the suite fast."""
    depth = np.array(Image.open(REAL / row["depth"])).astype(np.float64) / float(row["depth_scale"])
    return depth[::stride, ::stride]


def _max_depth(row: dict[str, str]) -> float:
    return 80.0 if row["set"].startswith("kitti") else 10.0


def _valid(target: np.ndarray, max_depth: float) -> np.ndarray:
    return np.isfinite(target) & (target > 1e-3) & (target < max_depth)


needs_real = pytest.mark.skipif(not manifest_rows(), reason=f"real RGB-D samples not found at {REAL}")
ROWS = manifest_rows() or [{"depth": "missing"}]


@needs_real
@pytest.mark.parametrize("row", ROWS, ids=[r["depth"] for r in ROWS])
def test_depth_metrics_match_numpy_reference_on_real_pair(row: dict[str, str]) -> None:
    target, max_depth = _load_depth(row), _max_depth(row)
    valid = _valid(target, max_depth)
    assert valid.sum() >= 10
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.15, size=target.shape))
    perturbed = {
        "noise": target * noise,
        "scale": target * 1.1,
        "offset": target + 0.25,
        "negative_offset": target - 0.8,
    }  # pred <= 0 on near pixels: floored at 1e-6 by both
    for name, pred in perturbed.items():
        ours = depth_metrics(pred, target, max_depth=max_depth)
        ref = numpy_reference(pred, target, valid)
        for key, value in ref.items():
            # silog is x100 and ~0 for a pure scale, where the literal formula cancels: absolute tolerance
            tol = pytest.approx(value, rel=1e-6, abs=1e-6 if key == "silog" else 1e-12)
            assert ours[key] == tol, (name, key)
        assert -1.0 <= ours["ssim"] < 1.0


@needs_real
def test_delta_thresholds_on_real_depth() -> None:
    row = manifest_rows()[0]
    target = _load_depth(row)
    cases = [(1.2, (1, 1, 1)), (1.3, (0, 1, 1)), (1.6, (0, 0, 1)), (2.0, (0, 0, 0)), (1 / 1.3, (0, 1, 1))]
    for scale, expected in cases:
        out = depth_metrics(target * scale, target, max_depth=10.0)
        assert (out["delta1"], out["delta2"], out["delta3"]) == expected, scale


@needs_real
def test_per_image_average_differs_from_global_pixel_average() -> None:
    rows = {r["depth"]: r for r in manifest_rows()}
    targets = [_load_depth(rows["nyu_sync/sync_depth_00000.png"]), _load_depth(rows["kinect/1_depth.pgm"])]
    valids = [_valid(t, 10.0) for t in targets]
    assert valids[0].sum() != valids[1].sum()
    preds = [targets[0] * 1.1, targets[1] * 1.4]
    ours = depth_metrics(np.stack(preds), np.stack(targets), max_depth=10.0)
    refs = [numpy_reference(p, t, v) for p, t, v in zip(preds, targets, valids, strict=True)]
    global_ref = numpy_reference(
        np.concatenate([p[v] for p, v in zip(preds, valids, strict=True)]),
        np.concatenate([t[v] for t, v in zip(targets, valids, strict=True)]),
        np.ones(int(valids[0].sum() + valids[1].sum()), dtype=bool),
    )
    for key in ("abs_rel", "rmse", "mae"):
        assert ours[key] == pytest.approx((refs[0][key] + refs[1][key]) / 2, rel=1e-6), key
        assert abs(ours[key] - global_ref[key]) > 1e-3 * abs(global_ref[key]), key


# ---------------------------------------------------------------- streaming metric


def _random_batches() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    batches = []
    for size in (2, 3, 1):
        target = 0.5 + 9 * torch.rand(size, 1, 16, 16, generator=gen)
        pred = target * torch.exp(0.2 * torch.randn(target.shape, generator=gen))
        pred[:, :, 0, :2] = torch.tensor([0.0, -1.0])  # pred <= 0 stays finite
        valid = torch.rand(target.shape, generator=gen) > 0.25
        batches.append((pred, target, valid))
    batches[1][2][1] = False
    batches[1][2][1, :, 0, :5] = True  # 5 valid pixels < min_valid: skipped
    return batches


def test_depth_metrics_streaming_equals_functional_on_concatenation() -> None:
    batches = _random_batches()
    metric = DepthMetrics(min_valid=10, ssim_range=10.0)
    for pred, target, valid in batches:
        metric.update(pred, target, valid)
    streamed = {k: v.item() for k, v in metric.compute().items()}
    pred, target, valid = (torch.cat(parts) for parts in zip(*batches, strict=True))
    expected = depth_metrics(pred, target, valid, max_depth=10.0, min_valid=10)
    assert streamed == pytest.approx(expected, rel=1e-9)
    assert all(math.isfinite(v) for v in streamed.values())
    assert metric.counts.tolist() == [5.0] * len(DEPTH_METRIC_KEYS)  # 6 images, 1 skipped
    assert metric.sums.dtype == torch.float64 and metric.counts.dtype == torch.float64


def test_depth_metrics_states_merge_like_ddp_ranks() -> None:
    batches = _random_batches()
    whole, rank0, rank1 = (DepthMetrics(ssim_range=10.0) for _ in range(3))
    for i, batch in enumerate(batches):
        whole.update(*batch)
        (rank0 if i % 2 else rank1).update(*batch)
    rank0.merge_state(rank1)
    merged, expected = rank0.compute(), whole.compute()
    assert {k: v.item() for k, v in merged.items()} == pytest.approx({k: v.item() for k, v in expected.items()})
    assert whole._reductions["sums"] is whole._reductions["counts"]  # both use the "sum" reduction
    assert DepthMetrics.full_state_update is False and DepthMetrics.is_differentiable is False


def test_depth_metrics_without_counted_images_is_nan() -> None:
    metric = DepthMetrics()
    target = torch.ones(1, 1, 4, 4)
    metric.update(target, target, torch.zeros_like(target, dtype=torch.bool))
    assert all(torch.isnan(v) for v in metric.compute().values())
    metric.reset()
    metric.update(target, target, torch.ones_like(target, dtype=torch.bool))
    assert metric.compute()["abs_rel"].item() == 0.0
