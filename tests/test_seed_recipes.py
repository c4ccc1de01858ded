"""Each seed experiment composes to the recipe its seed states (seeds/000, 001, 002); no weights are downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants as hf_constants
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from depthlab.config_dir import CONF_DIR
from depthlab.data.augment_table import Augment, preset_ops
from depthlab.data.transforms import JointTransform
from depthlab.models import nets
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError

REPO = Path(__file__).resolve().parents[1]
MODEST = ["seed_depthmasknet", "depth_mask_bce_rmse", "modest_depth_photometric", "seed_masknet"]
HEADERS = ["redweb_ranking", "diode_deeplabv3", *MODEST]


def compose_experiment(name: str, *overrides: str, tmp_path: Path) -> DictConfig:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        extra = [f"paths.output_dir={tmp_path}", f"paths.root_dir={REPO}"]
        return compose("train", overrides=[f"experiment={name}", *extra, *overrides])


@pytest.fixture
def empty_weight_caches(tmp_path, monkeypatch) -> None:
    """No cached hub weights, and any attempt to fetch some fails the test (tests never download)."""
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to download weights")

    monkeypatch.setattr(nets, "hub_reachable", refuse)
    monkeypatch.setattr("segmentation_models_pytorch.encoders.hf_hub_download", refuse)


@pytest.mark.parametrize("name", HEADERS)
def test_every_seed_header_states_the_seed_and_depthlab_choices(name):
    header = [line for line in (REPO / "experiments" / f"{name}.yaml").read_text().splitlines() if line.startswith("#")]
    text = " ".join(header)
    assert "Seed specifies:" in text and "depthlab's choices where the seed is silent" in text, name


@pytest.mark.parametrize("name", MODEST)
def test_modest_recipes_photometric_no_schedule_val_loss_unaligned(name, tmp_path):
    cfg = compose_experiment(name, tmp_path=tmp_path)
    kinds = [op.kind for op in preset_ops(Augment.from_mapping(cfg.data.augment))]
    assert kinds == ["jitter", "jitter"]  # brightness / contrast and hue / saturation: colour only, no geometry
    assert cfg.data.augment.brightness_contrast == cfg.data.augment.hue_saturation == 0.5
    assert not cfg.get("scheduler") and cfg.monitor == "val/loss"
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss" and cfg.callbacks.model_checkpoint.mode == "min"
    if name != "seed_masknet":  # mask-only: no depth metric to align
        assert cfg.protocol.alignment == "none"
    module = build_module(cfg)
    assert module.scheduler_factory is None and module.monitor == "val/loss"


def test_photometric_preset_changes_colours_and_moves_no_pixel(tmp_path):
    cfg = compose_experiment("seed_depthmasknet", tmp_path=tmp_path)
    transform = JointTransform(None, Augment.from_mapping(cfg.data.augment))
    rng = np.random.default_rng(0)
    image, background = rng.random((16, 16, 3), dtype=np.float32), rng.random((16, 16, 3), dtype=np.float32)
    depth = rng.uniform(1, 5, (16, 16)).astype(np.float32)
    mask = (rng.random((16, 16)) > 0.5).astype(np.float32)
    outs = [transform({"image": image, "depth": depth, "mask": mask, "background": background}) for _ in range(20)]
    assert all(np.array_equal(o["depth"], depth) and np.array_equal(o["mask"], mask) for o in outs)
    assert all(o["valid"].all() for o in outs)
    assert sum(not np.allclose(o["image"], image) for o in outs) >= 10  # 1 - 0.5^2: most draws recolour


def test_depthmasknet_and_masknet_recipes_use_the_seed_optimizer(tmp_path):
    for name in ("seed_depthmasknet", "depth_mask_bce_rmse", "seed_masknet"):
        cfg = compose_experiment(name, tmp_path=tmp_path)
        assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.trainer.max_epochs == 12, name
        assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == (0.1, 0.9, 1e-8), name
    masknet = build_module(compose_experiment("seed_masknet", tmp_path=tmp_path))
    assert sum(p.numel() for p in masknet.net.parameters()) == 76_097
    assert set(masknet.loss.weights) == {"bce"} and not masknet.predicts_depth


def test_redweb_recipe_is_the_depthsense_training_loop(tmp_path, empty_weight_caches, capsys):
    cfg = compose_experiment("redweb_ranking", tmp_path=tmp_path)
    ranking = cfg.loss.terms.ranking
    assert ranking._target_.endswith("StructureGuidedRankingLoss")
    assert (ranking.sampler, ranking.ignore_easy, ranking.sigma) == ("upstream", 0.25, 0.03)
    assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.optimizer.weight_decay == 0.02
    assert cfg.scheduler.factory._target_.endswith("one_cycle") and cfg.optimizer.lr / 25 == 4e-5
    assert cfg.scheduler.factory.div_factor == 25 and cfg.trainer.max_epochs == 5
    assert cfg.trainer.gradient_clip_val == 2.0 and cfg.model.unfreeze_at_epoch == 2
    module = build_module(cfg)
    assert module.net.encoder_weights is None  # not cached: random init, said once
    assert capsys.readouterr().out.count("random init instead") == 1


def test_diode_plateau_schedule_gets_the_monitor(tmp_path, empty_weight_caches):
    cfg = compose_experiment("diode_deeplabv3", tmp_path=tmp_path)
    assert cfg.scheduler.factory._target_ == "torch.optim.lr_scheduler.ReduceLROnPlateau"
    assert cfg.scheduler.interval == "epoch" and cfg.scheduler.factory.mode == "min"
    assert cfg.model.arch == "DeepLabV3" and cfg.model.encoder == "resnet50"
    module = build_module(cfg)
    module.trainer = type("T", (), {"estimated_stepping_batches": 10, "max_epochs": 2})()  # what Lightning sets
    scheduler = module.configure_optimizers()["lr_scheduler"]
    assert scheduler["monitor"] == "val/rmse" and scheduler["interval"] == "epoch"
    assert type(scheduler["scheduler"]).__name__ == "ReduceLROnPlateau"


def test_diode_falls_back_to_random_init_with_one_line_when_weights_are_missing(tmp_path, empty_weight_caches, capsys):
    cfg = compose_experiment("diode_deeplabv3", tmp_path=tmp_path)
    assert cfg.model.encoder_weights == "imagenet" and cfg.model.encoder_weights_fallback == "random"
    net = build_module(cfg).net
    lines = [line for line in capsys.readouterr().out.splitlines() if "random init" in line]
    assert lines == [
        "model.encoder_weights=imagenet for resnet50 are not in the local cache: random init instead "
        "(model.encoder_weights_fallback=random; set it to null to download them)"
    ]
    assert net.encoder_weights is None and net.provenance is None


def test_missing_weights_without_a_fallback_keep_the_clear_error(tmp_path, empty_weight_caches, monkeypatch):
    monkeypatch.setattr(nets, "hub_reachable", lambda timeout=2.0: False)  # offline: the existing one-line refusal
    model = {k: v for k, v in compose_experiment("diode_deeplabv3", tmp_path=tmp_path).model.items() if k != "_target_"}
    model |= {"min_depth": 1e-3, "max_depth": 300.0}
    with pytest.raises(DepthlabError, match="must be downloaded from huggingface.co, which is unreachable"):
        nets.SmpDepthNet(**(model | {"encoder_weights_fallback": None}))
    with pytest.raises(DepthlabError, match="encoder_weights_fallback='zeros' is unknown"):
        nets.SmpDepthNet(**(model | {"encoder_weights_fallback": "zeros"}))
