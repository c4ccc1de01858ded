"""`python eval.py ckpt_path=... [datasets=[a,b]]`: score a checkpoint on a split, or zero-shot on several datasets."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import lightning.pytorch as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from depthlab.callbacks.progress import progress_bar
from depthlab.cli.app import run
from depthlab.cli.common import format_value, report, scalar_metrics, write_metrics
from depthlab.config_dir import CONF_DIR
from depthlab.metrics import DEPTH_METRIC_KEYS
from depthlab.models.checkpoint import module_from_checkpoint
from depthlab.models.module import DepthModule
from depthlab.utils.errors import DepthlabError


def _check_args(cfg: DictConfig) -> None:
    """One-line errors for a missing checkpoint, a bad split or a bad dataset list."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise DepthlabError(
            "ckpt_path is required: python eval.py ckpt_path=outputs/train/runs/<run>/checkpoints/last.ckpt"
        )
    if cfg.split not in ("train", "val", "test"):
        raise DepthlabError(f"split={cfg.split} is unknown; use val or test (or train)")
    known = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))
    for name in cfg.get("datasets") or []:
        if name not in known:
            raise DepthlabError(f"datasets: {name!r} is not a data config; use one of {', '.join(known)}")


def dataset_config(name: str, cfg: DictConfig) -> DictConfig:
    """The train config composed with data=NAME, then eval's data.* / protocol.* overrides merged in.

    Composed unresolved, so the protocol and metrics (depth range, crop, relative, SSIM range) follow the dataset.
    """
    overrides = [f"data={name}"]
    if GlobalHydra.instance().is_initialized():
        composed = compose("train", overrides=overrides)
    else:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            composed = compose("train", overrides=overrides)
    composed.data = OmegaConf.merge(composed.data, cfg.get("data") or {})
    composed.protocol = OmegaConf.merge(composed.protocol, cfg.get("protocol") or {})
    return composed


def score(module: DepthModule, run: DictConfig, cfg: DictConfig) -> dict[str, float]:
    """{split/metric: value} of the module on cfg.split of run.data, scored with run.protocol and run.metrics."""
    datamodule = instantiate(run.data)
    datamodule.setup("validate" if cfg.split == "val" else "test")
    module.check_data(datamodule, cfg.split)
    if run.get("protocol"):
        module.protocol = instantiate(run.protocol)
    metrics = instantiate(run.metrics)
    module.val_metrics, module.test_metrics = deepcopy(metrics), deepcopy(metrics)
    trainer = pl.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision or run.trainer.get("precision", "32-true"),
        logger=False,
        enable_checkpointing=False,
        callbacks=[progress_bar()],
        limit_test_batches=cfg.get("limit_batches") or 1.0,
        limit_val_batches=cfg.get("limit_batches") or 1.0,
    )
    loader = datamodule.loader(cfg.split, shuffle=False)
    runner = trainer.validate if cfg.split == "val" else trainer.test
    results = runner(module, dataloaders=loader, verbose=False)[0]
    prefix = "val" if cfg.split == "val" else "test"
    return {k.replace(f"{prefix}/", f"{cfg.split}/", 1): v for k, v in scalar_metrics(results).items()}


def dataset_table(rows: dict[str, dict[str, float]], split: str, title: str) -> Table:
    """A rich table with one row per dataset and one column per metric (zero-shot evaluation)."""
    known = (*DEPTH_METRIC_KEYS, "whdr", "iou", "dice", "loss")
    names = [n for n in known if any(f"{split}/{n}" in row for row in rows.values())]
    table = Table(title=title)
    table.add_column("dataset", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    for dataset, metrics in rows.items():
        table.add_row(dataset, *(format_value(metrics.get(f"{split}/{n}")) for n in names))
    return table


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score a checkpoint on cfg.split of its own data config, or of every dataset in cfg.datasets (one row each).

    Without `datasets`, the checkpoint's data and protocol are used, updated by any data.* / protocol.* overrides;
    metrics.json keys are {split}/{metric}. With `datasets=[a, b]`, each is composed from conf/data with its own
    protocol defaults (the same overrides on top); keys are {dataset}/{split}/{metric}.
    """
    _check_args(cfg)
    module, run_cfg = module_from_checkpoint(cfg.ckpt_path, cfg.get("trusted_targets") or ())
    title = f"eval {Path(cfg.ckpt_path).name} on {cfg.split}"
    names = list(cfg.get("datasets") or [])
    if not names:
        run_cfg.data = OmegaConf.merge(run_cfg.data, cfg.get("data") or {})
        if run_cfg.get("protocol") or cfg.get("protocol"):
            run_cfg.protocol = OmegaConf.merge(run_cfg.get("protocol") or {}, cfg.get("protocol") or {})
        metrics = score(module, run_cfg, cfg)
        report(metrics, cfg.paths.output_dir, title=title)
        return metrics
    rows = {name: score(module, dataset_config(name, cfg), cfg) for name in names}
    table = dataset_table(rows, cfg.split, title)
    Console(width=max(Console().width, 20 + 10 * len(table.columns))).print(table)  # never squeeze metric names
    metrics = {f"{name}/{key}": value for name, row in rows.items() for key, value in row.items()}
    write_metrics(metrics, cfg.paths.output_dir)
    return metrics


def main() -> None:
    """`python eval.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("eval", evaluate, results=("metrics.json",))
