"""`python train.py ...`: fit, validate and test the best checkpoint, report metrics beside the no-context baselines."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console

from depthlab.cli import resume
from depthlab.cli.app import run
from depthlab.cli.common import metrics_table, report, scalar_metrics, split_columns
from depthlab.cli.trainer import build_trainer, close_loggers
from depthlab.metrics.baseline import baselines
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError
from depthlab.utils.optional import optional

log = logging.getLogger(__name__)


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
    trainer = build_trainer(cfg)
    try:
        metrics = _fit_and_score(cfg, trainer, module, datamodule, ckpt_path)
    except BaseException:
        _close_loggers(trainer, exit_code=1)  # mark the W&B run failed; the next sweep job gets a fresh one
        raise
    _close_loggers(trainer)
    return optimized_value(cfg.get("optimized_metric"), metrics)


def optimized_value(name: str | None, metrics: dict[str, float]) -> float | None:
    """The value sweepers optimise; a name that was not logged is an error, unless its whole split was off."""
    if not name or name in metrics:
        return metrics.get(name) if name else None
    split = name.split("/", 1)[0]
    if any(key.startswith(f"{split}/") for key in metrics):
        raise DepthlabError(f"optimized_metric={name} was not logged; use one of {', '.join(sorted(metrics))}")
    log.warning(f"optimized_metric={name} is not available: the {split} loop did not run")
    return None


def _fit_and_score(
    cfg: DictConfig,
    trainer: pl.Trainer,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    ckpt_path: str | None,
) -> dict[str, float]:
    """Fit, then validate (and test) the best checkpoint; rank 0 writes metrics.json before anything optional."""
    for logger in trainer.loggers:
        logger.log_hyperparams(module.run_config)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    save_untrained(trainer)
    metrics = scalar_metrics(trainer.callback_metrics, prefixes=("train",))
    best = _best_checkpoint(trainer)
    if best:
        print(f"best checkpoint: {best}")
    scoring = {"ckpt_path": best, "verbose": False, "weights_only": True}
    if _runs(trainer.limit_val_batches):  # limit_val_batches=0: Lightning's way to train without validation
        metrics |= _first(
            trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
        )
    if cfg.get("test") and _runs(trainer.limit_test_batches):
        metrics |= _first(trainer.test(module, datamodule=datamodule, **scoring))
    if not trainer.is_global_zero:
        return metrics
    title = f"{cfg.get('task_name', 'train')} (val/test: best checkpoint)"
    report(metrics, cfg.paths.output_dir, title=title)  # the results are on disk before the optional extras run
    mixture = hasattr(datamodule, "eval_sources")  # data=mix: no pooled baseline over metric and relative sources
    if cfg.get("baseline", True) and "val/rmse" in metrics and not mixture:
        baseline = optional("the no-context baselines", lambda: baselines(datamodule, "val"))
        if baseline:
            metrics |= {f"baseline/{k}": v for k, v in baseline.items()}
            report(metrics, cfg.paths.output_dir, title=title, quiet=True)
            print_baselines(metrics)
    return metrics


def save_untrained(trainer: pl.Trainer) -> Path | None:
    """trainer.max_epochs=0 (pretrained weights as they are) still writes last.ckpt, for eval / predict / export."""
    callback = trainer.checkpoint_callback
    if trainer.max_epochs != 0 or callback is None or not getattr(callback, "dirpath", None):
        return None
    path = Path(callback.dirpath) / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


def print_baselines(metrics: dict[str, float]) -> None:
    """The model's val metrics beside the no-context baselines', and its delta1 margin over the best of them."""
    columns = split_columns({k: v for k, v in metrics.items() if k.startswith(("val/", "baseline/"))})
    named = {"model": columns.pop("val", {})}
    named |= {key.split("/")[1]: column for key, column in columns.items() if key.endswith("/val")}
    named = {name: {k: v for k, v in column.items() if k != "loss"} for name, column in named.items()}
    Console().print(metrics_table(named, "val: the model beside the no-context baselines"))
    scores = {name: column["delta1"] for name, column in named.items() if name != "model" and "delta1" in column}
    if scores and "delta1" in named["model"]:
        best = max(scores, key=scores.get)
        print(
            f"delta1 margin over the best no-context baseline ({best}): {named['model']['delta1'] - scores[best]:+.3f}"
        )


def _runs(limit: int | float) -> bool:
    """False when a loop is switched off (limit_*_batches=0)."""
    return limit != 0


def _first(results: list[dict[str, float]]) -> dict[str, float]:
    """The metrics of every dataloader (data=mix has one per source; none when the loop ran no batch)."""
    return {k: v for result in results for k, v in scalar_metrics(result).items()}


def _close_loggers(trainer: pl.Trainer, exit_code: int = 0) -> None:
    """close_loggers on rank 0 (the other ranks hold no W&B run)."""
    if trainer.is_global_zero:
        close_loggers(trainer.loggers, exit_code)


def main() -> None:
    """`python train.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("train", train, results=("metrics.json", "checkpoints/*.ckpt"), resume_key="ckpt_path")
