"""An exported file (.onnx, .pt, .tflite) as a depthlab network, so eval.py scores it with the checkpoint's loop."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from depthlab.data.pixels import denormalize
from depthlab.inference.runners import ONNX_SUFFIXES, TFLITE_SUFFIXES, TORCHSCRIPT_SUFFIXES, open_model
from depthlab.models.checkpoint import check_config

EXPORTED_SUFFIXES = (*ONNX_SUFFIXES, *TORCHSCRIPT_SUFFIXES, *TFLITE_SUFFIXES)


class ExportedNet(nn.Module):
    """Takes the datamodule's normalised images, hands the runner RGB in [0, 1] (exported graphs normalise)."""

    def __init__(self, runner: Any, template: nn.Module) -> None:
        super().__init__()
        spec = runner.spec
        self.runner, self.inputs, self.output_kind, self.output_stride = (
            runner,
            spec.inputs,
            spec.output_kind,
            spec.stride,
        )
        self.name = f"{getattr(template, 'name', type(template).__name__)} ({runner.backend})"
        self._check_size = getattr(template, "check_input_size", None)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))

    def check_input_size(self, height: int, width: int) -> None:
        """The network's own size rule (an exported TFLite file also refuses other sizes when run)."""
        if self._check_size is not None:
            self._check_size(height, width)

    def forward(self, *images: Tensor) -> dict[str, Tensor]:
        rgb = {name: denormalize(x, self.mean, self.std).cpu() for name, x in zip(self.inputs, images, strict=True)}
        return {name: value.to(images[0].device) for name, value in self.runner(rgb).items()}


def module_from_exported(path: str | Path, trusted: Iterable[str] = ()) -> tuple[Any, DictConfig]:
    """The DepthModule of the run config stored in the file, its network replaced by the exported model."""
    from depthlab.models.build import build_module

    runner = open_model(path)
    check_config(runner.spec.config, trusted, f"ckpt_path={path}")
    run_cfg = OmegaConf.create(runner.spec.config)
    data = run_cfg.get("data") or {}
    if runner.spec.height and "height" in data and "width" in data:  # a TFLite file's fixed size may differ
        run_cfg.data.height, run_cfg.data.width = runner.spec.height, runner.spec.width
    if OmegaConf.select(run_cfg, "model.encoder_weights") is not None:  # the file holds the weights
        run_cfg = OmegaConf.merge(run_cfg, {"model": {"encoder_weights": None}})
    module = build_module(run_cfg)
    module.net = ExportedNet(runner, module.net)
    module.run_config = runner.spec.config
    return module, run_cfg
