"""An eval run's results in its `logger=` loggers, as a training run logs: config, final metrics, per-dataset table."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig

from depthlab.cli.common import instantiate_all
from depthlab.cli.lineage import join_group
from depthlab.cli.trainer import close_loggers

Table = tuple[list[str], list[list[Any]]]


def log_results(cfg: DictConfig, metrics: dict[str, float], config: dict[str, Any], table: Table | None) -> None:
    """Log to every `logger=` logger once scoring is done (rank 0 only), the W&B run in the evaluated run's group."""
    join_group(cfg.get("logger"), config["evaluated_run"])
    loggers = instantiate_all(cfg.get("logger"))
    try:
        for logger in loggers:
            logger.log_hyperparams(config)
            row: dict[str, Any] = dict(metrics)
            if table is not None and isinstance(logger, WandbLogger):  # one history row: the metrics and their table
                import wandb

                row[f"zero_shot/{cfg.split}"] = wandb.Table(columns=table[0], data=table[1])
            logger.log_metrics(row, step=0)
            logger.finalize("success")
    except BaseException:
        close_loggers(loggers, exit_code=1)
        raise
    close_loggers(loggers)
