"""`ckpt_path=last` (or a SLURM requeue): continue a run from its latest checkpoint, in its directory and W&B run."""

from __future__ import annotations

from pathlib import Path

from lightning.fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, open_dict

from depthlab.cli.lineage import WANDB_TARGET, run_dir_of
from depthlab.models.checkpoint import CONFIG_KEY, read_checkpoint
from depthlab.utils.errors import DepthlabError
from depthlab.utils.wandb import previous_run_id

CSV_TARGETS = ("depthlab.utils.csv_logger.CSVLogger", "lightning.pytorch.loggers.CSVLogger")


def checkpoint_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume: `last` means <run dir>/checkpoints/last.ckpt of this (re-entered) run directory."""
    ckpt_path = cfg.get("ckpt_path")
    if not ckpt_path:
        return _implicit_checkpoint(Path(cfg.paths.output_dir))
    if ckpt_path == "last":
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise DepthlabError(
                f"ckpt_path=last found no {path}; pass the run directory to resume, "
                "e.g. hydra.run.dir=outputs/train/runs/<run> (or hydra.sweep.dir=<sweep> with -m)"
            )
        return str(path)
    if not Path(ckpt_path).is_file():
        raise DepthlabError(f"ckpt_path={ckpt_path} does not exist; pass a .ckpt written by train.py to resume")
    return str(ckpt_path)


def _implicit_checkpoint(run_dir: Path) -> str | None:
    """ckpt_path=null: a requeued SLURM job resumes; elsewhere an existing last.ckpt must be asked for explicitly."""
    last = run_dir / "checkpoints" / "last.ckpt"
    # a requeued job re-runs the same command: continue from Lightning's hpc_ckpt_<n>.ckpt or last.ckpt, the newer
    if SLURMEnvironment.detect():
        found = [p for p in (*run_dir.glob("hpc_ckpt_*.ckpt"), last) if p.is_file()]
        return str(max(found, key=lambda p: p.stat().st_mtime)) if found else None
    # Lightning would silently resume it (it does with an OnExceptionCheckpoint), skipping the checks below
    if last.is_file():
        raise DepthlabError(
            f"{run_dir} already holds checkpoints/last.ckpt; pass ckpt_path=last to resume it, "
            "or another hydra.run.dir to start over"
        )
    return None


def continue_loggers(cfg: DictConfig, ckpt_path: str) -> None:
    """Point the W&B logger at the checkpoint's run id, and keep earlier CSV logs (Lightning would delete them)."""
    run_dir = run_dir_of(ckpt_path)
    for node in (cfg.get("logger") or {}).values():
        if not node or "_target_" not in node:
            continue
        with open_dict(node):
            if node._target_ == WANDB_TARGET and not node.get("id"):
                node.id = previous_run_id(run_dir)
            elif node._target_ in CSV_TARGETS and _has_metrics(Path(node.save_dir) / node.name / str(node.version)):
                node.version = _next_version(Path(node.save_dir) / node.name)


def _has_metrics(log_dir: Path) -> bool:
    return (log_dir / "metrics.csv").is_file()


def _next_version(root: Path) -> str:
    """resume_1, resume_2, ...: the first CSV log directory not used yet."""
    k = 1
    while _has_metrics(root / f"resume_{k}"):
        k += 1
    return f"resume_{k}"


def check_same_model(cfg: DictConfig, ckpt_path: str) -> None:
    """Resuming needs the checkpoint's network; read safely first, so a crafted file is refused before Lightning."""
    from omegaconf import OmegaConf

    saved = read_checkpoint(ckpt_path)[CONFIG_KEY].get("model", {})
    current = OmegaConf.to_container(cfg.model, resolve=True)
    differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differ:
        shown = ", ".join(f"model.{k}={saved.get(k)}" for k in differ)
        raise DepthlabError(f"ckpt_path={ckpt_path} was trained with {shown}; pass the same model overrides to resume")
