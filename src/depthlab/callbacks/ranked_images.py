"""The k worst and k best val images by per-image abs_rel, as one W&B table (and a CSV + PNGs for other loggers)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor
from torchvision.utils import save_image

from depthlab.metrics.functional import per_image_metrics
from depthlab.utils.errors import DepthlabError
from depthlab.utils.optional import optional
from depthlab.viz import colorize

TABLE_KEY = "val/ranked_images"
METRICS = ("abs_rel", "rmse", "delta1", "silog")
IMAGES = ("rgb", "gt", "pred", "abs_error")
COLUMNS = ["rank_kind", "rank", "dataset", "index", "epoch", *IMAGES, *METRICS]


@dataclass
class Ranked:
    """One kept val image: its per-image metrics and small CPU thumbnails (all the table needs)."""

    metrics: dict[str, float]
    dataset: str
    index: int
    rgb: Tensor  # [3, h, w] in [0, 1]
    target: Tensor  # [1, h, w] metres, 0 where not scored
    pred: Tensor  # [1, h, w] as scored (protocol-aligned)
    valid: Tensor  # [1, h, w] bool

    def images(self) -> dict[str, Tensor]:
        """RGB, GT, prediction and |error| as [3, h, w] in [0, 1]; depth maps share the image's GT range."""
        valid = self.valid[None]
        vmax = float(self.target[self.valid].max()) if self.valid.any() else float(self.pred.max())
        gt = colorize(self.target[None], 0.0, vmax, valid=valid)[0]
        pred = colorize(self.pred[None], 0.0, vmax)[0]
        error = colorize((self.pred - self.target).abs()[None], 0.0, vmax, cmap="hot", valid=valid)[0]
        return {"rgb": self.rgb, "gt": gt, "pred": pred, "abs_error": error}


class TopK:
    """The k largest (worst) or k smallest (best) abs_rel seen so far; only newcomers get thumbnails."""

    def __init__(self, k: int, worst: bool) -> None:
        self.k, self.worst, self.kept = k, worst, []

    def admits(self, scores: Tensor) -> Tensor:
        """Which of a batch's scores would enter the current top k (a superset: ties and in-batch rivals pass)."""
        if len(self.kept) < self.k:
            return torch.ones_like(scores, dtype=torch.bool)
        bound = self.kept[-1].metrics["abs_rel"]
        return scores > bound if self.worst else scores < bound

    def add(self, entries: list[Ranked]) -> None:
        """Merge and keep the k most extreme, worst first (or best first)."""
        merged = sorted(self.kept + entries, key=lambda e: e.metrics["abs_rel"], reverse=self.worst)
        self.kept = merged[: self.k]


class RankedImages(pl.Callback):
    """Rank every val image of an epoch by abs_rel as the protocol scores it; log the k worst and k best.

    Every `every_n_epochs` validation epoch (0: off), the module's scored (protocol-aligned) prediction of each
    val batch is scored per image with depthlab.metrics.per_image_metrics; only the `num_worst` / `num_best`
    extremes are kept, as thumbnails at most `thumbnail` pixels on a side. At epoch end one wandb.Table goes
    to `val/ranked_images` and, with `dirpath`, the same rows to epochNNN.csv + PNGs. Images with fewer than the
    metric's min_valid pixels or a non-finite score are not ranked; mask-only networks are skipped. Under DDP
    rank 0 ranks and logs its own shard of the val set only.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_worst: int = 4,
        num_best: int = 4,
        thumbnail: int = 128,
        dirpath: str | None = None,
    ) -> None:
        if every_n_epochs < 0 or num_worst < 0 or num_best < 0 or thumbnail < 8:
            raise DepthlabError(
                f"callbacks.ranked_images: every_n_epochs={every_n_epochs}, num_worst={num_worst} and "
                f"num_best={num_best} must be >= 0 (0: off) and thumbnail={thumbnail} >= 8"
            )
        self.every_n_epochs, self.num_worst, self.num_best = every_n_epochs, num_worst, num_best
        self.thumbnail, self.dirpath = thumbnail, dirpath
        self.ranks: tuple[TopK, TopK] | None = None
        self.datamodule: Any = None

    def enabled(self) -> bool:
        """Any interval and any count: otherwise the callback never registers and costs nothing."""
        return self.every_n_epochs > 0 and (self.num_worst + self.num_best) > 0

    def active(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        """Rank this validation epoch: enabled, on the interval, rank 0, a depth network that publishes scores."""
        return (
            self.enabled()
            and not trainer.sanity_checking
            and trainer.current_epoch % self.every_n_epochs == 0
            and trainer.is_global_zero
            and getattr(pl_module, "predicts_depth", False)
            and hasattr(pl_module, "scored_listeners")
        )

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.ranks = None
        if self.active(trainer, pl_module):
            self.ranks = (TopK(self.num_worst, worst=True), TopK(self.num_best, worst=False))
            self.datamodule = trainer.datamodule
            pl_module.scored_listeners.append(self.observe)

    def observe(
        self, pl_module: pl.LightningModule, pred: Tensor, target: Tensor, valid: Tensor, batch: dict, index: int
    ) -> None:
        """A val batch as scored; a failure stops this epoch's ranking (one warning), never the run."""
        if self.ranks is None:
            return
        done = optional("the ranked val images", lambda: self.rank(pl_module, pred, target, valid, batch, index))
        if done is None:
            self.ranks = None

    def rank(
        self, pl_module: pl.LightningModule, pred: Tensor, target: Tensor, valid: Tensor, batch: dict, index: int
    ) -> bool:
        """Score one val batch per image (as DepthMetrics does) and keep the thumbnails of new extremes."""
        metric = pl_module.sources.metric("val", index) if pl_module.sources is not None else pl_module.val_metrics
        values = per_image_metrics(pred, target, valid, min_valid=getattr(metric, "min_valid", 10), ssim=False)
        scores = values["abs_rel"].cpu()
        finite = torch.stack([values[k].cpu() for k in METRICS]).isfinite().all(0)
        wanted = torch.zeros_like(finite)
        for top in self.ranks:
            if top.k:
                wanted |= top.admits(scores)
        chosen = (wanted & finite).nonzero().flatten().tolist()
        if not chosen:
            return True
        dataset = pl_module.sources.names[index] if pl_module.sources is not None else None
        entries = self.thumbnails(chosen, values, pred, target, valid, batch, dataset)
        for top in self.ranks:
            if top.k:
                top.add([e for e, ok in zip(entries, top.admits(scores[chosen]), strict=True) if ok])
        return True

    def thumbnails(
        self,
        chosen: list[int],
        values: dict[str, Tensor],
        pred: Tensor,
        target: Tensor,
        valid: Tensor,
        batch: dict,
        dataset: str | None,
    ) -> list[Ranked]:
        """Ranked entries of the chosen images: metrics, names and thumbnails on the CPU."""
        idx = torch.tensor(chosen, device=pred.device)
        size = target.shape[-2:]
        scale = min(1.0, self.thumbnail / max(size))
        small = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        image = batch["image"][idx]
        denormalize = getattr(self.datamodule, "denormalize", None)
        rgb = denormalize(image) if callable(denormalize) else image.clamp(0, 1)
        rgb = F.interpolate(rgb.float(), size=small, mode="bilinear", align_corners=False, antialias=True)
        maps = [F.interpolate(m[idx].float(), size=small, mode="nearest") for m in (target, pred, valid)]
        meta = batch.get("meta") or {}
        entries = []
        for j, i in enumerate(chosen):
            entries.append(
                Ranked(
                    metrics={k: float(values[k][i]) for k in METRICS},
                    dataset=dataset or str(_item(meta.get("dataset"), i, getattr(self.datamodule, "name", "val"))),
                    index=int(_item(meta.get("index"), i, -1)),
                    rgb=rgb[j].clamp(0, 1).cpu(),
                    target=maps[0][j].cpu(),
                    pred=maps[1][j].cpu(),
                    valid=maps[2][j].bool().cpu(),
                )
            )
        return entries

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.observe in getattr(pl_module, "scored_listeners", []):
            pl_module.scored_listeners.remove(self.observe)
        if self.ranks is None:
            return
        rows = [("worst", r, e) for r, e in enumerate(self.ranks[0].kept, 1)]
        rows += [("best", r, e) for r, e in enumerate(self.ranks[1].kept, 1)]
        self.ranks, epoch = None, trainer.current_epoch
        if not rows:
            return
        if self.dirpath:
            optional("the ranked val images on disk", lambda: write_csv(Path(self.dirpath), epoch, rows))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                optional("the ranked val images table", lambda lg=logger: log_table(lg, trainer, rows))


Row = tuple[str, int, Ranked]


def _item(values: Any, i: int, default: Any) -> Any:
    """Sample i of a collated meta field (a list or a tensor), or the default when the batch has none."""
    if values is None:
        return default
    value = values[i] if isinstance(values, list | tuple | Tensor) else values
    return value.item() if isinstance(value, Tensor) else value


def _uint8(image: Tensor) -> np.ndarray:
    """[3, h, w] in [0, 1] as HWC uint8 (what wandb.Image stores losslessly)."""
    return (image.permute(1, 2, 0) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def log_table(logger: WandbLogger, trainer: pl.Trainer, rows: list[Row]) -> None:
    """One wandb.Table under val/ranked_images: names, wandb.Image columns and sortable metric numbers."""
    import wandb

    data = []
    for kind, rank, entry in rows:
        images = [wandb.Image(_uint8(img)) for img in entry.images().values()]
        metrics = [entry.metrics[k] for k in METRICS]
        data.append([kind, rank, entry.dataset, entry.index, trainer.current_epoch, *images, *metrics])
    table = wandb.Table(columns=COLUMNS, data=data)
    logger.experiment.log({TABLE_KEY: table, "trainer/global_step": trainer.global_step})


def write_csv(dirpath: Path, epoch: int, rows: list[Row]) -> Path:
    """epochNNN.csv (image columns: PNG paths relative to dirpath) and its PNGs under epochNNN/."""
    folder = dirpath / f"epoch{epoch:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = dirpath / f"epoch{epoch:03d}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for kind, rank, entry in rows:
            names = []
            for column, image in entry.images().items():
                png = folder / f"{kind}{rank}_{column}.png"
                save_image(image, png)
                names.append(str(png.relative_to(dirpath)))
            writer.writerow(
                [kind, rank, entry.dataset, entry.index, epoch, *names, *(entry.metrics[k] for k in METRICS)]
            )
    return path
