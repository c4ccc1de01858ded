"""`python -m depthlab.baselines.pixel regressor=rf features=rgb data=...`: a searched per-pixel baseline, scored."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from threadpoolctl import threadpool_limits

from depthlab.baselines.features import FEATURES, predictor, sample_pixels, train_slice
from depthlab.baselines.search import candidates, grid_search, search_summary
from depthlab.cli.app import run
from depthlab.cli.common import report
from depthlab.metrics.baseline import score
from depthlab.utils.choices import check_choice


def pixel_baseline(cfg: DictConfig) -> dict[str, float]:
    """Sample train pixels, grid-search the regressors by image-grouped CV, score every val / test pixel.

    OpenMP / BLAS threads are capped at n_jobs: gradient boosting's threads otherwise stall a shared CPU (6x).
    """
    check_choice("features", cfg.features, FEATURES)
    with threadpool_limits(limits=max(1, int(cfg.n_jobs))):
        return _run(cfg)


def _run(cfg: DictConfig) -> dict[str, float]:
    """pixel_baseline under its thread cap."""
    start = time.perf_counter()
    datamodule = instantiate(cfg.data)
    images = train_slice(datamodule, int(cfg.slice), int(cfg.seed))
    sample = sample_pixels(datamodule, images, cfg.pixels_per_image, cfg.features, int(cfg.seed))
    found = candidates(cfg.regressor)
    search = grid_search(found, sample, int(cfg.cv), int(cfg.n_jobs))
    summary = search_summary(search, found) | {"features": cfg.features, "pixels": len(sample.y), "images": len(images)}
    Console().print(
        f"best of {summary['fits']} settings ({len(sample.y)} pixels of {len(images)} images, "
        f"{cfg.cv}-fold by image): {summary['best']} {summary['best_params']}"
    )
    predict = predictor(search.best_estimator_, datamodule, cfg.features)
    protocol = instantiate(cfg.protocol)
    metrics: dict[str, float] = {}
    for split in cfg.splits:
        scores = score(predict, datamodule, str(split), protocol, instantiate(cfg.metrics))
        metrics |= {f"{split}/{key}": value for key, value in scores.items()}
    summary["seconds"] = round(time.perf_counter() - start, 1)
    title = f"pixel baseline: {summary['best']} on {cfg.features} ({summary['seconds']} s)"
    report(metrics, cfg.paths.output_dir, title=title)
    write_summary(summary, cfg.paths.output_dir)
    return metrics


def write_summary(summary: dict[str, Any], output_dir: str | Path) -> Path:
    """search.json: the chosen family and setting, each family's best CV log-MSE, sizes and wall time."""
    path = Path(output_dir) / "search.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


def main() -> None:
    """The Hydra entry point (its run directory, outputs/baseline/runs/<time>, is claimed first)."""
    run("baseline", pixel_baseline, results=("metrics.json",))


if __name__ == "__main__":
    main()
