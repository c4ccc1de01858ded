"""The constant (train-median) depth predictor: the floor a model must beat to have learned anything."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from depthlab.data.base import DepthDataModule
from depthlab.metrics.depth import DepthMetrics


def train_median_depth(datamodule: DepthDataModule, max_samples: int = 200) -> float:
    """Median valid depth over the first training samples."""
    dataset = datamodule.dataset("train")
    values = []
    for i in range(min(max_samples, len(dataset))):
        sample = dataset[i]
        values.append(sample["depth"][sample["valid"]])
    return float(torch.cat(values).median())


def constant_baseline(datamodule: DepthDataModule, split: str = "val", max_train: int = 200) -> dict[str, float]:
    """Metrics of predicting the train median everywhere on a split."""
    median = train_median_depth(datamodule, max_train)
    metrics = DepthMetrics(ssim_range=datamodule.max_depth)
    loader = DataLoader(datamodule.dataset(split), batch_size=datamodule.eval_batch_size)
    for batch in loader:
        metrics.update(torch.full_like(batch["depth"], median), batch["depth"], batch["valid"])
    return {k: float(v) for k, v in metrics.compute().items()}
