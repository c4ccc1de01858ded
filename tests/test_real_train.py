"""One epoch of training (fit, validate, test) through `train()` on a tiny fixture of every real dataset."""

from __future__ import annotations

import math

import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir

from depthlab.cli.train import train
from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures

pytestmark = pytest.mark.slow
RUN = [
    "data.height=32",
    "data.width=32",
    "data.batch_size=2",
    "data.eval_batch_size=2",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "logger=csv",
    "baseline=false",
]
SMALL_SMP = "model.arch_kwargs.decoder_channels=[16,16,16,8,8]"
CASES = {
    "nyuv2": ("nyuv2", ["data.train_list=train.txt", "data.test_list=test.txt"]),
    "nyuv2_mat": ("nyuv2", ["data.format=mat"]),
    "nyuv2_csv": ("nyuv2", ["data.format=csv", "loss=ssim_l1_edge"]),
    "diode": ("diode", ["data.scenes=all", "data.max_depth=300", "loss=ssim_l1_edge"]),
    "kitti": (
        "kitti",
        [
            "data.kb_crop=false",
            "data.train_list=eigen_train_files.txt",
            "data.test_list=eigen_test_files.txt",
            "data.val_fraction=0",
        ],
    ),
    "redweb": ("redweb", ["augment=strong"]),
    "hrwsi": ("hrwsi", ["data.gpu_aug=true"]),
    "modest": ("modest", []),
    "modest_depth_mask": ("modest", ["task=depth_mask"]),
    "modest_depthmasknet": ("modest", ["task=depth_mask", "model=depthmasknet", "loss=bce_dice_ssim"]),
    "folder": ("folder", ["data.val_fraction=0.2"]),
}


@pytest.mark.parametrize("fixture", list(CASES))
def test_one_epoch_on_each_fixture_dataset(fixture, tmp_path):
    fixtures.WRITERS[fixture.split("_depth")[0]](tmp_path / "data")
    name, extra = CASES[fixture]
    overrides = [f"data={name}", f"data.root={tmp_path / 'data'}", *RUN, *extra]
    if "model=depthmasknet" not in extra:
        overrides.append(SMALL_SMP)
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}"])
    value = train(cfg)
    metrics = (tmp_path / "metrics.json").read_text()
    assert value is not None and math.isfinite(value)
    assert '"test/rmse"' in metrics and '"train/loss"' in metrics
    if "task=depth_mask" in extra:
        assert '"test/iou"' in metrics and '"test/dice"' in metrics
