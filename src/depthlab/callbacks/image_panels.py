"""Val views every epoch: an RGB | GT | prediction | error | normals (| masks) panel and coloured point clouds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import default_collate
from torchvision.utils import save_image

from depthlab.callbacks.views import Views, normal_maps, sample_points
from depthlab.inference.geometry import write_ply
from depthlab.utils.errors import DepthlabError
from depthlab.utils.optional import optional
from depthlab.viz import depth_panel

PANEL_KEY, CLOUD_KEY = "val/panel", "val/point_cloud"


class ImagePanels(pl.Callback):
    """Render the same val samples every epoch so progress is visible; PNG / PLY on disk plus W&B / TensorBoard.

    The prediction is shown as the evaluation protocol scores it (resized, aligned for relative models, clipped).
    `normals` adds GT and predicted normal maps; `point_clouds` samples (0: off) are back-projected with their
    own intrinsics and camera, coloured by RGB, subsampled to `max_points`. `hfov_deg` is the assumed pinhole
    field of view of samples without intrinsics.
    """

    def __init__(
        self,
        num_samples: int = 4,
        every_n_epochs: int = 1,
        dirpath: str | None = None,
        normals: bool = True,
        point_clouds: int = 1,
        max_points: int = 20000,
        hfov_deg: float = 60.0,
    ) -> None:
        if num_samples < 0 or every_n_epochs < 1 or point_clouds < 0 or max_points < 1 or not 0 < hfov_deg < 180:
            raise DepthlabError(
                f"callbacks.image_panels: num_samples={num_samples} and point_clouds={point_clouds} must be >= 0, "
                f"every_n_epochs={every_n_epochs} and max_points={max_points} >= 1, hfov_deg={hfov_deg} in (0, 180)"
            )
        self.num_samples, self.every_n_epochs, self.dirpath = num_samples, every_n_epochs, dirpath
        self.normals, self.point_clouds, self.max_points = bool(normals), point_clouds, max_points
        self.hfov_deg = float(hfov_deg)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs or trainer.datamodule is None:
            return
        if not (self.num_samples or self.point_clouds):
            return
        if not getattr(getattr(pl_module, "net", None), "predicts_depth", True):
            return  # the panel's columns are depth maps: a mask-only network has none
        views = optional("the val views' prediction", lambda: self.predict(trainer.datamodule, pl_module))
        if views is None:
            return
        if self.num_samples:
            optional("the val image panel", lambda: self.log_panel(trainer, pl_module, views))
        if self.point_clouds:
            optional("the val point cloud", lambda: self.log_point_clouds(trainer, views))

    @torch.no_grad()
    def predict(self, datamodule: pl.LightningDataModule, pl_module: pl.LightningModule) -> Views:
        """Predict the first val samples once (eval mode) and score them with the module's protocol."""
        dataset = datamodule.dataset("val")
        count = min(max(self.num_samples, self.point_clouds), len(dataset))
        batch = default_collate([dataset[i] for i in range(count)])
        batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
        was_training = pl_module.training
        pl_module.eval()
        try:
            outputs = pl_module(batch)
            scored = getattr(pl_module, "scored", None)
            if callable(scored):
                pred, target, valid = scored(outputs, batch, "val")
            else:
                pred, target, valid = outputs["depth"], batch["depth"], batch["valid"]
        finally:
            pl_module.train(was_training)
        mask_prob = torch.sigmoid(outputs["mask_logits"]).cpu() if "mask_logits" in outputs else None
        cpu = {k: v.cpu() if torch.is_tensor(v) else v for k, v in batch.items()}
        rgb = datamodule.denormalize(batch["image"]).cpu()
        return Views(cpu, rgb, pred.float().cpu(), target.float().cpu(), valid.bool().cpu(), mask_prob)

    def columns(self, views: Views, alignment: str = "none") -> list[str]:
        """The panel's column titles, left to right (the caption)."""
        names = ["RGB", "ground truth", f"prediction as scored (alignment {alignment})", "abs error"]
        names += ["GT normals", "predicted normals"] if self.normals else []
        return names + (["GT mask", "predicted mask"] if views.mask_prob is not None else [])

    def make_panel(self, views: Views) -> torch.Tensor:
        """The panel tensor [3, N*H, C*W], C = 4 (+2 normals) (+2 masks): one row per sample."""
        n = self.num_samples
        target, valid, pred = views.target[:n], views.valid[:n], views.pred[:n]
        normals = None
        if self.normals:
            normals = (
                normal_maps(target, valid, views.batch, self.hfov_deg),
                normal_maps(pred, None, views.batch, self.hfov_deg),
            )
        mask = views.batch.get("mask")
        mask_prob = None if views.mask_prob is None else views.mask_prob[:n]
        return depth_panel(views.rgb[:n], target, pred, valid, None if mask is None else mask[:n], mask_prob, normals)

    def log_panel(self, trainer: pl.Trainer, pl_module: pl.LightningModule, views: Views) -> None:
        """Render the panel, write its PNG and send it to the image-capable loggers."""
        panel = self.make_panel(views)
        alignment = getattr(getattr(pl_module, "protocol", None), "alignment", "none")
        caption, step = " | ".join(self.columns(views, alignment)), trainer.global_step
        if self.dirpath:
            path = Path(self.dirpath) / f"panel_epoch{trainer.current_epoch:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(panel, path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=PANEL_KEY, images=[panel], step=step, caption=[caption])
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(PANEL_KEY, panel, global_step=step)

    def make_point_clouds(self, views: Views) -> list[tuple[torch.Tensor, np.ndarray]]:
        """(points [N, 3], uint8 colours [N, 3]) of the first `point_clouds` samples' predictions."""
        count = min(self.point_clouds, len(views.pred))
        return [sample_points(views, i, self.max_points, self.hfov_deg) for i in range(count)]

    def log_point_clouds(self, trainer: pl.Trainer, views: Views) -> None:
        """Write points_epochNNN_i.ply and log the clouds as W&B Object3D / TensorBoard meshes."""
        clouds, step = self.make_point_clouds(views), trainer.global_step
        if self.dirpath:
            for i, (points, colors) in enumerate(clouds):
                write_ply(Path(self.dirpath) / f"points_epoch{trainer.current_epoch:03d}_{i}.ply", points, colors)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.log({CLOUD_KEY: wandb_clouds(clouds), "trainer/global_step": step})
            elif isinstance(logger, TensorBoardLogger):
                for i, (points, colors) in enumerate(clouds):
                    vertices, rgb = points[None], torch.from_numpy(colors)[None]
                    logger.experiment.add_mesh(f"{CLOUD_KEY}_{i}", vertices=vertices, colors=rgb, global_step=step)


def wandb_clouds(clouds: list[tuple[torch.Tensor, np.ndarray]]) -> list[Any]:
    """wandb.Object3D from (N, 6) arrays: x, y, z and r, g, b in 0..255."""
    import wandb

    return [wandb.Object3D(np.concatenate([p.numpy(), c.astype(np.float32)], axis=1)) for p, c in clouds]
