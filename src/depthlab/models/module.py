"""The one LightningModule: network, loss and metrics come from config; training logic lives only here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics import Metric

from depthlab.callbacks.finetuning import EncoderFreeze
from depthlab.metrics.mask import MaskMetrics
from depthlab.metrics.protocol import EvalProtocol
from depthlab.models.compat import check_label_kind, check_sample
from depthlab.models.nonfinite import FIXES, NonFiniteGuard
from depthlab.models.param_groups import build_optimizer
from depthlab.models.sources import SourceScoring
from depthlab.models.sparse_checks import check_sparse
from depthlab.models.tta import maybe_flip_average
from depthlab.utils.errors import DepthlabError, NonFiniteLossError

Batch = dict[str, Any]


class DepthModule(pl.LightningModule):
    """Train, validate and test any depth network with any composite loss; log {split}/{metric}."""

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        metrics: Metric,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        monitor: str = "val/rmse",
        protocol: EvalProtocol | None = None,
        train_metrics_every: int = 1,
        nan_policy: str = "stop",
        nan_max_skips: int = 10,
    ) -> None:
        super().__init__()
        if train_metrics_every < 1:
            raise DepthlabError(f"train_metrics_every={train_metrics_every} must be at least 1 (1: every batch)")
        self.net, self.loss = net, loss
        # one metric state per split (attributes, since ModuleDict keys may not shadow Module.train)
        self.train_metrics, self.val_metrics, self.test_metrics = (deepcopy(metrics) for _ in range(3))
        # IoU / Dice, updated only for multi-task nets on datasets with masks
        self.train_mask_metrics, self.val_mask_metrics, self.test_mask_metrics = (MaskMetrics() for _ in range(3))
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_interval, self.monitor = scheduler_interval, monitor
        self.run_config: dict | None = None  # the resolved Hydra config, embedded in checkpoints
        self.protocol = protocol  # crop / alignment / clipping / flip TTA before the metric update (None: raw)
        self.train_metrics_every = train_metrics_every  # train metrics are a running estimate: every Nth batch
        self.guard = NonFiniteGuard(nan_policy, nan_max_skips)
        self.predicts_depth = getattr(net, "predicts_depth", True)  # mask-only nets log no depth metric
        self.valid_pixels = {"val": 0, "test": 0}  # this rank's scored pixels: tells "no valid pixel" from NaN output
        self.sources: SourceScoring | None = None  # data=mix: per-source protocol and metrics of each eval loader
        # callbacks shown each val batch as scored (callbacks/ranked_images.py); empty unless one asks this epoch
        self.scored_listeners: list[Callable[..., None]] = []

    def setup(self, stage: str) -> None:
        """A mixture (datamodule.eval_sources()) is scored source by source: val/<source>/<metric> + the mean."""
        eval_sources = getattr(getattr(self.trainer, "datamodule", None), "eval_sources", None)
        self.sources = SourceScoring(eval_sources(), self.protocol, self.val_metrics) if eval_sources else None

    def split_metrics(self, split: str) -> Metric:
        """The metric accumulator of train, val or test."""
        return getattr(self, f"{split}_metrics")

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Run the network on the batch keys it consumes; outputs in float32 whatever the precision."""
        inputs = [batch[key] for key in getattr(self.net, "inputs", ("image",))]
        return {k: v.float() for k, v in self.net(*inputs).items()}

    def step(self, batch: Batch, split: str, score: bool = True, dataloader_idx: int = 0) -> torch.Tensor:
        """Shared train/val/test step: loss terms logged per step/epoch, metrics accumulated per epoch."""
        outputs = self(batch)
        losses = self.loss(outputs, batch)
        if split == "train":
            self.guard.check_loss(losses, self.global_step)
        elif self.sources is not None:
            return self.source_step(outputs, batch, losses, split, dataloader_idx)
        on_step = split == "train"
        bs = batch["image"].shape[0]
        self.log(
            f"{split}/loss",
            losses["loss"],
            on_step=on_step,
            on_epoch=True,
            prog_bar=True,
            batch_size=bs,
            sync_dist=split != "train",
        )
        terms = {f"{split}/loss_{k}": v for k, v in losses.items() if k != "loss"}
        self.log_dict(terms, on_step=False, on_epoch=True, batch_size=bs, sync_dist=split != "train")
        if not score:
            return losses["loss"]
        with torch.no_grad():
            if self.predicts_depth:
                pred, target, valid = self.scored(outputs, batch, split)
                self.split_metrics(split).update(pred, target, valid)
                self.notify(split, pred, target, valid, batch, dataloader_idx)
                if split in self.valid_pixels:
                    self.valid_pixels[split] += int(valid.sum())
            if "mask_logits" in outputs and "mask" in batch:
                getattr(self, f"{split}_mask_metrics").update(outputs["mask_logits"].detach(), batch["mask"])
        return losses["loss"]

    def source_step(
        self, outputs: dict[str, torch.Tensor], batch: Batch, losses: dict[str, torch.Tensor], split: str, index: int
    ) -> torch.Tensor:
        """A mixture's val / test batch: loss and metrics accumulate under its source (logged at epoch end)."""
        self.sources.loss(split, index).update(losses["loss"].detach(), weight=batch["image"].shape[0])
        if self.predicts_depth:
            with torch.no_grad():
                pred, target, valid = self.scored(outputs, batch, split, index)
                self.sources.metric(split, index).update(pred, target, valid)
                self.notify(split, pred, target, valid, batch, index)
        return losses["loss"]

    def notify(
        self,
        split: str,
        pred: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor,
        batch: Batch,
        dataloader_idx: int,
    ) -> None:
        """Hand a val batch as scored to the listening callbacks (none: nothing happens)."""
        if split == "val":
            for listener in self.scored_listeners:
                listener(self, pred, target, valid, batch, dataloader_idx)

    def scored(
        self, outputs: dict[str, torch.Tensor], batch: Batch, split: str, dataloader_idx: int = 0
    ) -> tuple[torch.Tensor, ...]:
        """(pred, target, valid) as the evaluation protocol scores them; flip TTA only on val / test."""
        pred = outputs["depth"].detach()
        protocol = self.protocol
        if self.sources is not None and split != "train":
            protocol = self.sources.protocols[dataloader_idx]  # the source's range, crop and alignment
        if protocol is None:
            return pred, batch["depth"], batch["valid"]
        if protocol.flip and split != "train":
            pred = maybe_flip_average(self, batch, enabled=True)["depth"]
        return protocol(pred, batch["depth"], batch["valid"])

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self.step(batch, "train", score=batch_idx % self.train_metrics_every == 0)

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self.step(batch, "val", dataloader_idx=dataloader_idx)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self.step(batch, "test", dataloader_idx=dataloader_idx)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Drop (nan_policy=skip) or stop at an update with NaN / inf gradients; AMP's grad scaler handles its own."""
        if getattr(self.trainer.precision_plugin, "scaler", None) is not None:
            return
        if self.guard.check_gradients(self.net, self.global_step):
            self.log("train/nan_skips", float(self.guard.skipped), on_step=True, on_epoch=False)

    def _log_metrics(self, split: str) -> None:
        """Compute the epoch's (rank-synced) metrics, log them under split/, reset."""
        if self.sources is not None and split != "train":
            values = self.sources.compute(split)
            self.log_dict({f"{split}/{k}": v for k, v in values.items()}, prog_bar=False, sync_dist=True)
            return
        if self.predicts_depth:
            values = self.split_metrics(split).compute()
            if split in self.valid_pixels:
                self._check_scored(split, values)
            # values are already equal on every rank; sync_dist only averages equal numbers (and quiets Lightning)
            self.log_dict({f"{split}/{k}": v.float() for k, v in values.items()}, prog_bar=False, sync_dist=True)
            self.split_metrics(split).reset()
        mask_metrics = getattr(self, f"{split}_mask_metrics")
        if mask_metrics.updated:
            masks = mask_metrics.compute().items()
            self.log_dict({f"{split}/{k}": v.float() for k, v in masks}, prog_bar=False, sync_dist=True)
        mask_metrics.reset()

    def _check_scored(self, split: str, values: dict[str, torch.Tensor]) -> None:
        """One line instead of a table of NaN: the split had no valid pixel, or the predictions were not finite."""
        seen, self.valid_pixels[split] = self.valid_pixels[split], 0
        if not values or not all(bool(torch.isnan(v)) for v in values.values()):
            return
        if seen == 0:
            name = getattr(getattr(self.trainer, "datamodule", None), "name", "the dataset")
            raise DepthlabError(
                f"the {split} split of data={name} has no valid depth pixel, so every metric would be NaN; check "
                "data.min_depth / data.max_depth, data.depth_scale and the depth files (depthlab-check-data)"
            )
        raise NonFiniteLossError(f"every {split} prediction was NaN / inf, so no metric could be scored; {FIXES}")

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.optimizer_factory, self, self.net)
        if self.scheduler_factory is None:
            return optimizer
        kwargs = {}
        if "total_steps" in inspect.signature(self.scheduler_factory).parameters:
            steps = self.trainer.estimated_stepping_batches
            kwargs["total_steps"] = steps if self.scheduler_interval == "step" else self.trainer.max_epochs
        scheduler = self.scheduler_factory(optimizer=optimizer, **kwargs)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": self.scheduler_interval,
                "monitor": self.monitor,
            },
        }

    def configure_callbacks(self) -> list[pl.Callback]:
        """Encoder freezing comes with the network's config (model.freeze_encoder), not the callbacks group."""
        return [EncoderFreeze()] if getattr(self.net, "freeze_encoder", False) else []

    def check_data(self, datamodule: Any, split: str = "train") -> None:
        """Fail before training when the data's size or keys do not fit the network and loss (one-line errors)."""
        sample = datamodule.dataset(split)[0]
        self.net.check_input_size(*sample["image"].shape[-2:])
        name = getattr(datamodule, "name", type(datamodule).__name__)
        check_sample(self.net, self.loss, sample, name)
        check_label_kind(self.loss, getattr(datamodule, "label_kind", "metric"), name)
        check_sparse(self, sample, name)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.run_config is not None:
            checkpoint["depthlab_config"] = self.run_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.run_config = checkpoint.get("depthlab_config", self.run_config)
