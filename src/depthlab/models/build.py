"""Assemble the LightningModule from a composed config (used by train, eval and checkpoint loading)."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from depthlab.models.compat import check_net_and_loss
from depthlab.models.module import DepthModule
from depthlab.utils.errors import DepthlabError


def build_module(cfg: DictConfig | dict[str, Any]) -> DepthModule:
    """DepthModule(net=model, loss=loss, metrics=metrics, optimizer, scheduler, protocol) from config groups."""
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    scheduler = cfg.get("scheduler") or None
    protocol = cfg.get("protocol") or None  # absent in configs of checkpoints older than the protocol group
    check_learning_rate(cfg.get("optimizer"))
    net, loss = instantiate(cfg.model), instantiate(cfg.loss)
    check_net_and_loss(net, loss)
    protocol = protocol_for(protocol, getattr(net, "output_kind", "metric"))
    module = DepthModule(
        net=net,
        loss=loss,
        metrics=instantiate(cfg.metrics),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler.factory) if scheduler else None,
        scheduler_interval=scheduler.get("interval", "step") if scheduler else "step",
        monitor=cfg.get("monitor", "val/rmse"),
        protocol=instantiate(protocol) if protocol else None,
        train_metrics_every=cfg.get("train_metrics_every", 1),
        nan_policy=cfg.get("nan_policy", "stop"),
        nan_max_skips=cfg.get("nan_max_skips", 10),
    )
    module.run_config = net_run_config(cfg, net)  # embedded in every checkpoint it writes
    return module


def net_run_config(cfg: DictConfig, net: Any) -> dict[str, Any]:
    """The resolved config recorded with a network, with what its reload needs (weights it already holds)."""
    config = resolved_sections(cfg)
    if isinstance(config.get("model"), dict) and hasattr(net, "checkpoint_overrides"):
        config["model"].update(net.checkpoint_overrides())  # a reload downloads nothing
    return config


def protocol_for(protocol: DictConfig | None, output_kind: str) -> DictConfig | None:
    """A network that predicts affine-invariant disparity is scored in disparity space after a fit onto 1 / g."""
    if protocol is None or output_kind != "relative_disparity":
        return protocol
    protocol = protocol.copy()
    protocol.pred_space = "disparity"
    if protocol.get("alignment", "auto") in ("auto", "none"):
        protocol.alignment = "lstsq_disparity"
    return protocol


def check_learning_rate(optimizer: DictConfig | None) -> None:
    """A zero or negative learning rate trains nothing (or climbs the loss): refuse it before building anything."""
    lr = optimizer.get("lr") if optimizer else None
    if isinstance(lr, int | float) and not lr > 0:
        raise DepthlabError(f"optimizer.lr={lr} must be > 0 (typical: 1e-4 to 3e-3)")


def resolved_sections(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain resolved data; a section that only Hydra's runtime can resolve (paths) is left out."""
    out: dict[str, Any] = {}
    for key in cfg:
        try:
            out[str(key)] = (
                OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
            )
        except Exception:  # noqa: BLE001 - e.g. ${hydra:runtime.cwd} outside a Hydra run
            continue
    return out
