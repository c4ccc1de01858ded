"""Where Hugging Face weights come from: a `save_pretrained` directory (offline) or a hub id (online, fail fast)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import try_to_load_from_cache
from transformers.utils import logging as hf_logging

from depthlab.models.hf_presets import LICENSES
from depthlab.models.nets import HUB_HOST, hub_reachable
from depthlab.utils.errors import DepthlabError

T = TypeVar("T")
hf_logging.disable_progress_bar()  # one bar per weight file is noise in training logs
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_LICENSE_LINE = re.compile(r"^license:\s*['\"]?([\w.\-]+)", re.MULTILINE)


def local_dir(ref: str) -> Path | None:
    """The directory `ref` names, None for a hub id; a path that is not a save_pretrained directory is refused."""
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DepthlabError(
                f"model.pretrained={ref} has no config.json: pass a directory written by save_pretrained "
                "(transformers), a hub id such as depth-anything/Depth-Anything-V2-Small-hf, or null"
            )
        return path.resolve()
    if ref.startswith(("/", "./", "../", "~")) or path.suffix or ref.count("/") != 1:
        raise DepthlabError(
            f"model.pretrained={ref} is neither an existing directory nor a hub id (owner/name); "
            "pass a save_pretrained directory, a hub id, or null (random weights)"
        )
    return None


def fetch(ref: str, load: Callable[..., T], what: str = "model.pretrained") -> T:
    """load(ref, local_files_only=...): the local copy or cache first, the hub only when it answers."""
    try:
        return load(ref, local_files_only=True)
    except OSError:
        if local_dir(ref) is not None:
            raise DepthlabError(f"{what}={ref} has no readable weights ({', '.join(WEIGHT_FILES[:2])})") from None
    if not hub_reachable():
        raise DepthlabError(
            f"{what}={ref} must be downloaded from {HUB_HOST}, which is unreachable: run once with network access "
            "to cache it, pass a save_pretrained directory, or set it to null (random weights)"
        )
    try:
        return load(ref, local_files_only=False)
    except OSError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DepthlabError(f"{what}={ref} could not be loaded from {HUB_HOST}: {first}") from None


def readme_license(path: Path | str | None) -> str | None:
    """The `license:` of a model card's YAML front matter."""
    if not path or not Path(path).is_file():
        return None
    match = _LICENSE_LINE.search(Path(path).read_text(encoding="utf-8", errors="replace")[:4000])
    return match.group(1) if match else None


def weights_digest(directory: Path) -> str:
    """sha256 (first 16 hex digits) of a directory's weight file: identifies local weights without a revision."""
    for name in WEIGHT_FILES:
        if (directory / name).is_file():
            digest = hashlib.sha256()
            with open(directory / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            return f"sha256:{digest.hexdigest()[:16]}"
    return ""


def provenance(ref: str, config: Any) -> dict[str, str]:
    """source (hub id or absolute path), revision (hub commit or weight digest) and licence of loaded weights."""
    directory = local_dir(ref)
    if directory is not None:
        name = str(getattr(config, "_name_or_path", "") or "")
        license_ = readme_license(directory / "README.md") or LICENSES.get(name)
        return {"source": str(directory), "revision": weights_digest(directory), "license": license_ or "unknown"}
    cached = try_to_load_from_cache(ref, "README.md")
    license_ = readme_license(cached if isinstance(cached, str) else None) or LICENSES.get(ref)
    revision = str(getattr(config, "_commit_hash", "") or "")
    return {"source": f"hf://{ref}", "revision": revision, "license": license_ or "unknown (see the model card)"}
