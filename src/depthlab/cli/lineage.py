"""Which run wrote a checkpoint: its run directory and W&B run, so an eval run can join that run's W&B group."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, open_dict

from depthlab.utils.wandb import latest_run_dir, run_identity

log = logging.getLogger(__name__)
WANDB_TARGET = "depthlab.utils.wandb.make_wandb_logger"


def run_dir_of(ckpt_path: str | Path) -> Path:
    """The run directory of a checkpoint: <run>/checkpoints/*.ckpt, or <run>/hpc_ckpt_<n>.ckpt (SLURM requeue)."""
    path = Path(ckpt_path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def evaluated_run(ckpt_path: str | Path, run_cfg: DictConfig) -> dict[str, str | None]:
    """The W&B id, group and name of the run that wrote a checkpoint: its run directory's W&B log, else its config."""
    wandb_cfg = (run_cfg.get("logger") or {}).get("wandb") or {}
    origin = {key: wandb_cfg.get(key) for key in ("id", "group", "name")}
    run = latest_run_dir(run_dir_of(ckpt_path))
    if run is None:
        return origin
    try:
        found = run_identity(run)
    except Exception as err:  # noqa: BLE001 - a log cut short by a killed run: its directory name still has the id
        log.warning(f"could not read the W&B run in {run} ({type(err).__name__}); using its directory name")
        found = {"id": run.name.rsplit("-", 1)[1]}
    return origin | {key: value for key, value in found.items() if value}


def join_group(loggers: DictConfig | None, origin: dict[str, str | None]) -> None:
    """W&B loggers without a group of their own go into the group of the evaluated run (when it had one)."""
    for node in (loggers or {}).values():
        if node and node.get("_target_") == WANDB_TARGET and not node.get("group") and origin.get("group"):
            with open_dict(node):
                node.group = origin["group"]
