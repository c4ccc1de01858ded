"""`python distill.py teacher=<.ckpt|.onnx|.pt> images=<folder|synthetic:N> output=<cache>`: label images once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from depthlab.cli.app import run
from depthlab.cli.rundir import claim
from depthlab.distill.images import SYNTHETIC_DIR, folder_images, render_synthetic, synthetic_count, synthetic_settings
from depthlab.distill.label import claim_cache, label, open_cache
from depthlab.distill.teacher import open_teacher
from depthlab.inference.predictor import PredictOptions
from depthlab.utils.errors import DepthlabError

EXAMPLE = "python distill.py teacher=<run>/checkpoints/<best>.ckpt images=<folder or synthetic:N> output=<label dir>"


def distill_cli(cfg: DictConfig) -> dict[str, Any]:
    """Open the teacher, check the cache, find or render the images, label those without a label, print a summary."""
    for key in ("images", "output"):
        if OmegaConf.is_missing(cfg, key) or not cfg.get(key):
            raise DepthlabError(f"{key} is required: {EXAMPLE}")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    cache = Path(cfg.output).absolute()
    teacher = open_teacher(cfg)
    resolution = OmegaConf.to_container(cfg.resolution) if isinstance(cfg.resolution, ListConfig) else cfg.resolution
    options = PredictOptions(resolution=resolution, batch_size=int(cfg.batch_size), flip_tta=bool(cfg.flip_tta))
    count = synthetic_count(str(cfg.images))
    if count is None:
        root = Path(cfg.images).absolute()
        images, source = folder_images(root), {"source": "folder", "root": str(root)}
    else:
        root, settings = cache / SYNTHETIC_DIR, synthetic_settings(cfg.data)
        source = {"source": "synthetic", "root": SYNTHETIC_DIR, "synthetic": settings}
    manifest = open_cache(cache, teacher, options, source)  # another teacher is refused before anything is written
    claim(cache, key="output")  # one labelling process per cache (an flock the OS drops when the process dies)
    if count is not None:
        claim_cache(cache, manifest)
        images = render_synthetic(root, count, settings, max(1, int(cfg.data.get("prerender") or 1)))
    manifest = label(teacher, images, root, cache, options, manifest)
    total, new = len(manifest["labels"]["files"]), manifest["labels"]["labelled_now"]
    print(f"{total} images labelled by a {teacher.output_kind} teacher ({new} new, {total - new} reused) -> {cache}")
    print(f"train a student on them: python train.py experiment={_experiment(teacher.output_kind)} data.labels={cache}")
    return manifest


def _experiment(kind: str) -> str:
    """The recorded student recipe for a label kind."""
    return "distill" if kind == "metric" else "distill_relative"


def main() -> None:
    """`python distill.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("distill", distill_cli)
