"""The evaluation protocol: published crops, alignment modes, clipping, averaging, WHDR, flip TTA, configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REAL
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image
from reference import manifest_rows, np_metrics
from torch import nn

from depthlab.config_dir import CONF_DIR
from depthlab.metrics import DepthMetrics, per_image_metrics
from depthlab.metrics.crops import crop_box
from depthlab.metrics.protocol import EvalProtocol
from depthlab.metrics.whdr import whdr
from depthlab.models.module import DepthModule
from depthlab.models.tta import flip_average
from depthlab.ops.pairs import ordinal_labels, sample_random_pairs, take
from depthlab.utils.errors import DepthlabError

ERROR_KEYS = ("abs_rel", "sq_rel", "rmse", "mse", "rmse_log", "log10", "silog", "mae", "delta1", "delta2", "delta3")


def test_crop_indices_are_the_published_ones() -> None:
    assert crop_box("eigen_nyu", 480, 640) == (45, 471, 41, 601)
    # monodepth2 / BTS evaluators on a 375x1242 KITTI frame: int(fraction * size)
    assert crop_box("garg", 375, 1242) == (153, 371, 44, 1197)
    assert crop_box("eigen_kitti", 375, 1242) == (124, 342, 44, 1197)
    assert crop_box("eigen_nyu", 240, 320) == (22, 235, 20, 300)  # same fractions on a half-size frame
    with pytest.raises(DepthlabError, match="crop='nyu' is unknown; use one of eigen_nyu"):
        crop_box("nyu", 480, 640)


# ---------------------------------------------------------------- independent NumPy reference on real pairs

PUBLISHED = {  # (top, bottom, left, right), written out, not computed by the code under test
    ("eigen_nyu", 480, 640): (45, 471, 41, 601),
    ("garg", 375, 1242): (153, 371, 44, 1197),
    ("eigen_kitti", 375, 1242): (124, 342, 44, 1197),
}


def np_align(p: np.ndarray, g: np.ndarray, mode: str) -> np.ndarray:
    """FIELD_NOTES alignment on the valid pixels (1-D arrays)."""
    if mode == "median":
        return p * np.median(g) / np.median(p)
    if mode == "lstsq":
        (s, t), *_ = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), g, rcond=None)
        return s * p + t
    if mode == "lstsq_disparity":
        x = 1 / p
        (s, t), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), 1 / g, rcond=None)
        return 1 / np.maximum(s * x + t, 1e-3)
    return p


ROWS = manifest_rows()
needs_real = pytest.mark.skipif(not ROWS, reason=f"real RGB-D samples not found at {REAL}")


def _pair(row: dict[str, str]) -> tuple[np.ndarray, np.ndarray, float, list[str]]:
    """(target metres, a perturbed relative-looking prediction, max depth, crops to try) of one real pair."""
    target = np.array(Image.open(REAL / row["depth"])).astype(np.float64) / float(row["depth_scale"])
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.1, size=target.shape))
    kitti = row["set"].startswith("kitti")
    crops = ["garg", "eigen_kitti"] if kitti else ["eigen_nyu"]
    return target, 0.5 * target * noise + 0.3, 80.0 if kitti else 10.0, crops


@needs_real
@pytest.mark.parametrize("row", ROWS, ids=[r["depth"] for r in ROWS])
def test_protocol_metrics_match_numpy_on_real_pairs(row: dict[str, str]) -> None:
    target, pred, max_depth, crops = _pair(row)
    h, w = target.shape
    t = torch.from_numpy(target)[None, None]
    for crop in (None, *crops):
        box = np.zeros_like(target, dtype=bool)
        top, bottom, left, right = PUBLISHED[(crop, h, w)] if crop else (0, h, 0, w)
        box[top:bottom, left:right] = True
        v = box & np.isfinite(target) & (target > 1e-3) & (target < max_depth)
        for mode in ("none", "median", "lstsq", "lstsq_disparity"):
            protocol = EvalProtocol(max_depth=max_depth, crop=crop, alignment=mode)
            scored = protocol(torch.from_numpy(pred)[None, None], t, torch.ones_like(t, dtype=torch.bool))
            assert int(scored[2].sum()) == int(v.sum()), (crop, mode)
            ours = per_image_metrics(*scored, ssim=False)  # SSIM is not part of the reference; it is the slow one
            ref = np_metrics(np_align(pred[v], target[v], mode), target[v])
            for key in ERROR_KEYS:
                assert ours[key].item() == pytest.approx(ref[key], rel=1e-6, abs=1e-9), (crop, mode, key)


@needs_real
def test_per_pixel_average_pools_the_pixels_of_all_images() -> None:
    pairs = [_pair(row) for row in ROWS if row["set"] == "tum"]
    target = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    pred = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]
    valid = (target > 1e-3) & (target < 10.0)
    for average in ("per_pixel", "per_image"):
        metric = DepthMetrics(average=average, ssim_range=10.0)
        metric.update(pred[:1], target[:1], valid[:1])  # two updates: the states must add up
        metric.update(pred[1:], target[1:], valid[1:])
        ours = metric.compute()
        if average == "per_pixel":
            ref = np_metrics(pred.numpy()[valid.numpy()], target.numpy()[valid.numpy()])
        else:
            arrays = zip(pred.numpy(), target.numpy(), valid.numpy(), strict=True)
            per = [np_metrics(p[v], g[v]) for p, g, v in arrays]
            ref = {k: float(np.mean([r[k] for r in per])) for k in ERROR_KEYS}
        for key in ERROR_KEYS:
            assert ours[key].item() == pytest.approx(ref[key], rel=1e-6), (average, key)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert DepthMetrics(average="per_pixel").compute()["rmse"].isnan()


def test_clipping_maps_nan_and_inf_to_the_depth_range() -> None:
    pred = torch.tensor([[[[float("nan"), float("inf"), -1.0, 50.0, 3.0]]]])
    target = torch.full_like(pred, 2.0)
    scored, _, _ = EvalProtocol(min_depth=0.1, max_depth=10.0, clip=True)(pred, target, target > 0)
    assert scored.flatten().tolist() == pytest.approx([0.1, 10.0, 0.1, 10.0, 3.0])


def test_alignments_recover_an_affine_prediction_and_resize_to_the_target() -> None:
    gen = torch.Generator().manual_seed(0)
    target = 1 + 5 * torch.rand(2, 1, 8, 12, generator=gen, dtype=torch.float64)
    valid = torch.ones_like(target, dtype=torch.bool)
    cases = {"median": target * 3.0, "lstsq": 2 * target - 0.5, "lstsq_disparity": 1 / (0.5 / target + 0.1)}
    for mode, pred in cases.items():
        scored, _, _ = EvalProtocol(alignment=mode)(pred, target, valid)
        assert torch.allclose(scored, target, rtol=1e-9), mode
    disparity = 4 / target + 1
    scored, _, _ = EvalProtocol(alignment="lstsq_disparity", pred_space="disparity")(disparity, target, valid)
    assert torch.allclose(scored, target, rtol=1e-9)
    small = torch.full((2, 1, 4, 6), 2.0, dtype=torch.float64)
    assert EvalProtocol()(small, target, valid)[0].shape == target.shape


def test_whdr_matches_a_direct_count_and_orders() -> None:
    gen = torch.Generator().manual_seed(1)
    target = 1 + 5 * torch.rand(2, 1, 10, 10, generator=gen, dtype=torch.float64)
    valid = torch.rand(target.shape, generator=gen) > 0.3
    assert whdr(target * 7, target, valid).tolist() == [0.0, 0.0]  # scale keeps every ordinal label
    assert (whdr(1 / target, target, valid) > 0.9).all()  # reversed order: almost every pair wrong
    pred = target * torch.exp(0.1 * torch.randn(target.shape, generator=gen, dtype=torch.float64))
    i, j = sample_random_pairs(valid, 500, torch.Generator().manual_seed(3))
    counted = (take(valid, i) & take(valid, j) & (i != j)).numpy()
    g_lab = ordinal_labels(take(target, i), take(target, j), 0.03).numpy()
    p_lab = ordinal_labels(take(pred, i), take(pred, j), 0.03).numpy()
    expected = [(g_lab[b] != p_lab[b])[counted[b]].mean() for b in range(2)]
    assert whdr(pred, target, valid, n_pairs=500, seed=3).tolist() == pytest.approx(expected)


# ---------------------------------------------------------------- configs and the LightningModule


def compose_train(*overrides: str, tmp_path: Path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", *overrides])


def test_protocol_defaults_follow_the_dataset(tmp_path: Path) -> None:
    cfg = compose_train(tmp_path=tmp_path)
    protocol, metrics = instantiate(cfg.protocol), instantiate(cfg.metrics)
    assert (protocol.alignment, protocol.crop, protocol.max_depth, metrics.whdr) == ("none", None, 10.0, False)
    relative = compose_train("data.relative=true", "data.eval_crop=eigen_nyu", tmp_path=tmp_path)
    protocol, metrics = instantiate(relative.protocol), instantiate(relative.metrics)
    assert (protocol.alignment, protocol.crop, metrics.whdr) == ("lstsq", "eigen_nyu", True)
    assert metrics.keys[-1] == "whdr"
    override = compose_train(
        "data.relative=true", "protocol.alignment=median", "protocol.average=per_pixel", tmp_path=tmp_path
    )
    assert instantiate(override.protocol).alignment == "median"
    assert instantiate(override.metrics).average == "per_pixel"


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF_DIR / "protocol").glob("*.yaml")))
def test_every_protocol_option_instantiates(option: str, tmp_path: Path) -> None:
    protocol = instantiate(compose_train(f"protocol={option}", tmp_path=tmp_path).protocol)
    assert isinstance(protocol, EvalProtocol)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alignment": "scale"}, "protocol.alignment"),
        ({"crop": "eigen"}, "protocol.crop"),
        ({"pred_space": "log"}, "protocol.pred_space"),
        ({"average": "per_batch"}, "protocol.average"),
        ({"min_depth": 5.0, "max_depth": 1.0}, "protocol.min_depth"),
        ({"whdr": True, "whdr_pairs": 0}, "protocol.whdr_pairs"),
    ],
)
def test_bad_protocol_values_are_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(DepthlabError, match=message):
        EvalProtocol(**kwargs)


class LeftRight(nn.Module):
    """Depth = 1 + the image's first channel: mirrors exactly with the input, so flip TTA is visible."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        ramp = torch.linspace(0, 1, image.shape[-1]).expand_as(image[:, :1])
        return {"depth": 1 + image[:, :1] + ramp}


def test_module_applies_the_protocol_and_flip_tta_on_val_only() -> None:
    protocol = EvalProtocol(alignment="median", flip=True)
    module = DepthModule(LeftRight(), nn.Identity(), DepthMetrics(), optimizer=torch.optim.SGD, protocol=protocol)
    image = torch.rand(2, 3, 6, 8)
    target = 2 + torch.rand(2, 1, 6, 8)
    batch = {"image": image, "depth": target, "valid": torch.ones_like(target, dtype=torch.bool)}
    outputs = module(batch)
    val_pred, _, _ = module.scored(outputs, batch, "val")
    flipped = flip_average(module, batch)["depth"]
    assert torch.allclose(val_pred, protocol(flipped, target, batch["valid"])[0])
    train_pred, _, _ = module.scored(outputs, batch, "train")
    assert torch.allclose(train_pred, protocol(outputs["depth"], target, batch["valid"])[0])
    assert not torch.allclose(val_pred, train_pred)
