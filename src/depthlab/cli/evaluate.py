"""`python eval.py ckpt_path=...`: score a checkpoint on a split with the config it was trained with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from depthlab.callbacks.progress import progress_bar
from depthlab.cli.common import report, scalar_metrics
from depthlab.models.build import build_module
from depthlab.models.module import DepthModule
from depthlab.utils.errors import DepthlabError


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint, naming the file when it is missing, corrupt or not from depthlab."""
    path = Path(path)
    if not path.is_file():
        raise DepthlabError(f"ckpt_path={path} does not exist; pass a .ckpt from a run's checkpoints/ directory")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DepthlabError(f"ckpt_path={path} is not a readable PyTorch checkpoint ({type(err).__name__})") from None
    if "depthlab_config" not in checkpoint or "state_dict" not in checkpoint:
        raise DepthlabError(f"ckpt_path={path} was not written by depthlab's train.py (no embedded config)")
    return checkpoint


def module_from_checkpoint(path: str | Path) -> tuple[DepthModule, DictConfig]:
    """Rebuild the LightningModule from the config embedded in the checkpoint and load its weights."""
    checkpoint = load_checkpoint(path)
    run_cfg = OmegaConf.create(checkpoint["depthlab_config"])
    module = build_module(run_cfg)
    module.load_state_dict(checkpoint["state_dict"])
    module.run_config = checkpoint["depthlab_config"]
    return module, run_cfg


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate on cfg.split with the checkpoint's data config, updated by any `data.*` overrides given here."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise DepthlabError(
            "ckpt_path is required: python eval.py ckpt_path=outputs/train/runs/<run>/checkpoints/last.ckpt"
        )
    if cfg.split not in ("train", "val", "test"):
        raise DepthlabError(f"split={cfg.split} is unknown; use val or test (or train)")
    module, run_cfg = module_from_checkpoint(cfg.ckpt_path)
    data_cfg = OmegaConf.merge(run_cfg.data, cfg.get("data") or {})
    datamodule = instantiate(data_cfg)
    module.check_data(datamodule, cfg.split)
    trainer = pl.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision or run_cfg.trainer.get("precision", "32-true"),
        logger=False,
        enable_checkpointing=False,
        callbacks=[progress_bar()],
        limit_test_batches=cfg.get("limit_batches") or 1.0,
        limit_val_batches=cfg.get("limit_batches") or 1.0,
    )
    datamodule.setup("validate" if cfg.split == "val" else "test")
    loader = datamodule.loader(cfg.split, shuffle=False)
    runner = trainer.validate if cfg.split == "val" else trainer.test
    results = runner(module, dataloaders=loader, verbose=False)[0]
    prefix = "val" if cfg.split == "val" else "test"
    metrics = {k.replace(f"{prefix}/", f"{cfg.split}/", 1): v for k, v in scalar_metrics(results).items()}
    report(metrics, cfg.paths.output_dir, title=f"eval {Path(cfg.ckpt_path).name} on {cfg.split}")
    return metrics
