"""Finding input images, checking their headers, and writing PNG / NPY outputs (pixels: data/pixels.py)."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from depthlab.utils.errors import DepthlabError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def collect_inputs(spec: str | Iterable[str]) -> list[Path]:
    """Image paths from a file, a folder (its images, sorted), a glob, or a list of those; duplicates dropped."""
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    found: list[Path] = []
    for item in map(str, specs):
        if glob.has_magic(item):
            matches = [Path(p) for p in sorted(glob.glob(item, recursive=True)) if _is_image(Path(p))]
        elif Path(item).is_dir():
            matches = sorted(p for p in Path(item).iterdir() if _is_image(p))
        elif Path(item).is_file():
            matches = [Path(item)]
        else:
            raise DepthlabError(f"input={item} does not exist; pass an image, a folder of images or a quoted glob")
        if not matches:
            raise DepthlabError(f"input={item} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        found += matches
    return list(dict.fromkeys(p.resolve() for p in found))


def output_stems(paths: list[Path], root: Path | None = None) -> list[Path]:
    """Relative output stems mirroring the inputs' folders below `root` (default: their common parent), unique."""
    root = root or Path(os.path.commonpath([p.parent for p in paths]))
    stems = [p.relative_to(root).with_suffix("") for p in paths]
    if len(set(stems)) < len(stems):  # a.jpg beside a.png: keep the extension in the name
        stems = [p.relative_to(root).with_name(p.name.replace(".", "_")) for p in paths]
    return stems


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, failing with the file's name when it is not an image."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise DepthlabError(
            f"input image {path} is not a readable image ({type(err).__name__}); fix or remove it"
        ) from None
    return height, width


def write_png(path: Path, array: np.ndarray) -> None:
    """An 8-bit RGB / grey PNG from uint8, or a 16-bit grey PNG from uint16 (fast zlib level: encoding dominated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=1)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """[0, 1] float HWC -> uint8 HWC."""
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def depth_to_uint16(depth: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
    """Depth in metres -> uint16 units of 1/scale m (1000: millimetres), and how many pixels were clipped."""
    units = np.rint(np.nan_to_num(depth, nan=0.0, posinf=0.0) * scale)
    clipped = int((units > 65535).sum())
    return np.clip(units, 0, 65535).astype(np.uint16), clipped
