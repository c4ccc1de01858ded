"""The Trainer and loggers of a run, built the same way by train.py and eval.py."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import wandb
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig

from depthlab.cli.common import instantiate_all
from depthlab.utils.wandb import sync_hint


def build_trainer(cfg: DictConfig, loggers: list[Logger] | None = None, **overrides: Any) -> pl.Trainer:
    """Trainer from `trainer=` with the `callbacks=` group; loggers from `logger=` unless given ([] for none)."""
    loggers = instantiate_all(cfg.get("logger")) if loggers is None else loggers
    kwargs = {"callbacks": instantiate_all(cfg.get("callbacks")), "logger": loggers or False}
    return instantiate(cfg.trainer, **(kwargs | overrides))


def close_loggers(loggers: list[Logger], exit_code: int = 0) -> None:
    """Finish W&B runs (multirun needs a fresh run per job) and tell how to sync offline ones; call on rank 0."""
    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        if exit_code and getattr(logger, "_experiment", None) is None:
            continue  # failed before the run started: nothing to close
        hint = sync_hint(logger)
        if hint:
            print(f"W&B run saved offline; upload it with: {hint}")
        wandb.finish(exit_code=exit_code)
