"""Weights & Biases without surprises: online only with credentials and a network, else offline on disk."""

from __future__ import annotations

import json
import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

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
    if mode not in MODES:
        raise DepthlabError(f"logger.wandb.mode={mode!r} is unknown; use one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "online" if has_credentials() and server_reachable() else "offline"
    return mode


def make_wandb_logger(mode: str = "auto", save_dir: str = ".", **kwargs: Any) -> WandbLogger:
    """A WandbLogger in the resolved mode, writing under save_dir (the Hydra run dir)."""
    resolved = resolve_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    if resolved != "online":
        rank_zero_info(f"W&B: {resolved} mode (no credentials or no network); runs are written to {save_dir}/wandb")
    return WandbLogger(mode=resolved, save_dir=save_dir, **kwargs)


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


def read_offline_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The logged history rows of an offline run directory, read from its .wandb record log (no server needed)."""
    from wandb.proto import wandb_internal_pb2

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise DepthlabError(f"{run_dir} holds no run-*.wandb file; pass an offline-run-* directory")
    rows = []
    for payload in _record_payloads(files[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return rows
