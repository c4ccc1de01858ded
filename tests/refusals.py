"""Helpers of the bad-input catalogue: run an entry point in-process, craft hostile files, snapshot a tree."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

MAIN = {
    "train": "depthlab.cli.train",
    "eval": "depthlab.cli.evaluate",
    "predict": "depthlab.cli.predict",
    "export": "depthlab.cli.export",
    "distill": "depthlab.cli.distill",
    "baseline": "depthlab.baselines.pixel",
    "demo": "depthlab.cli.demo",
}


@dataclass
class Outcome:
    code: int
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("depthlab: error:")]


def call(entry: str, args: list[str]) -> Outcome:
    """`python <entry>.py args...` in this process: exit code and stderr (a traceback propagates and fails)."""
    module = __import__(MAIN[entry], fromlist=["main"])
    argv, stderr, code = sys.argv, io.StringIO(), 0
    sys.argv = [f"{entry}.py", *args]
    try:
        with contextlib.redirect_stderr(stderr):
            module.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Outcome(code, stderr.getvalue())


class Payload:
    """Pickles as a call to `function(*args)`: what a crafted checkpoint runs under weights_only=False."""

    def __init__(self, function: Callable, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def hostile_checkpoint(path: Path, marker: Path, kind: str = "os.system") -> Path:
    """A checkpoint-shaped file whose unpickling would create `marker`."""
    payloads = {
        "os.system": Payload(os.system, f"touch {marker}"),
        "subprocess": Payload(subprocess.call, ["touch", str(marker)]),
        "exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
    }
    torch.save({"state_dict": {}, "depthlab_config": {"model": {}}, "x": payloads[kind]}, path)
    return path


def with_config_change(source: Path, path: Path, key: str, value: object) -> Path:
    """A copy of a real checkpoint whose embedded config has `key` (dotted) set to `value`."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    checkpoint.pop("optimizer_states", None)  # smaller files: each case hashes the whole fixture world
    node = checkpoint["depthlab_config"]
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    torch.save(checkpoint, path)
    return path


def snapshot(*roots: Path) -> dict[Path, str]:
    """sha256 of every file under the roots (what a refused run must leave unchanged)."""
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        if root.exists()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def changed(before: dict[Path, str], after: dict[Path, str]) -> list[str]:
    """Files that existed before and were modified or removed."""
    return [str(p) for p, digest in before.items() if after.get(p) != digest]


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "64k", read_only: bool = False, fill: bool = False) -> Iterator[Path]:
    """A small tmpfs at `path` (read-only, or filled to the last byte); skips the test where mount is not allowed."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        if fill:
            with contextlib.suppress(OSError), (path / "filler").open("wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
