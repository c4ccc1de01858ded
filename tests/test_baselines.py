"""No-context baselines on hand-made splits: their predictions equal the hand-computed ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthlab.metrics.baseline import baselines, constant, pixel_regressor, row_median, score, split_median
from depthlab.metrics.protocol import EvalProtocol


class Splits:
    """The few DataModule members the baselines read: dataset(split), denormalize, max_depth, eval_batch_size."""

    max_depth, eval_batch_size = 10.0, 2

    def __init__(self, samples: dict[str, list[dict]]) -> None:
        self.samples = samples

    def dataset(self, split: str) -> list[dict]:
        return self.samples[split]

    def denormalize(self, image: torch.Tensor) -> torch.Tensor:
        return image.clamp(0, 1)  # mean 0, std 1


def sample(depth: torch.Tensor, image: torch.Tensor | None = None) -> dict:
    """One [1, H, W] depth sample (0 = invalid) with a [3, H, W] image."""
    image = torch.zeros(3, *depth.shape[-2:]) if image is None else image
    return {"image": image, "depth": depth, "valid": depth > 0}


def test_constant_and_row_median_are_the_train_medians():
    rows = [torch.tensor([[[1.0, 2.0], [5.0, 0.0]]]), torch.tensor([[[3.0, 4.0], [6.0, 7.0]]])]
    dm = Splits({"train": [sample(d) for d in rows], "val": [sample(rows[1])]})
    batch = {"depth": torch.ones(1, 1, 2, 2)}
    assert torch.equal(constant(dm)(batch), torch.full((1, 1, 2, 2), 4.0))  # median of 1 2 5 3 4 6 7
    # row 0: median of 1 2 3 4 = 2.5 (np.median's mean of the middle two); row 1: 5 6 7 (the hole left out)
    expected = torch.tensor([[[[2.5, 2.5], [6.0, 6.0]]]])
    assert torch.allclose(row_median(dm)(batch), expected)
    assert torch.allclose(row_median(dm)({"depth": torch.ones(1, 1, 4, 3)})[0, 0, :, 0], torch.tensor([2.5, 2.5, 6, 6]))


def test_perfect_predictions_score_perfectly_and_baselines_are_keyed_by_name():
    depth = torch.linspace(1, 8, 16).view(1, 4, 4)
    dm = Splits({"train": [sample(depth)], "val": [sample(depth)]})
    metrics = score(lambda batch: batch["depth"].clone(), dm)
    assert metrics["delta1"] == 1.0 and metrics["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    keys = baselines(dm, names=("constant", "row_median"))
    assert {"constant/val/delta1", "row_median/val/rmse"} <= set(keys)


def test_the_pixel_regressor_learns_depth_encoded_in_colour_and_nothing_from_colour_alone_otherwise():
    gen = torch.Generator().manual_seed(0)

    def coloured(n: int, encoded: bool) -> list[dict]:
        out = []
        for _ in range(n):
            image = torch.rand(3, 8, 8, generator=gen)
            depth = 1 + 4 * image[:1] if encoded else 1 + 4 * torch.rand(1, 8, 8, generator=gen)
            out.append(sample(depth, image))
        return out

    haze = Splits({"train": coloured(20, True), "val": coloured(4, True)})
    noise = Splits({"train": coloured(20, False), "val": coloured(4, False)})
    assert score(pixel_regressor(haze, pixels=5000), haze)["delta1"] > 0.97  # the shortcut a hazy scene offers
    assert score(pixel_regressor(noise, pixels=5000), noise)["delta1"] < 0.6  # nothing to read from one pixel


def test_under_median_alignment_every_constant_scores_the_per_image_median_fill():
    """eval.py's "(constant)" rows: the split's median through the protocol equals filling each image with its
    own valid median (any constant would), and it is scored by the same protocol as the model."""
    gen = torch.Generator().manual_seed(1)
    depths = [1 + 5 * torch.rand(1, 6, 6, generator=gen) * (torch.rand(1, 6, 6, generator=gen) > 0.2) for _ in range(3)]
    dm = Splits({"val": [sample(d) for d in depths]})
    protocol = EvalProtocol(min_depth=0.1, max_depth=10.0, alignment="median")
    scored = score(split_median(dm, "val"), dm, "val", protocol)
    assert scored == pytest.approx(score(lambda b: torch.full_like(b["depth"], 3.7), dm, "val", protocol), rel=1e-6)
    filled = []
    for d in depths:
        fill = torch.full_like(d, float(np.median(d[d > 0].numpy())))  # numpy: the mean of the middle two
        filled.append({"image": torch.zeros(3, 6, 6), "depth": d, "valid": d > 0, "fill": fill})
    by_hand = score(lambda batch: batch["fill"], Splits({"val": filled}), "val")
    assert scored == pytest.approx(by_hand, rel=1e-6) and 0 < scored["delta1"] < 1
    raw = score(split_median(dm, "val"), dm, "val")  # without the protocol: one constant for all images
    assert raw["abs_rel"] != pytest.approx(scored["abs_rel"])


def test_on_a_tiny_synthetic_split_the_baselines_equal_numpy_medians():
    """constant and row_median on rendered scenes: np.median of the valid train depths, overall and per row."""
    from depthlab.data.synthetic import SyntheticDataModule

    dm = SyntheticDataModule(num_train=3, num_val=2, num_test=1, height=16, width=24, eval_batch_size=2)
    train = [dm.dataset("train")[i] for i in range(3)]
    depth = np.stack([s["depth"][0].numpy() for s in train])
    valid = np.stack([s["valid"][0].numpy() for s in train])
    batch = {"depth": torch.zeros(1, 1, 16, 24)}
    assert constant(dm)(batch)[0, 0, 0, 0].item() == pytest.approx(float(np.median(depth[valid])), rel=1e-6)
    rows = [np.median(depth[:, r][valid[:, r]]) for r in range(16)]
    assert row_median(dm)(batch)[0, 0, :, 0].numpy() == pytest.approx(np.array(rows, dtype=np.float32), rel=1e-6)
    val = torch.stack([dm.dataset("val")[i]["depth"] for i in range(2)])
    metrics = score(constant(dm), dm, "val")
    # per-image abs_rel by hand from the val depths and the one constant
    by_hand = []
    for d in val:
        g = d[d > 0].double()
        by_hand.append(float(((np.median(depth[valid]) - g).abs() / g).mean()))
    assert metrics["abs_rel"] == pytest.approx(np.mean(by_hand), rel=1e-5)
