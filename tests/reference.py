"""Independent NumPy versions of FIELD_NOTES section 1 and the real-pair manifest, shared by metric tests."""

from __future__ import annotations

import csv

import numpy as np
from conftest import REAL


def np_metrics(p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """FIELD_NOTES section 1 on 1-D arrays of valid pixels (pred floored at 1e-6 in logs and ratios)."""
    pc = np.maximum(p, 1e-6)
    e = np.log(pc) - np.log(g)
    ratio = np.maximum(g / pc, pc / g)
    out = {
        "abs_rel": np.mean(np.abs(g - p) / g),
        "sq_rel": np.mean((g - p) ** 2 / g),
        "rmse": np.sqrt(np.mean((g - p) ** 2)),
        "mse": np.mean((g - p) ** 2),
        "rmse_log": np.sqrt(np.mean(e**2)),
        "log10": np.mean(np.abs(np.log10(g) - np.log10(pc))),
        "silog": 100 * np.sqrt(max(np.mean(e**2) - np.mean(e) ** 2, 0.0)),
        "mae": np.mean(np.abs(g - p)),
    }
    out.update({f"delta{k}": np.mean(ratio < 1.25**k) for k in (1, 2, 3)})
    return {k: float(v) for k, v in out.items()}


def manifest_rows() -> list[dict[str, str]]:
    """The rows of ../shared/data/real/manifest.csv, or [] where the shared data is absent."""
    if not (REAL / "manifest.csv").is_file():
        return []
    with open(REAL / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))
