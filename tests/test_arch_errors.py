"""Architecture / encoder / task combinations that cannot work stop at start with one line saying what would."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, assert_one_line_error, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from depthlab.config_dir import CONF_DIR
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError, user_error

REPO = Path(__file__).resolve().parents[1]
BAD = [
    (["model=dpt", "model.encoder=resnet18"], ["model=dpt needs a timm vision-transformer", "tu-vit_tiny"]),
    (["model=unet", "model.encoder=tu-vit_tiny_patch16_224"], ["without a feature pyramid", "model=dpt"]),
    (["model=dpt", "data.height=72"], ["input size 72x64 is not divisible by 32", "data.height=64"]),
    (["model=pan"], ["input size 64x64 is below 128x128", "data.height=128"]),
    (["task=depth_mask", "loss=l1"], ["predicts a foreground mask but the loss has no mask term", "bce_rmse"]),
    (["loss=bce_rmse"], ["predicts no mask", "task=depth_mask"]),
    (["model=dpt", "model.encoder=tu-vit_small_patch14_dinov2"], ["64x64 is not divisible by 28", "data.height=56"]),
    (["model=dpt", "model.encoder=tu-vit_small_patch14_dinov2.foo"], ["no tag foo", "its tags: lvd142m"]),
    (["model.gradient_checkpointing=true"], ["gradient_checkpointing=true needs a timm encoder", "tu-resnet18"]),
    (["model.unfreeze_at_epoch=2"], ["model.unfreeze_at_epoch=2 needs model.freeze_encoder=true"]),
]


@pytest.mark.parametrize(("overrides", "needles"), BAD)
def test_bad_combinations_raise_one_line_before_training(overrides, needles, tmp_path):
    """What train.py does before building the Trainer: build the module, then check the data against it."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, *overrides, f"paths.output_dir={tmp_path}"])
    with pytest.raises(Exception) as info:  # noqa: B017 - Hydra wraps errors raised while instantiating
        build_module(cfg).check_data(instantiate(cfg.data))
    error = user_error(info.value)  # what the CLI prints: the DepthlabError behind the wrapper
    assert isinstance(error, DepthlabError), info.value
    message = str(error)
    assert "\n" not in message and all(needle in message for needle in needles), message


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "needles"), [BAD[0], BAD[4]])
def test_bad_combinations_fail_from_the_command_line(overrides, needles, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train.py", *TINY, *overrides, tmp_path=tmp_path, run_dir=run_dir, timeout=300)
    assert_one_line_error(result, *needles)
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "wandb").exists()
