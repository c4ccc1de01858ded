"""Weights & Biases without surprises: online only with credentials and a network, else offline on disk."""

from __future__ import annotations

import json
import netrc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError
from depthlab.utils.net import reachable

WANDB_HOST = "api.wandb.ai"
MODES = ("auto", "online", "offline", "disabled")


def has_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def server_reachable(timeout: float = 2.0) -> bool:
    """True when the W&B server answers on 443 quickly (online mode without a network would stall)."""
    return reachable(WANDB_HOST, timeout=timeout)


def resolve_mode(mode: str = "auto") -> str:
    """WANDB_MODE wins; `auto` means online when logged in and reachable, otherwise offline."""
    mode = os.environ.get("WANDB_MODE", mode)
    check_choice("logger.wandb.mode", mode, MODES)
    if mode == "auto":
        mode = "online" if has_credentials() and server_reachable() else "offline"
    return mode


def make_wandb_logger(
    mode: str = "auto",
    save_dir: str = ".",
    group: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    tag_overrides: bool = True,
    **kwargs: Any,
) -> WandbLogger:
    """A WandbLogger in the resolved mode under save_dir; a sweep's jobs share a group and are tagged by overrides."""
    resolved = resolve_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    if resolved != "online":
        rank_zero_info(f"W&B: {resolved} mode (no credentials or no network); runs are written to {save_dir}/wandb")
    job = hydra_job()
    tags = [*tags, *(tag_text(o) for o in job["overrides"])] if tag_overrides else list(tags)
    config = {"overrides": job["overrides"], **kwargs.pop("config", {})}
    if job["sweep"]:
        kwargs["name"] = f"{kwargs.get('name') or job['sweep']}_{job['num']}"
    group = group or job["sweep"]
    return WandbLogger(mode=resolved, save_dir=save_dir, group=group, tags=tags, config=config, **kwargs)


def hydra_job() -> dict[str, Any]:
    """The running Hydra job's overrides and, in a multirun, its number and sweep name (`<job name>_<sweep time>`)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return {"overrides": [], "sweep": None, "num": None}
    hc = HydraConfig.get()
    sweep = f"{hc.job.name}_{Path(hc.sweep.dir).name}" if hc.mode == RunMode.MULTIRUN else None
    return {"overrides": list(hc.overrides.task), "sweep": sweep, "num": hc.job.get("num")}


def tag_text(override: str) -> str:
    """W&B tags are at most 64 characters."""
    return override if len(override) <= 64 else override[:61] + "..."


def latest_run_dir(save_dir: str | Path) -> Path | None:
    """The latest W&B run directory under save_dir/wandb (`[offline-]run-<time>-<id>`)."""
    runs = sorted(Path(save_dir, "wandb").glob("*run-*-*"), key=lambda p: p.name.split("run-", 1)[1])
    runs = [p for p in runs if p.is_dir() and not p.is_symlink()]
    return runs[-1] if runs else None


def previous_run_id(save_dir: str | Path) -> str | None:
    """The id of the latest W&B run under save_dir/wandb (from its directory name)."""
    run = latest_run_dir(save_dir)
    return run.name.rsplit("-", 1)[1] if run else None


def sync_hint(logger: WandbLogger) -> str | None:
    """The `wandb sync` command for an offline run, or None when the run is online or disabled."""
    run = logger.experiment
    if getattr(run, "settings", None) is None or run.settings.mode != "offline":
        return None
    return f"wandb sync {Path(run.dir).parent}"


def _record_payloads(path: Path) -> list[bytes]:
    """Split a .wandb file (a 7-byte W&B header, then LevelDB-log blocks of 32 KiB) into record payloads."""
    data, block, pos = path.read_bytes(), 32768, 7
    payloads, parts = [], []
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # block trailer padding
            pos += room
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:  # zero-filled tail
            break
        parts.append(chunk)
        if kind in (1, 4):  # FULL or LAST
            payloads.append(b"".join(parts))
            parts = []
    return payloads


def _records(run_dir: str | Path) -> Iterator[Any]:
    """The protobuf records of an offline run directory's .wandb log, in order."""
    from wandb.proto import wandb_internal_pb2

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise DepthlabError(f"{run_dir} holds no run-*.wandb file; pass an offline-run-* directory")
    for payload in _record_payloads(files[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_offline_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The logged history rows of an offline run directory, read from its .wandb record log (no server needed)."""
    return [_items(r.history.item) for r in _records(run_dir) if r.WhichOneof("record_type") == "history"]


def run_identity(run_dir: str | Path) -> dict[str, str]:
    """A W&B run directory's id, group and name, from the first run record of its .wandb log (no server)."""
    for record in _records(run_dir):
        if record.WhichOneof("record_type") == "run":
            return {"id": record.run.run_id, "group": record.run.run_group, "name": record.run.display_name}
    raise DepthlabError(f"{run_dir} holds no W&B run record")


def read_offline_run(run_dir: str | Path) -> dict[str, Any]:
    """An offline run's id, group, tags, config (merged updates) and history, read without a server."""
    run: dict[str, Any] = {"id": None, "group": "", "tags": [], "config": {}, "history": []}
    for record in _records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run |= {"id": record.run.run_id, "group": record.run.run_group, "tags": list(record.run.tags)}
            run["config"] |= _items(record.run.config.update)
        elif kind == "config":
            run["config"] |= _items(record.config.update)
        elif kind == "history":
            run["history"].append(_items(record.history.item))
    return run


def read_offline_tables(run_dir: str | Path, key: str) -> list[tuple[dict[str, Any], dict[str, Path]]]:
    """Every wandb.Table logged under `key` in an offline run, in order, from its staged run_table artifacts.

    Each is (table JSON with media cells such as {"_type": "image-file", "path": "media/images/..."}, the local
    file of every artifact entry by its path): the run's files/ copy of a table holds no media, only the artifact
    (uploaded by `wandb sync`) does.
    """
    tables = []
    for record in _records(run_dir):
        if record.WhichOneof("record_type") != "artifact" or record.artifact.type != "run_table":
            continue
        files = {entry.path: Path(entry.local_path) for entry in record.artifact.manifest.contents}
        if f"{key}.table.json" in files:
            tables.append((json.loads(files[f"{key}.table.json"].read_text()), files))
    return tables
