"""The teacher of a distillation: a depthlab checkpoint, an exported model, or a model= config with its weights."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from depthlab.inference.runners import ONNX_SUFFIXES, TORCHSCRIPT_SUFFIXES, OnnxRunner, TorchRunner, open_model
from depthlab.inference.spec import ModelSpec
from depthlab.inference.wrapper import wrap
from depthlab.models.base import OUTPUT_KINDS
from depthlab.models.checkpoint import check_config
from depthlab.utils.errors import DepthlabError

SOURCES = "teacher=<.ckpt, .onnx or .pt written by depthlab> or teacher_model=<a model= option>"


@dataclass(frozen=True)
class Teacher:
    """A runner (RGB in [0, 1] -> outputs), its spec, and what identifies it in a label cache's manifest."""

    runner: TorchRunner | OnnxRunner
    identity: dict[str, Any]
    output_kind: str
    provenance: dict[str, str] | None

    @property
    def spec(self) -> ModelSpec:
        """The runner's ModelSpec (normalisation, training size, stride)."""
        return self.runner.spec


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(net: nn.Module) -> str:
    """sha256 of a network's state dict (names, dtypes, shapes and values): the identity of an instantiated model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _file_format(path: Path) -> str:
    """onnx, torchscript or checkpoint, by suffix (as open_model decides)."""
    if path.suffix in ONNX_SUFFIXES:
        return "onnx"
    return "torchscript" if path.suffix in TORCHSCRIPT_SUFFIXES else "checkpoint"


def _checked_kind(kind: str, source: str) -> str:
    """The teacher's output_kind, refused when depthlab does not know it."""
    if kind not in OUTPUT_KINDS:
        raise DepthlabError(f"{source} declares output_kind={kind!r}; depthlab knows {', '.join(OUTPUT_KINDS)}")
    return kind


def file_teacher(path: str | Path, trusted: Iterable[str] = ()) -> Teacher:
    """A .ckpt (rebuilt through models/checkpoint.py), .onnx or TorchScript .pt file, opened by open_model."""
    path = Path(path).absolute()
    if not path.is_file():
        raise DepthlabError(f"teacher={path} does not exist; pass {SOURCES}")
    try:
        runner = open_model(path, trusted=trusted)
    except DepthlabError as err:  # the runners name the file as ckpt_path=, predict's key
        raise DepthlabError(str(err).replace("ckpt_path=", "teacher=")) from None
    net = getattr(getattr(runner, "module", None), "net", None)  # the DepthNet inside a .ckpt's InferenceNet
    provenance = getattr(net, "provenance", None)
    identity = {
        "source": "file",
        "path": str(path),
        "format": _file_format(path),
        "sha256": file_sha256(path),
        "model": runner.spec.config.get("model"),
    }
    kind = _checked_kind(runner.spec.output_kind, f"teacher={path}")
    return Teacher(runner, identity, kind, dict(provenance) if provenance else None)


def config_teacher(config: dict[str, Any], data: Mapping[str, Any], trusted: Iterable[str] = ()) -> Teacher:
    """A resolved model= config (from depthlab's conf/model), checked against the trusted prefixes and instantiated."""
    check_config({"model": config}, trusted, source="teacher_model")
    torch.manual_seed(0)  # a model= teacher without pretrained weights is still one fixed network
    net = instantiate(config)
    if not isinstance(net, nn.Module):
        raise DepthlabError(f"teacher_model={config.get('_target_')} is not a network")
    run_config = {"model": config, "data": dict(data)}
    inference_net, spec = wrap(net.eval(), run_config)  # no data.height / width: resolution=train means the input
    provenance = getattr(net, "provenance", None)
    identity = {"source": "model", "model": config, "sha256": weights_sha256(net)}
    kind = _checked_kind(str(getattr(net, "output_kind", "metric")), f"teacher_model={config.get('_target_')}")
    return Teacher(TorchRunner(inference_net, spec), identity, kind, dict(provenance) if provenance else None)


def open_teacher(cfg: DictConfig) -> Teacher:
    """teacher= (a file) or teacher_model= (a config), exactly one of them."""
    path, model = cfg.get("teacher"), cfg.get("teacher_model")
    if bool(path) == bool(model):
        raise DepthlabError(f"pass exactly one of {SOURCES}" + ("; got both" if path else ""))
    trusted = tuple(cfg.get("trusted_targets") or ())
    if path:
        return file_teacher(path, trusted)
    model_config = OmegaConf.to_container(cfg.teacher_model, resolve=True)
    return config_teacher(
        model_config, OmegaConf.to_container(cfg.data, resolve=True) if "data" in cfg else {}, trusted
    )
