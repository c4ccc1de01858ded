"""`python train.py ...`: fit, validate and test the best checkpoint, report metrics beside a constant baseline."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import wandb
from hydra.utils import instantiate
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf

from depthlab.cli import resume
from depthlab.cli.common import instantiate_all, report, scalar_metrics
from depthlab.metrics.baseline import constant_baseline
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError
from depthlab.utils.wandb import sync_hint


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """Trainer from `trainer=`, with the `callbacks=` and `logger=` groups instantiated."""
    return instantiate(
        cfg.trainer,
        callbacks=instantiate_all(cfg.get("callbacks")),
        logger=instantiate_all(cfg.get("logger")) or False,
    )


def _best_checkpoint(trainer: pl.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback else ""
    return path if path and Path(path).exists() else None


def train(cfg: DictConfig) -> float | None:
    """Run one training job; returns the value of `optimized_metric` for sweepers."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    ckpt_path = resume.checkpoint_path(cfg)
    if ckpt_path:
        resume.check_same_model(cfg, ckpt_path)
        resume.continue_loggers(cfg, ckpt_path)
    datamodule = instantiate(cfg.data)
    module = build_module(cfg)
    module.check_data(datamodule)
    module.run_config = OmegaConf.to_container(cfg, resolve=True)
    trainer = build_trainer(cfg)
    try:
        metrics = _fit_and_score(cfg, trainer, module, datamodule, ckpt_path)
    except BaseException:
        _close_loggers(trainer, exit_code=1)  # mark the W&B run failed; the next sweep job gets a fresh one
        raise
    _close_loggers(trainer)
    name = cfg.get("optimized_metric")
    if name and name not in metrics:
        raise DepthlabError(f"optimized_metric={name} was not logged; use one of {', '.join(sorted(metrics))}")
    return metrics.get(name) if name else None


def _fit_and_score(
    cfg: DictConfig,
    trainer: pl.Trainer,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    ckpt_path: str | None,
) -> dict[str, float]:
    """Fit, then validate (and test) the best checkpoint; rank 0 writes metrics.json."""
    for logger in trainer.loggers:
        logger.log_hyperparams(module.run_config)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = scalar_metrics(trainer.callback_metrics, prefixes=("train",))
    best = _best_checkpoint(trainer)
    if best:
        print(f"best checkpoint: {best}")
    metrics |= scalar_metrics(trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    if cfg.get("test"):
        metrics |= scalar_metrics(trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    if trainer.is_global_zero:
        if cfg.get("baseline", True):
            metrics |= {f"baseline/val/{k}": v for k, v in constant_baseline(datamodule, "val").items()}
        report(
            metrics,
            cfg.paths.output_dir,
            title=f"{cfg.get('task_name', 'train')} (val/test: best checkpoint)",
        )
    return metrics


def _close_loggers(trainer: pl.Trainer, exit_code: int = 0) -> None:
    """Finish W&B runs (multirun needs a fresh run per job) and tell how to sync offline ones."""
    for logger in trainer.loggers:
        if not isinstance(logger, WandbLogger) or not trainer.is_global_zero:
            continue
        if exit_code and getattr(logger, "_experiment", None) is None:
            continue  # failed before the run started: nothing to close
        hint = sync_hint(logger)
        if hint:
            print(f"W&B run saved offline; upload it with: {hint}")
        wandb.finish(exit_code=exit_code)
