"""`python eval.py ckpt_path=... [datasets=[a,b]]`: score a checkpoint on a split, or zero-shot on several datasets."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from depthlab.cli.app import run
from depthlab.cli.common import format_value, report, scalar_metrics, write_metrics
from depthlab.cli.eval_logging import log_results
from depthlab.cli.lineage import evaluated_run
from depthlab.cli.trainer import build_trainer
from depthlab.config_dir import CONF_DIR
from depthlab.inference.exported_net import EXPORTED_SUFFIXES, module_from_exported
from depthlab.metrics import DEPTH_METRIC_KEYS
from depthlab.metrics.baseline import score as score_baseline
from depthlab.metrics.baseline import split_median
from depthlab.models.build import protocol_for, resolved_sections
from depthlab.models.checkpoint import module_from_checkpoint
from depthlab.models.module import DepthModule
from depthlab.utils.errors import DepthlabError

EVAL_SETTINGS = ("ckpt_path", "split", "datasets", "data", "protocol", "trainer")


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


def eval_trainer(cfg: DictConfig, run_cfg: DictConfig) -> pl.Trainer:
    """The `trainer=` group without loggers (eval logs its final metrics itself); precision null = the checkpoint's."""
    precision = cfg.trainer.get("precision") or (run_cfg.get("trainer") or {}).get("precision") or "32-true"
    return build_trainer(cfg, loggers=[], precision=precision, enable_checkpointing=False)


def score(module: DepthModule, run: DictConfig, split: str, trainer: pl.Trainer) -> dict[str, float]:
    """{split/metric: value} of the module on a split of run.data, scored with run.protocol and run.metrics."""
    datamodule = instantiate(run.data)
    datamodule.setup("validate" if split == "val" else "test")
    module.check_data(datamodule, split)
    if run.get("protocol"):
        module.protocol = instantiate(protocol_for(run.protocol, getattr(module.net, "output_kind", "metric")))
    metrics = instantiate(run.metrics)
    module.val_metrics, module.test_metrics = deepcopy(metrics), deepcopy(metrics)
    if split == "train":  # no hook serves the train split to an eval loop; each rank scores all of it (still exact)
        results = trainer.test(module, dataloaders=datamodule.loader("train", shuffle=False), verbose=False)
    else:  # the datamodule's loaders split val / test across DDP ranks without padding: exact metrics
        runner = trainer.validate if split == "val" else trainer.test
        results = runner(module, datamodule=datamodule, verbose=False)
    prefix = "val" if split == "val" else "test"
    merged = {k: v for result in results for k, v in scalar_metrics(result).items()}  # data=mix: one per source
    return {k.replace(f"{prefix}/", f"{split}/", 1): v for k, v in merged.items()}


def constant_score(run: DictConfig, split: str) -> dict[str, float]:
    """{split/metric} of the split's median depth everywhere, through run.protocol: the floor a model must beat."""
    datamodule = instantiate(run.data)
    datamodule.setup("validate" if split == "val" else "test")
    protocol = instantiate(run.protocol) if run.get("protocol") else None
    scores = score_baseline(split_median(datamodule, split), datamodule, split, protocol, instantiate(run.metrics))
    return {f"{split}/{key}": value for key, value in scores.items()}


def zero_shot_table(rows: dict[str, dict[str, float]], split: str) -> tuple[list[str], list[list[Any]]]:
    """Columns (dataset, then each metric any dataset logged) and one row per dataset: sent to W&B (and printed)."""
    known = (*DEPTH_METRIC_KEYS, "whdr", "iou", "dice", "loss")
    names = [n for n in known if any(f"{split}/{n}" in row for row in rows.values())]
    data = [[dataset, *(metrics.get(f"{split}/{n}") for n in names)] for dataset, metrics in rows.items()]
    return ["dataset", *names], data


def own_rows(metrics: dict[str, float], run: DictConfig, split: str) -> dict[str, dict[str, float]]:
    """The checkpoint's own data as table rows: one row named after its dataset, or one per source of a mixture."""
    target = (run.get("data") or {}).get("_target_")
    name = str(getattr(get_class(target), "name", "data")) if target else "data"
    sources = list(run.data.get("sources") or {}) if name == "mix" else []
    if not sources:
        return {name: metrics}
    rows = {}
    for source in sources:
        prefix = f"{split}/{source}/"
        rows[source] = {f"{split}/{k[len(prefix) :]}": v for k, v in metrics.items() if k.startswith(prefix)}
    return rows | {f"{name} (mean)": {k: v for k, v in metrics.items() if k.count("/") == 1}}


def print_table(columns: list[str], data: list[list[Any]], title: str) -> None:
    """A rich table, as wide as the metric names need (never squeezed)."""
    table = Table(title=title)
    table.add_column(columns[0], no_wrap=True)
    for name in columns[1:]:
        table.add_column(name, justify="right")
    for first, *values in data:
        table.add_row(first, *(format_value(v) for v in values))
    Console(width=max(Console().width, 20 + 10 * len(columns))).print(table)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score a checkpoint on cfg.split of its own data config, or of every dataset in cfg.datasets (one row each).

    Without `datasets`, the checkpoint's data and protocol are used, updated by any data.* / protocol.* overrides;
    metrics.json keys are {split}/{metric}. With `datasets=[a, b]`, each is composed from conf/data with its own
    protocol defaults (the same overrides on top); keys are {dataset}/{split}/{metric}. Rank 0 then writes
    metrics.json and logs the metrics to the `logger=` group; W&B also gets the table zero_shot/{split}, one row
    per dataset (the checkpoint's own data: one row, or one per source of a mixture plus their mean).
    """
    _check_args(cfg)
    load = module_from_exported if Path(cfg.ckpt_path).suffix in EXPORTED_SUFFIXES else module_from_checkpoint
    module, run_cfg = load(cfg.ckpt_path, cfg.get("trusted_targets") or ())
    trainer = eval_trainer(cfg, run_cfg)
    title = f"eval {Path(cfg.ckpt_path).name} on {cfg.split}"
    names = list(cfg.get("datasets") or [])
    if not names:
        run_cfg.data = OmegaConf.merge(run_cfg.data, cfg.get("data") or {})
        if run_cfg.get("protocol") or cfg.get("protocol"):
            run_cfg.protocol = OmegaConf.merge(run_cfg.get("protocol") or {}, cfg.get("protocol") or {})
        metrics = score(module, run_cfg, cfg.split, trainer)
        table = zero_shot_table(own_rows(metrics, run_cfg, cfg.split), cfg.split)
    else:
        configs = {name: dataset_config(name, cfg) for name in names}
        rows = {name: score(module, run, cfg.split, trainer) for name, run in configs.items()}
        metrics = {f"{name}/{key}": value for name, row in rows.items() for key, value in row.items()}
        if cfg.get("baseline", True) and trainer.is_global_zero:
            constants = {name: constant_score(run, cfg.split) for name, run in configs.items()}
            metrics |= {f"baseline/constant/{n}/{k}": v for n, row in constants.items() for k, v in row.items()}
            rows |= {f"{name} (constant)": row for name, row in constants.items()}
        table = zero_shot_table(rows, cfg.split)
    if not trainer.is_global_zero:
        return metrics
    if not names:
        report(metrics, cfg.paths.output_dir, title=title)
    else:
        print_table(*table, title=title)
        write_metrics(metrics, cfg.paths.output_dir)
    log_results(cfg, metrics, run_config(cfg, module, run_cfg, trainer), table)
    return metrics


def run_config(cfg: DictConfig, module: DepthModule, run_cfg: DictConfig, trainer: pl.Trainer) -> dict[str, Any]:
    """What the loggers record: the evaluated run's config, eval's own settings, and which run it was."""
    resolved = resolved_sections(cfg)
    eval_settings = {key: resolved.get(key) for key in EVAL_SETTINGS}
    eval_settings["trainer"]["precision"] = trainer.precision  # null in the config: the checkpoint's
    origin = evaluated_run(cfg.ckpt_path, run_cfg)
    return {**(module.run_config or {}), "eval": eval_settings, "evaluated_run": origin}


def main() -> None:
    """`python eval.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("eval", evaluate, results=("metrics.json",))
