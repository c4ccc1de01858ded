"""No-context baselines: what a score is worth without spatial reasoning (constant, per-row median, per-pixel).

constant: the train median everywhere. row_median: each image row's train median (camera geometry alone).
pixel: a gradient-boosted regressor of log depth from one pixel's RGB and its (row, column), fitted on sampled
train pixels (no neighbourhood, no shapes, no perspective cues; features and sampling: baselines/features.py).
All are scored on a split with DepthMetrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from torch import Tensor
from torch.utils.data import DataLoader

from depthlab.baselines.features import Predictor, predictor, sample_pixels
from depthlab.data.base import DepthDataModule
from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.protocol import EvalProtocol
from depthlab.ops.masked import masked_median

BASELINES = ("constant", "row_median", "pixel")


def _samples(datamodule: DepthDataModule, split: str, limit: int) -> Iterator[dict[str, Tensor]]:
    """The first `limit` samples of a split, as the module's transform gives them."""
    dataset = datamodule.dataset(split)
    for i in range(min(limit, len(dataset))):
        yield dataset[i]


def constant(datamodule: DepthDataModule, max_train: int = 200, split: str = "train") -> Predictor:
    """The median valid depth of (the first max_train samples of) the train split everywhere."""
    values = torch.cat([s["depth"][s["valid"]] for s in _samples(datamodule, split, max_train)])
    median = masked_median(values.view(1, 1, 1, -1), torch.ones_like(values, dtype=torch.bool).view(1, 1, 1, -1))
    return lambda batch: torch.full_like(batch["depth"], float(median))


def row_median(datamodule: DepthDataModule, max_train: int = 200) -> Predictor:
    """Per image row, the median valid train depth of that row (rows without one: the global median)."""
    samples = list(_samples(datamodule, "train", max_train))
    depth, valid = (torch.stack([s[key][0] for s in samples]).transpose(0, 1).flatten(1) for key in ("depth", "valid"))
    per_row = masked_median(depth[:, None, None], valid[:, None, None]).flatten()  # [H]: rows as "images"
    overall = masked_median(depth.reshape(1, 1, 1, -1), valid.reshape(1, 1, 1, -1)).flatten()
    per_row = torch.where(valid.any(1), per_row, overall)

    def predict(batch: dict[str, Tensor]) -> Tensor:
        size, height, width = batch["depth"].shape[0], *batch["depth"].shape[-2:]
        rows = per_row[(torch.arange(height) * len(per_row)) // height]  # nearest train row at another height
        return rows.view(1, 1, height, 1).expand(size, 1, height, width).clone()

    return predict


def pixel_regressor(
    datamodule: DepthDataModule, max_train: int = 200, pixels: int = 200_000, seed: int = 0
) -> Predictor:
    """Log depth from one pixel's colour and position, fitted on ~`pixels` valid pixels of the first train images.

    The searched variant (families, grids, CV by image): `python -m depthlab.baselines.pixel` (baselines/).
    """
    images = range(min(max_train, len(datamodule.dataset("train"))))
    sample = sample_pixels(datamodule, images, max(1, pixels // max(1, len(images))), "rgb_pos", seed)
    model = HistGradientBoostingRegressor(max_iter=200, random_state=seed).fit(sample.x, sample.y)
    return predictor(model, datamodule, "rgb_pos")


BUILDERS: dict[str, Callable[..., Predictor]] = {
    "constant": constant,
    "row_median": row_median,
    "pixel": pixel_regressor,
}


def split_median(datamodule: DepthDataModule, split: str) -> Predictor:
    """The scored split's own median valid depth everywhere: an oracle constant for sets without a train split
    (under median alignment every constant scores exactly this)."""
    return constant(datamodule, max_train=10**9, split=split)


def score(
    predict: Predictor,
    datamodule: DepthDataModule,
    split: str = "val",
    protocol: EvalProtocol | None = None,
    metrics: DepthMetrics | None = None,
) -> dict[str, float]:
    """Metrics of a baseline on a split, through the run's protocol (alignment, crop) when one is given.

    Without `metrics`, DepthMetrics with the dataset's depth range as the SSIM range, as the model's (no SSIM on
    sparse targets, as for the model: models/sparse_checks.py).
    """
    if metrics is None:
        sparse = bool(datamodule.dataset(split)[0].get("meta", {}).get("sparse", False))
        metrics = DepthMetrics(ssim_range=datamodule.max_depth, ssim=not sparse)
    for batch in DataLoader(datamodule.dataset(split), batch_size=datamodule.eval_batch_size):
        pred, target, valid = predict(batch), batch["depth"], batch["valid"]
        if protocol is not None:
            pred, target, valid = protocol(pred, target, valid)
        metrics.update(pred, target, valid)
    return {k: float(v) for k, v in metrics.compute().items()}


def baselines(datamodule: DepthDataModule, split: str = "val", names: tuple[str, ...] = BASELINES) -> dict[str, float]:
    """{`<name>/<split>/<metric>`: value} of each named baseline."""
    out = {}
    for name in names:
        out |= {f"{name}/{split}/{k}": v for k, v in score(BUILDERS[name](datamodule), datamodule, split).items()}
    return out
