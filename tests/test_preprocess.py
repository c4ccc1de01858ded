"""Training and predict see the same pixels: one file through the val transform and through predict's preprocessing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import Tensor, nn

from depthlab.data.folder import FolderDataModule
from depthlab.data.pixels import read_rgb
from depthlab.inference.predictor import PredictOptions, load_batch, plan
from depthlab.inference.runners import TorchRunner
from depthlab.inference.wrapper import wrap
from depthlab.utils.errors import DepthlabError

H, W = 45, 61  # odd sizes: every resize below really resamples
TRAIN = (32, 48)
MEAN, STD = (0.45, 0.4, 0.35), (0.2, 0.25, 0.3)
RNG = np.random.default_rng(7)
STORED = {  # what cv2 writes (BGR order); the 16-bit images stay below half range, so a per-image max would show
    "rgb8": RNG.integers(0, 256, (H, W, 3), dtype=np.uint8),
    "rgb16": RNG.integers(0, 30000, (H, W, 3), dtype=np.uint16),
    "rgba": RNG.integers(0, 256, (H, W, 4), dtype=np.uint8),
    "grey": RNG.integers(0, 256, (H, W), dtype=np.uint8),
    "grey16": RNG.integers(0, 20000, (H, W), dtype=np.uint16),
}


class Recorder(nn.Module):
    """A network that keeps the (normalised) input it was given."""

    output_stride = 16
    inputs = ("image",)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        self.seen = image.clone()
        return {"depth": image[:, :1] + 1.0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixels")
    (root / "rgb").mkdir()
    (root / "depth").mkdir()
    for name, array in STORED.items():
        assert cv2.imwrite(str(root / "rgb" / f"{name}.png"), array)
        np.save(root / "depth" / f"{name}.npy", np.full((H, W), 2.0, np.float32))
    (root / "val.txt").write_text("\n".join(STORED) + "\n")
    return root


def test_decoder_divides_by_the_dtype_maximum_and_makes_rgb(folder):
    for name, stored in STORED.items():
        rgb = read_rgb(folder / "rgb" / f"{name}.png")
        top = np.float32(np.iinfo(stored.dtype).max)
        expected = np.repeat(stored[..., None], 3, -1) if stored.ndim == 2 else stored[..., 2::-1]
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.float32, name
        np.testing.assert_array_equal(rgb, expected.astype(np.float32) / top, err_msg=name)
    assert read_rgb(folder / "rgb" / "rgb16.png").max() < 0.46  # 30000 / 65535, not stretched to 1
    cv2.imwrite(str(folder / "float.tif"), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(DepthlabError, match="float.tif stores float32 pixels"):
        read_rgb(folder / "float.tif")


@pytest.mark.parametrize("resolution, size", [("train", TRAIN), ([64, 32], (64, 32))], ids=["train-size", "64x32"])
def test_predict_feeds_the_network_exactly_the_val_pixels(folder, resolution, size):
    datamodule = FolderDataModule(
        root=str(folder), height=size[0], width=size[1], val_list="val.txt", mean=MEAN, std=STD
    )
    val = datamodule.dataset("val")
    config = {"data": {"height": TRAIN[0], "width": TRAIN[1], "mean": list(MEAN), "std": list(STD)}}
    recorder = Recorder()
    runner = TorchRunner(*wrap(recorder, config))
    items = plan([folder / "rgb" / f"{name}.png" for name in STORED], runner.spec, PredictOptions(resolution), None)
    batch, _ = load_batch(items, runner.spec)
    runner(batch)
    assert recorder.seen.shape == (len(STORED), 3, *size)
    for i, name in enumerate(STORED):
        sample = val[i]
        assert sample["meta"]["path"].endswith(f"{name}.png")
        assert torch.equal(recorder.seen[i], sample["image"]), name
