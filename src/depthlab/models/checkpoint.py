"""The one checkpoint layer (train resume, eval, predict, export): checkpoints are data from strangers.

Tensors load with `torch.load(weights_only=True)`, so a pickled payload is refused before it can run; the
config embedded in a checkpoint is instantiated only when every `_target_` in it is under a trusted prefix.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from depthlab.utils.errors import DepthlabError

CONFIG_KEY = "depthlab_config"
# what depthlab's own configs instantiate; `trusted_targets=[mypkg.]` on the command line extends it
TRUSTED_TARGET_PREFIXES = (
    "depthlab.",
    "torch.optim.",
    "segmentation_models_pytorch.",
    "timm.",
    "kornia.",
    "torchmetrics.",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.loggers.",
    "lightning.pytorch.strategies.",
    "lightning.pytorch.Trainer",
    "torch.distributed.fsdp.wrap.",
)
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)|unsupported GLOBAL ([\w.]+)|global ([\w.]+)")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Tensors and plain containers only (no code runs); names the file when missing, corrupt, unsafe or foreign."""
    path = Path(path)
    if not path.is_file():
        raise DepthlabError(f"ckpt_path={path} does not exist; pass a .ckpt from a run's checkpoints/ directory")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _UNSAFE_GLOBAL.search(str(err))
        name = next((g for g in found.groups() if g), "a Python object") if found else "a Python object"
        raise DepthlabError(
            f"ckpt_path={path} holds pickled code ({name}) that depthlab never saves; refused without running it. "
            "Use checkpoints written by depthlab's train.py (tensors and plain values only)"
        ) from None
    except Exception as err:
        raise DepthlabError(f"ckpt_path={path} is not a readable PyTorch checkpoint ({type(err).__name__})") from None
    if not isinstance(checkpoint, dict) or CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise DepthlabError(f"ckpt_path={path} was not written by depthlab's train.py (no embedded config)")
    return checkpoint


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf of nested dicts and lists."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from _walk(v, f"{key}[{i}]")
    else:
        yield key, node


def check_config(config: Any, trusted: Iterable[str] = (), source: str = "the checkpoint") -> None:
    """Refuse an embedded config whose `_target_`s leave the trusted prefixes, or that hides interpolations."""
    prefixes = (*TRUSTED_TARGET_PREFIXES, *trusted)
    if not isinstance(config, dict):
        raise DepthlabError(f"{source} has no config mapping under {CONFIG_KEY}; it was not written by depthlab")
    for key, value in _walk(config):
        if key.rsplit(".", 1)[-1] == "_target_" and not (isinstance(value, str) and value.startswith(prefixes)):
            raise DepthlabError(
                f"{source}: config key {key}={value!r} is not a trusted class, refused; "
                f"if it is your own code, pass trusted_targets=[{str(value).rsplit('.', 1)[0]}.]"
            )
        if isinstance(value, str) and "${" in value:
            raise DepthlabError(
                f"{source}: config key {key}={value!r} is an interpolation, but depthlab stores resolved configs; "
                "refused"
            )


def embedded_config(checkpoint: dict[str, Any], trusted: Iterable[str] = (), source: str = "") -> DictConfig:
    """The run config a checkpoint was trained with, checked before anything in it is instantiated."""
    config = checkpoint[CONFIG_KEY]
    check_config(config, trusted, source or "the checkpoint")
    return OmegaConf.create(config)


def module_from_checkpoint(path: str | Path, trusted: Iterable[str] = ()) -> tuple[Any, DictConfig]:
    """Rebuild the DepthModule from the checked embedded config and load its weights (run_config attached)."""
    from depthlab.models.build import build_module

    checkpoint = read_checkpoint(path)
    run_cfg = embedded_config(checkpoint, trusted, f"ckpt_path={path}")
    weights = OmegaConf.select(run_cfg, "model.encoder_weights")
    if weights is None:
        module = build_module(run_cfg)
    else:  # the checkpoint holds the weights: no download, no local weight file needed; provenance kept
        module = build_module(OmegaConf.merge(run_cfg, {"model": {"encoder_weights": None}}))
        module.net.encoder_weights = weights
    module.load_state_dict(checkpoint["state_dict"])
    return module, run_cfg
