"""The sample contract, the synthetic DataModule and its guards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from depthlab.data import SyntheticDataModule, finalize_sample
from depthlab.data.base import IMAGENET_MEAN, IMAGENET_STD
from depthlab.data.render import SceneRanges
from depthlab.utils.errors import DepthlabError


def tiny_dm(**kwargs) -> SyntheticDataModule:
    args = dict(num_train=6, num_val=4, num_test=4, height=32, width=48, batch_size=3, eval_batch_size=2)
    return SyntheticDataModule(**(args | kwargs))


def test_sample_contract_keys_shapes_dtypes():
    sample = tiny_dm().dataset("train")[0]
    assert sample["image"].shape == (3, 32, 48) and sample["image"].dtype == torch.float32
    assert sample["background"].shape == (3, 32, 48)
    assert sample["depth"].shape == (1, 32, 48) and sample["depth"].dtype == torch.float32
    assert sample["valid"].dtype == torch.bool and sample["valid"].shape == (1, 32, 48)
    assert sample["mask"].shape == (1, 32, 48) and set(sample["mask"].unique().tolist()) <= {0.0, 1.0}
    assert sample["intrinsics"].shape == (3, 3)
    assert sample["meta"] == {
        "dataset": "synthetic",
        "split": "train",
        "index": 0,
        "path": "",
        "relative": False,
        "camera": "pinhole",
        "sparse": False,
    }
    depth = sample["depth"][sample["valid"]]
    assert depth.min() > 0.3 and depth.max() <= 10.0
    assert (sample["depth"][~sample["valid"]] == 0).all()


def test_images_are_normalised_and_denormalise_back():
    dm = tiny_dm()
    raw = dm.dataset("val").raw[1]
    sample = dm.dataset("val")[1]
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    expected = (torch.from_numpy(raw["image"]).permute(2, 0, 1) - mean) / std
    torch.testing.assert_close(sample["image"], expected)
    torch.testing.assert_close(
        dm.denormalize(sample["image"][None])[0], torch.from_numpy(raw["image"]).permute(2, 0, 1)
    )


def test_invalid_depth_is_masked_and_zeroed():
    raw = {
        "image": np.zeros((2, 3, 3), np.float32),
        "depth": np.array([[np.inf, np.nan, 0.5], [12.0, 0.0, 3.0]], np.float32),
    }
    out = finalize_sample(raw, 1e-3, 10.0, torch.zeros(3, 1, 1), torch.ones(3, 1, 1))
    assert out["valid"].tolist() == [[[False, False, True], [False, False, True]]]
    assert out["depth"].tolist() == [[[0.0, 0.0, 0.5], [0.0, 0.0, 3.0]]]


def test_deterministic_per_split_and_index_and_splits_disjoint():
    a, b = tiny_dm(), tiny_dm()
    torch.testing.assert_close(a.dataset("train")[2]["depth"], b.dataset("train")[2]["depth"])
    train = [a.dataset("train")[i]["image"] for i in range(6)]
    others = [a.dataset(s)[i]["image"] for s in ("val", "test") for i in range(4)]
    assert not any(torch.equal(x, y) for x in train for y in others)
    assert not torch.equal(a.dataset("train")[0]["image"], tiny_dm(seed=1).dataset("train")[0]["image"])


def test_loaders_batch_the_contract():
    dm = tiny_dm()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (3, 3, 32, 48) and batch["valid"].dtype == torch.bool
    assert batch["meta"]["split"] == ["train"] * 3
    assert len(dm.val_dataloader()) == 2  # 4 val samples, eval batch 2, nothing dropped
    assert dm.sample_shape() == (32, 48)


def test_cache_returns_identical_samples():
    dm = tiny_dm(cache=True)
    first, again = dm.dataset("train")[3], dm.dataset("train")[3]
    assert torch.equal(first["image"], again["image"]) and 3 in dm.dataset("train").raw.cache


def test_prerender_fills_the_cache_with_the_lazily_rendered_samples():
    lazy, eager = tiny_dm(cache=True), tiny_dm(cache=True, prerender=2)
    eager.setup("fit")
    assert sorted(eager.dataset("train").raw.cache) == list(range(6)) and len(eager.dataset("val").raw.cache) == 4
    assert not lazy.dataset("train").raw.cache  # lazily: nothing rendered before the first access
    for i in range(6):
        a, b = lazy.dataset("train")[i], eager.dataset("train")[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["depth"], b["depth"])
        assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["intrinsics"], b["intrinsics"])


def test_a_fast_dev_run_renders_lazily_even_with_prerender():
    dm = tiny_dm(cache=True, prerender=2)
    dm.trainer = SimpleNamespace(fast_dev_run=1)
    assert not dm.dataset("train").raw.cache  # one batch is read: nothing rendered up front


PRERENDER_IGNORING_SIGTERM = """
import signal
from depthlab.data import SyntheticDataModule
signal.signal(signal.SIGTERM, lambda *_: None)  # what submitit does in its jobs; forked workers inherit it
dm = SyntheticDataModule(num_train=8, num_val=4, num_test=4, height=16, width=16, cache=True, prerender=2)
dm.setup("fit")
print(len(dm.dataset("train").raw.cache))
"""


def test_prerender_finishes_when_the_parent_ignores_sigterm():
    """Under submitit the pool's workers inherit an ignored SIGTERM; prerender must still return."""
    script = [sys.executable, "-c", PRERENDER_IGNORING_SIGTERM]
    done = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8"


def test_default_config_matches_the_renderer_defaults():
    """conf/data/synthetic.yaml and SceneRanges describe one default distribution."""
    conf = OmegaConf.load(Path(__file__).parents[1] / "conf/data/synthetic.yaml")
    assert SceneRanges.from_mapping(OmegaConf.to_container(conf.scene)) == SceneRanges()
    assert (conf.min_objects, conf.max_objects) == (1, 8)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"num_workers": -1}, "data.num_workers=-1 is negative"),
        ({"prerender": -1}, "data.prerender=-1 is negative"),
        ({"prerender": 2, "cache": False}, "data.prerender needs data.cache=true"),
        ({"batch_size": 0}, "data.batch_size=0"),
        ({"min_depth": 5.0, "max_depth": 1.0}, "data.min_depth=5.0"),
        ({"height": 4}, "data.height=4"),
    ],
)
def test_bad_settings_raise_one_line(kwargs, needle):
    with pytest.raises(DepthlabError, match=needle) as info:
        tiny_dm(**kwargs)
    assert "\n" not in str(info.value)


def test_empty_split_and_unknown_split_are_named():
    with pytest.raises(DepthlabError, match="the val split of data=synthetic is empty"):
        tiny_dm(num_val=0).dataset("val")
    with pytest.raises(DepthlabError, match="split='dev' is unknown"):
        tiny_dm().dataset("dev")


def test_scene_ranges_come_from_config_and_unknown_keys_are_named():
    dm = tiny_dm(scene={"camera_height": [1.0, 1.1], "haze_distance": None})
    assert dm.ranges.camera_height == (1.0, 1.1) and dm.ranges.haze_distance is None
    assert not torch.equal(dm.dataset("train")[0]["image"], tiny_dm().dataset("train")[0]["image"])
    with pytest.raises(DepthlabError, match="data.scene.fov is unknown; scene keys: camera_height"):
        tiny_dm(scene={"fov": [50, 60]})


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        ({"photo_textures": 2.0}, r"data.scene.photo_textures=2.0 is a probability; use 0 to 1"),
        ({"white_balance": -0.1}, r"data.scene.white_balance=-0.1 is a standard deviation; use >= 0"),
        ({"auto_exposure": [0.6, 0.3]}, r"data.scene.auto_exposure=\[0.6, 0.3\] is a \[min, max\] mean intensity"),
    ],
)
def test_appearance_knobs_outside_their_meaning_are_refused_in_one_line(scene: dict, message: str):
    with pytest.raises(DepthlabError, match=message):
        tiny_dm(scene=scene)
