"""The default synthetic benchmark offers no per-pixel shortcut: one pixel's colour and position do not give depth.

The hazy distribution (experiment=synthetic_hazy, the former default) is the control: there the same small
per-pixel regressor reads depth off the fog, so this test would catch the shortcut coming back.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from depthlab.config_dir import CONF_DIR
from depthlab.data.synthetic import SyntheticDataModule
from depthlab.metrics.baseline import pixel_regressor, row_median, score


def scene_module(scene: dict) -> SyntheticDataModule:
    """A small sample of the default data config's scenes, at 48x64 (the scene ranges are resolution-free)."""
    conf = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "data" / "synthetic.yaml"))
    return SyntheticDataModule(
        num_train=80,
        num_val=40,
        num_test=1,
        height=48,
        width=64,
        eval_batch_size=20,
        min_depth=conf["min_depth"],
        max_depth=conf["max_depth"],
        scene=conf["scene"] | scene,
    )


def pixel_delta1(dm: SyntheticDataModule) -> float:
    """val delta1 of the per-pixel colour + position regressor, fitted on 60k train pixels."""
    return score(pixel_regressor(dm, pixels=60_000), dm, "val")["delta1"]


def test_the_default_scenes_per_pixel_baseline_stays_low_and_the_hazy_control_does_not():
    default = scene_module({})
    hazy = OmegaConf.load(CONF_DIR / "experiment" / "synthetic_hazy.yaml").data.scene
    control = scene_module(OmegaConf.to_container(hazy))
    shortcut, honest = pixel_delta1(control), pixel_delta1(default)
    assert shortcut > 0.8  # the fog is invertible per pixel: the former default's shortcut
    assert honest < 0.65  # 0.463 on the full default val split (README): position carries a prior only
    # and no better than the camera geometry alone by much: colour adds little
    assert honest < score(row_median(default), default, "val")["delta1"] + 0.1
