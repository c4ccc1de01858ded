"""Training options: frozen / unfrozen encoder, encoder LR multiplier, schedulers per param group, EMA, clipping."""

from __future__ import annotations

import math
from functools import partial

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from torch.utils.data import DataLoader

from depthlab.losses import CompositeLoss, L1Loss
from depthlab.metrics import DepthMetrics
from depthlab.models.module import DepthModule
from depthlab.models.nets import SmpDepthNet
from depthlab.models.schedulers import cosine_with_warmup, one_cycle, poly
from depthlab.utils.errors import DepthlabError


def tiny_module(optimizer=None, scheduler=None, **net_kwargs) -> DepthModule:
    optimizer = optimizer or partial(torch.optim.AdamW, lr=1e-3)
    net = SmpDepthNet("Unet", "tu-resnet10t", arch_kwargs={"decoder_channels": [16, 8, 8, 8, 8]}, **net_kwargs)
    return DepthModule(net, CompositeLoss({"l1": L1Loss()}, {"l1": 1.0}), DepthMetrics(), optimizer, scheduler)


def loader(n: int = 4) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    samples = [
        {
            "image": torch.randn(3, 32, 32, generator=g),
            "depth": torch.rand(1, 32, 32, generator=g) * 5 + 1,
            "valid": torch.ones(1, 32, 32, dtype=torch.bool),
        }
        for _ in range(n)
    ]
    return DataLoader(samples, batch_size=2)


def trainer(**kwargs) -> pl.Trainer:
    defaults = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return pl.Trainer(**(defaults | dict(enable_model_summary=False) | kwargs))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> list[str]:
    return [k for k, v in module.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]


class Snapshots(pl.Callback):
    """Encoder weights at every train epoch end."""

    def __init__(self) -> None:
        self.encoder: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.encoder.append(snapshot(pl_module.net.encoder))


def test_frozen_encoder_does_not_change_and_unfreezes_at_the_given_epoch():
    module = tiny_module(freeze_encoder=True, unfreeze_at_epoch=2)
    encoder0, decoder0 = snapshot(module.net.encoder), snapshot(module.net.net.decoder)
    snaps = Snapshots()
    trainer(max_epochs=3, callbacks=[snaps], limit_val_batches=0).fit(module, loader())
    assert changed(decoder0, module.net.net.decoder)  # the decoder trained from the first step
    for epoch in (0, 1):  # weights and BN running statistics untouched while frozen
        assert not [
            k for k, v in snaps.encoder[epoch].items() if v.is_floating_point() and not torch.equal(v, encoder0[k])
        ]
    moved = [k for k, v in snaps.encoder[2].items() if v.is_floating_point() and not torch.equal(v, encoder0[k])]
    assert any(k.endswith("weight") for k in moved) and any("running_mean" in k for k in moved)  # epoch 2 trains it
    assert all(p.requires_grad for p in module.net.encoder.parameters())


def test_encoder_stays_frozen_without_an_unfreeze_epoch():
    module = tiny_module(freeze_encoder=True)
    encoder0 = snapshot(module.net.encoder)
    trainer(max_epochs=2, limit_val_batches=0).fit(module, loader())
    assert not changed(encoder0, module.net.encoder)


def test_unfreeze_without_freeze_and_negative_multiplier_are_rejected():
    with pytest.raises(DepthlabError, match="unfreeze_at_epoch=2 needs model.freeze_encoder=true"):
        tiny_module(unfreeze_at_epoch=2)
    with pytest.raises(DepthlabError, match="encoder_lr_mult=-1.0 must be >= 0"):
        tiny_module(encoder_lr_mult=-1.0)


def test_encoder_lr_multiplier_makes_a_named_param_group():
    module = tiny_module(encoder_lr_mult=0.1)
    optimizer = module.configure_optimizers()
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["decoder"]["lr"] == pytest.approx(1e-3) and groups["encoder"]["lr"] == pytest.approx(1e-4)
    encoder = {id(p) for p in module.net.encoder.parameters()}
    assert {id(p) for p in groups["encoder"]["params"]} == encoder
    assert len(groups["decoder"]["params"]) + len(encoder) == len(list(module.parameters()))


def _lrs(scheduler_factory, steps: int) -> list[list[float]]:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": params[:1], "lr": 1.0}, {"params": params[1:], "lr": 0.1}], momentum=0.9)
    scheduler = scheduler_factory(optimizer, total_steps=steps)
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        # cosine: warm-up over 1 step from 1%, then 0.5 (1 + cos(pi t)) down to 1% of each group's lr
        (
            partial(cosine_with_warmup, warmup_fraction=0.1),
            [0.01, 1.0, 0.5 * (1 + math.cos(math.pi / 9)) * 0.99 + 0.01],
        ),
        (partial(poly, power=1.0), [1.0, 0.9, 0.8]),  # (1 - step / 10) ^ 1
        (partial(one_cycle, div_factor=25.0), [1.0 / 25.0]),  # starts at peak / div_factor
    ],
)
def test_schedules_scale_every_group_by_its_own_lr(factory, expected):
    lrs = _lrs(factory, 10)
    for step, value in enumerate(expected):
        assert lrs[step][0] == pytest.approx(value, rel=1e-6) and lrs[step][1] == pytest.approx(0.1 * value, rel=1e-6)
    if factory.func is one_cycle:
        assert max(lr[0] for lr in lrs) == pytest.approx(1.0, rel=1e-2)


def test_plateau_scheduler_clipping_and_ema_train_together():
    plateau = partial(torch.optim.lr_scheduler.ReduceLROnPlateau, mode="min", factor=0.5, patience=0)
    module = tiny_module(optimizer=partial(torch.optim.SGD, lr=0.05, momentum=0.9), scheduler=plateau)
    module.scheduler_interval = "epoch"
    ema, raw = EMAWeightAveraging(decay=0.5), RawWeights()
    fit = trainer(max_epochs=3, gradient_clip_val=0.1, callbacks=[raw, ema])  # raw's on_train_end runs first
    fit.fit(module, loader(), loader(2))
    config = fit.lr_scheduler_configs[0]
    assert isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (config.interval, config.monitor) == ("epoch", "val/rmse") and config.scheduler.last_epoch == 3
    assert math.isfinite(float(fit.callback_metrics["val/rmse"]))
    averaged = dict(ema._average_model.module.named_parameters())
    assert all(torch.equal(p, averaged[k]) for k, p in module.named_parameters())  # the final model is the EMA ...
    assert changed(raw.weights, module)  # ... not the last raw weights


class RawWeights(pl.Callback):
    """The weights as trained, before EMAWeightAveraging swaps in the average at the end of fit."""

    def on_train_end(self, trainer, pl_module) -> None:
        self.weights = snapshot(pl_module)
