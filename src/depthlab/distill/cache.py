"""A label cache: `manifest.json` + one float32 `.npy` per image under `depth/`, mirroring the images' sub-folders.

Each `.npy` is the teacher's depth output at the image's own resolution (the network's output resized bilinearly,
as predict.py writes it), so the student reads image and label at one size. For output_kind relative_disparity the
file holds the teacher's disparity (larger = nearer), for metric teachers metres. The manifest records the teacher
(its file or model config, sha256, output_kind, provenance), the labelling options, the image source and list and
the depthlab version; a cache belongs to one teacher: another teacher is refused before anything is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from depthlab import __version__
from depthlab.utils.errors import DepthlabError

MANIFEST = "manifest.json"
LABEL_DIR = "depth"
FORMAT_VERSION = 1


def read_manifest(cache: Path, key: str = "output") -> dict[str, Any] | None:
    """The manifest of a cache directory (None when the directory has none), one line when it is unreadable."""
    path = cache / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DepthlabError(f"{key}={cache}: {MANIFEST} is not readable JSON ({type(err).__name__}); relabel") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise DepthlabError(f"{key}={cache}: {MANIFEST} was not written by this depthlab's distill.py; relabel")
    return manifest


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically: a temporary file moved into place, so a killed run never leaves half a manifest."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, indent=1, sort_keys=False) + "\n")
    os.replace(partial, path)


def save_label(path: Path, depth: np.ndarray) -> None:
    """One float32 label, atomically (a killed run leaves no truncated file that a re-run would reuse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.npy")
    np.save(partial, np.asarray(depth, dtype=np.float32))
    os.replace(partial, path)


def new_manifest(teacher: dict[str, Any], labelling: dict[str, Any], images: dict[str, Any]) -> dict[str, Any]:
    """A manifest before any label exists: what the cache's labels will be."""
    return {
        "format": FORMAT_VERSION,
        "depthlab_version": __version__,
        "teacher": teacher,
        "labelling": labelling,
        "images": images,
        "labels": {"dir": LABEL_DIR, "dtype": "float32", "resolution": "image", "files": []},
    }


def _differs(old: dict[str, Any], new: dict[str, Any], key: str) -> str | None:
    """The first sub-key whose value differs (None when equal)."""
    a, b = old.get(key) or {}, new.get(key) or {}
    return next((k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)), None)


def check_same_teacher(cache: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """A cache is extended only by its own teacher, with its own options and image source; else one line."""
    fix = f"pass another output= (or delete {cache} to relabel it)"
    if old["teacher"].get("sha256") != new["teacher"].get("sha256"):
        was = old["teacher"].get("path") or (old["teacher"].get("model") or {}).get("_target_", "a model config")
        raise DepthlabError(
            f"output={cache} holds labels of another teacher ({was}, sha256 {str(old['teacher'].get('sha256'))[:12]}); "
            f"nothing was overwritten: {fix}"
        )
    for section in ("labelling", "images"):
        key = _differs(old, new, section)
        if key is not None:
            raise DepthlabError(
                f"output={cache} was labelled with {section} {key}={old[section].get(key)!r}, not "
                f"{new[section].get(key)!r}; nothing was overwritten: use the same settings or {fix}"
            )


def check_empty(cache: Path) -> None:
    """A directory without a manifest is a label cache only when it is empty (never mix in foreign files)."""
    if cache.exists() and not cache.is_dir():
        raise DepthlabError(f"output={cache} is a file; pass a directory for the label cache")
    if cache.is_dir() and any(p.name != ".depthlab.lock" for p in cache.iterdir()):
        raise DepthlabError(
            f"output={cache} is not empty and holds no {MANIFEST}; pass a new or empty directory for the label cache"
        )
