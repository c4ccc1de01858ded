"""Readers shared by the real datasets: depth decoders (16-bit PNG/PGM, 8-bit, .npy, .pfm, JPEG), split lists.

RGB images are decoded by data/pixels.py, which predict shares.

Every reader names the file it could not read, so a corrupt sample in a 50k-image dataset is found at once.
"""

from __future__ import annotations

import csv
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from depthlab.utils.errors import DepthlabError

cv2.setNumThreads(1)  # loader workers parallelise across samples; OpenCV's own threads only oversubscribe
RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy", ".pfm", ".pgm", ".tif", ".tiff", ".jpeg", ".jpg")


def read_gray(path: str | Path) -> np.ndarray:
    """A single-channel image (mask, 8/16-bit depth, PGM) with its stored integer dtype."""
    array = imread(path)
    return array[..., 0] if array.ndim == 3 else array


def imread(path: str | Path) -> np.ndarray:
    """A file's stored pixels (cv2 order, dtype and channels kept; EXIF ignored), failing with the file's name."""
    path = Path(path)
    if not path.is_file():
        raise DepthlabError(f"{path} does not exist; check data.root and the split file that lists it")
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise DepthlabError(f"{path} is not a readable image (corrupt or truncated?); re-extract or remove it")
    return array


def read_npy(path: str | Path) -> np.ndarray:
    """A float depth map from .npy, squeezed to 2-D (DIODE stores (H, W, 1))."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DepthlabError(f"{path} does not exist; check data.root and the split file that lists it") from None
    except Exception as err:
        raise DepthlabError(f"{path} is not a readable .npy array ({type(err).__name__}); re-extract it") from None
    return np.squeeze(array, axis=-1) if array.ndim == 3 and array.shape[-1] == 1 else array


def read_pfm(path: str | Path) -> np.ndarray:
    """A single-channel PFM (rows stored bottom-up, endianness from the sign of the scale line)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            kind = f.readline().strip()
            dims = re.findall(rb"\d+", f.readline())
            scale = float(f.readline().strip())
            data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
        channels = {b"Pf": 1, b"PF": 3}[kind]
        width, height = int(dims[0]), int(dims[1])
        array = data[: width * height * channels].reshape(height, width, channels)[::-1, :, 0]
    except FileNotFoundError:
        raise DepthlabError(f"{path} does not exist; check data.root and the split file that lists it") from None
    except Exception as err:
        raise DepthlabError(f"{path} is not a readable PFM file ({type(err).__name__}); re-export it") from None
    return np.ascontiguousarray(array, dtype=np.float32)


def write_pfm(path: str | Path, depth: np.ndarray) -> None:
    """Write a single-channel little-endian PFM (the inverse of read_pfm; for fixtures and exports)."""
    depth = np.asarray(depth, dtype="<f4")
    with Path(path).open("wb") as f:
        f.write(b"Pf\n%d %d\n-1.0\n" % (depth.shape[1], depth.shape[0]))
        f.write(np.ascontiguousarray(depth[::-1]).tobytes())


def read_depth_array(path: str | Path) -> np.ndarray:
    """The stored values of a depth file by extension: integers from images, floats from .npy / .pfm."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_npy(path)
    if suffix == ".pfm":
        return read_pfm(path)
    return read_gray(path)


def decode_depth(
    path: str | Path, scale: float | None = None, invalid_value: float | None = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(metres = value / scale as float32, valid) of one depth file; scale None = 1000 for 16-bit, 1 for floats."""
    raw = read_depth_array(path)
    if scale is None and raw.dtype == np.uint8:  # 255 steps: millimetres cannot be meant, and no scale is standard
        raise DepthlabError(
            f"{path} is an 8-bit depth map whose scale is ambiguous; "
            "pass data.depth_scale=<units per metre> (e.g. 25.5 when 255 = 10 m)"
        )
    if scale is None:
        scale = 1000.0 if np.issubdtype(raw.dtype, np.integer) else 1.0
    depth = raw.astype(np.float32) / np.float32(scale)
    valid = np.isfinite(depth)
    if invalid_value is not None:
        valid &= raw != invalid_value
    return depth, valid


def read_binary_mask(path: str | Path, threshold: float = 0.5) -> np.ndarray:
    """A {0, 1} float32 mask thresholded at half range (JPEG masks carry compression noise around 0 and 255)."""
    raw = read_gray(path)
    top = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
    return (raw.astype(np.float32) > threshold * top).astype(np.float32)


def read_lines(path: str | Path) -> list[list[str]]:
    """The fields of each non-empty, non-comment line of a list file (see `split_fields`)."""
    path = Path(path)
    if not path.is_file():
        raise DepthlabError(f"split file {path} does not exist; set the data config's *_list keys or null them")
    return [split_fields(line) for line in map(str.strip, path.read_text().splitlines()) if line and line[0] != "#"]


def split_fields(line: str) -> list[str]:
    """Tab-separated if a tab occurs, else comma-separated (CSV quoting), else words with shell quoting.

    File names with spaces therefore work as `"a b.png" "a b_depth.png"`, `a b.png,a b_depth.png` or tab-separated.
    """
    if "\t" in line:
        return [field.strip() for field in line.split("\t") if field.strip()]
    fields = next(csv.reader([line], skipinitialspace=True))
    if len(fields) > 1:
        return [field.strip() for field in fields]
    if "'" in line or '"' in line:
        try:
            return shlex.split(line)
        except ValueError:  # an unbalanced quote is part of a name (kid's_room.png): words as before
            pass
    return line.split()


def find_with_suffix(stem_path: Path, suffixes: Iterable[str], default: Path | None = None) -> Path | None:
    """The first existing `stem_path + suffix` (each suffix tried lower and upper case), else `default`."""
    for suffix in suffixes:
        for ext in (suffix, suffix.upper()):
            candidate = stem_path.with_name(stem_path.name + ext)
            if candidate.is_file():
                return candidate
    return default


def check_same_size(rgb: np.ndarray, other: np.ndarray, rgb_path: Path | str, other_path: Path | str) -> None:
    """Raise naming both files when an RGB image and its depth / mask differ in size."""
    if rgb.shape[:2] != other.shape[:2]:
        raise DepthlabError(
            f"size mismatch: {rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but {other_path} is "
            f"{other.shape[1]}x{other.shape[0]} (W x H); fix or remove the pair"
        )
