"""Log an RGB | GT | prediction | error (| GT mask | predicted mask) panel of fixed val samples every epoch."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import default_collate
from torchvision.utils import save_image

from depthlab.utils.optional import optional
from depthlab.viz import depth_panel


class ImagePanels(pl.Callback):
    """Render the same val samples every epoch so progress is visible; PNG on disk plus W&B / TensorBoard."""

    def __init__(self, num_samples: int = 4, every_n_epochs: int = 1, dirpath: str | None = None) -> None:
        self.num_samples, self.every_n_epochs, self.dirpath = num_samples, every_n_epochs, dirpath

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs or trainer.datamodule is None:
            return
        if not getattr(getattr(pl_module, "net", None), "predicts_depth", True):
            return  # the panel's columns are depth maps: a mask-only network has none
        optional("the val image panel", lambda: self.log_panel(trainer, pl_module))

    def log_panel(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Render the panel, write its PNG and send it to the image-capable loggers."""
        panel = self.make_panel(trainer.datamodule, pl_module)
        caption = "RGB | ground truth | prediction | abs error (same metric scale)"
        if getattr(getattr(pl_module, "net", None), "predicts_mask", False):
            caption += " | GT mask | predicted mask"
        key, step = "val/panel", trainer.global_step
        if self.dirpath:
            path = Path(self.dirpath) / f"panel_epoch{trainer.current_epoch:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(panel, path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(
                    key=key,
                    images=[panel],
                    step=step,
                    caption=[caption],
                )
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(key, panel, global_step=step)

    @torch.no_grad()
    def make_panel(self, datamodule: pl.LightningDataModule, pl_module: pl.LightningModule) -> torch.Tensor:
        """Predict the first val samples and build the panel tensor [3, N*H, 4W] (6W with the mask columns)."""
        dataset = datamodule.dataset("val")
        count = min(self.num_samples, len(dataset))
        batch = default_collate([dataset[i] for i in range(count)])
        batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
        was_training = pl_module.training
        pl_module.eval()
        outputs = pl_module(batch)
        pl_module.train(was_training)
        rgb = datamodule.denormalize(batch["image"])
        mask_prob = torch.sigmoid(outputs["mask_logits"]) if "mask_logits" in outputs else None
        return depth_panel(rgb, batch["depth"], outputs["depth"], batch["valid"], batch.get("mask"), mask_prob)
