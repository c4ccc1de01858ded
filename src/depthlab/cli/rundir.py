"""A run directory belongs to one run: refuse to reuse one that holds results, and lock it while a run writes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from depthlab.utils.errors import DepthlabError

LOCK_NAME = ".depthlab.lock"
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")
_held: dict[Path, IO[str]] = {}  # lock files stay open as long as the process; the OS drops them when it dies


def is_leader() -> bool:
    """False in the extra processes of a distributed run (they share the leader's directory)."""
    return all(os.environ.get(name, "0") in ("", "0") for name in RANK_VARIABLES)


def resuming(resume_key: str, cfg: Any) -> bool:
    """The run continues its directory: `resume_key` is set, or SLURM re-runs a requeued job's own command."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return bool(resume_key) and (bool(cfg.get(resume_key)) or SLURMEnvironment.detect())


def existing_results(run_dir: Path, patterns: Iterable[str]) -> list[str]:
    """Relative paths of files that show a run already wrote into `run_dir`."""
    return sorted(str(p.relative_to(run_dir)) for pattern in patterns for p in run_dir.glob(pattern))


def claim(
    run_dir: str | Path,
    results: Iterable[str] = (),
    resume_key: str = "",
    resuming: bool = False,
    key: str = "hydra.run.dir",
) -> None:
    """Check that `run_dir` holds no other run's results (unless resuming it) and lock it for this process."""
    run_dir = Path(run_dir)
    found = [] if resuming else existing_results(run_dir, results)
    if found:
        shown = ", ".join(found[:3]) + (" ..." if len(found) > 3 else "")
        resume = f"resume it with {resume_key}=last or " if resume_key else ""
        raise DepthlabError(
            f"{key}={run_dir} already holds another run's results ({shown}); {resume}pass another {key}="
        )
    if run_dir.absolute() in _held:
        return  # this process holds it already (an in-process re-run, e.g. tests or sequential sweep jobs)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = (run_dir / LOCK_NAME).open("a+")
    except OSError as err:
        raise DepthlabError(f"cannot write to {key}={run_dir} ({err.strerror}); pass a writable {key}=") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DepthlabError(
            f"{key}={run_dir} is in use by another depthlab process (PID {holder}); wait for it or pass another {key}="
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held[run_dir.absolute()] = handle
