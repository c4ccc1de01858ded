"""Freeze the encoder for the first epochs of a run (model.freeze_encoder, model.unfreeze_at_epoch)."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning
from lightning.pytorch.utilities import rank_zero_info
from torch.optim import Optimizer


class EncoderFreeze(BaseFinetuning):
    """Lightning's finetuning hooks around DepthNet.set_encoder_trainable.

    Unlike BackboneFinetuning, no param group is added on unfreezing: the encoder already has its own group
    (learning rate x model.encoder_lr_mult) from configure_optimizers, so LR schedules cover it from step 0, and
    while frozen its parameters get no gradient, which every torch optimizer skips (no update, no weight decay).
    Frozen normalisation layers stay in eval mode, so their running statistics do not move either.
    """

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        if net.freeze_encoder:
            net.set_encoder_trainable(False)

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        net = pl_module.net
        if net.encoder_frozen and net.unfreeze_at_epoch is not None and epoch >= net.unfreeze_at_epoch:
            net.set_encoder_trainable(True)
            rank_zero_info(f"epoch {epoch}: encoder unfrozen (model.unfreeze_at_epoch={net.unfreeze_at_epoch})")
