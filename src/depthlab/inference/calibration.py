"""Real samples of the checkpoint's own dataset: int8 calibration and the PyTorch-vs-exported metric comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor

from depthlab.data.pixels import denormalize
from depthlab.utils.errors import DepthlabError


@dataclass(frozen=True)
class Batch:
    """RGB in [0, 1] (what exported models take) with its ground truth, at the export size."""

    image: Tensor
    depth: Tensor
    valid: Tensor


def dataset_batches(config: dict[str, Any], split: str, samples: int, height: int, width: int) -> list[Batch]:
    """The first `samples` samples of a split of the run's data config, resized to height x width (no workers)."""
    if not config.get("data"):
        raise DepthlabError("the checkpoint has no data config to draw samples from; re-train with depthlab")
    data = OmegaConf.merge(
        OmegaConf.create(config["data"]), {"height": height, "width": width, "num_workers": 0, "eval_batch_size": 4}
    )
    datamodule = instantiate(data)
    try:
        dataset = datamodule.dataset(split)
    except FileNotFoundError as err:
        raise DepthlabError(
            f"cannot read the {split} split of the checkpoint's dataset ({err}); check data.root"
        ) from None
    mean, std = datamodule.mean.view(1, 3, 1, 1), datamodule.std.view(1, 3, 1, 1)
    batches: list[Batch] = []
    count = min(samples, len(dataset))
    for start in range(0, count, 4):
        items = [dataset[i] for i in range(start, min(start + 4, count))]
        image = denormalize(torch.stack([s["image"] for s in items]).float(), mean, std).clamp(0, 1)
        depth, valid = (torch.stack([s[key] for s in items]) for key in ("depth", "valid"))
        batches.append(Batch(image, depth.float(), valid.bool()))
    return batches
