"""Hugging Face depth models (Depth Anything V2, DPT, ZoeDepth, any *ForDepthEstimation) as depthlab networks."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn
from transformers import AutoConfig, AutoModelForDepthEstimation, PretrainedConfig, PreTrainedModel
from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY  # filled by PreTrainedModel.__init__ only

from depthlab.data.base import IMAGENET_MEAN, IMAGENET_STD
from depthlab.models import hf_loading
from depthlab.models.base import DepthNet
from depthlab.models.hf_presets import FAMILIES, family_of, normalisation, patch_size, preset, published_depth_type
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

DEPTH_TYPES = ("relative", "metric")
PARTS = ("all", "encoder")
_DROP = ("id2label", "label2id")  # generic classifier keys: int-keyed, meaningless for depth


def _plain(value: Any) -> Any:
    """OmegaConf containers (from Hydra) as plain dicts / lists."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def merged(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """base with overrides applied key by key, recursing into nested dicts (backbone_config)."""
    out = dict(base)
    for key, value in (overrides or {}).items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_dict(config: PretrainedConfig) -> dict[str, Any]:
    """A transformers config as plain data (what a checkpoint stores to rebuild the architecture offline)."""
    return {k: v for k, v in config.to_dict().items() if k not in _DROP}


def from_dict(family: str, values: dict[str, Any]) -> PretrainedConfig:
    """The transformers config object of a family (auto: by the dict's model_type)."""
    if family in FAMILIES:
        return FAMILIES[family].config_class.from_dict(values)
    values = dict(values)
    return AutoConfig.for_model(values.pop("model_type"), **values)


def _interpolate_positions(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Resize DPT-Hybrid's position embeddings to the input grid instead of refusing non-384 inputs."""
    return args, {**kwargs, "interpolate_pos_encoding": True}


class HFDepthNet(DepthNet):
    """A transformers depth model behind depthlab's contract: normalised RGB in, {"depth": [B, 1, H, W]} out.

    `output_kind` tells losses and the protocol what the output is: relative models predict affine-invariant
    disparity (scored after the disparity alignment), metric ones metres. Input sides are multiples of the patch.
    """

    stride_kind = "patch size"

    def __init__(
        self,
        family: str = "depth_anything",
        size: str | None = "small",
        depth_type: str | None = None,
        pretrained: str | None = None,
        name_or_path: str | None = None,
        pretrained_parts: str = "all",
        revision: str | None = None,
        config: dict[str, Any] | None = None,
        architecture: dict[str, Any] | None = None,
        provenance: dict[str, str] | None = None,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        data_mean: tuple[float, float, float] | None = None,
        data_std: tuple[float, float, float] | None = None,
        freeze_encoder: bool = False,
        unfreeze_at_epoch: int | None = None,
        encoder_lr_mult: float = 1.0,
        layer_decay: float = 1.0,
        gradient_checkpointing: bool = False,
        mask_head: bool = False,
    ) -> None:
        super().__init__(freeze_encoder, unfreeze_at_epoch, encoder_lr_mult, layer_decay)
        if mask_head:
            raise DepthlabError(
                f"model={family} predicts depth only (no mask head): use task=depth, or an smp model such as "
                "model=dpt with task=depth_mask"
            )
        check_choice("model.family", family, (*FAMILIES, "auto"))
        check_choice("model.depth_type", depth_type, DEPTH_TYPES, none=True)
        check_choice("model.pretrained_parts", pretrained_parts, PARTS)
        self.family, self.min_depth, self.max_depth = family, float(min_depth), float(max_depth)
        self.revision = revision  # a hub branch, tag or commit (null: main)
        config, architecture, provenance = _plain(config), _plain(architecture), _plain(provenance)
        hf_config = self._config(size, depth_type, pretrained, name_or_path, config, architecture)
        self.family = family_of(hf_config) if family == "auto" else family
        published = published_depth_type(self.family, size, pretrained or name_or_path)
        self.depth_type = self._depth_type(hf_config, depth_type or published)
        self.output_kind = "metric" if self.depth_type == "metric" else "relative_disparity"
        self.model = self._model(hf_config, pretrained, pretrained_parts)
        if pretrained is None and architecture is None and self.output_kind == "relative_disparity":
            self._activate_head()
        self._provenance = provenance or (hf_loading.provenance(pretrained, self.model.config) if pretrained else None)
        self.name = f"{family}-{size}" if family != "auto" else f"hf:{name_or_path}"
        self.patch_size = patch_size(hf_config)
        self._set_input_scale(data_mean, data_std, normalisation(self.family, hf_config))
        self._grid: tuple[int, int] | None = None
        if self.family == "dpt" and (hf_config.backbone_config is None or hf_config.is_hybrid):
            self.model.neck.register_forward_pre_hook(self._patch_grid)  # HF's ViT DPT neck assumes square grids
        if self.family == "dpt" and hf_config.is_hybrid:  # the hybrid stem refuses sizes but its training size
            self.model.dpt.embeddings.register_forward_pre_hook(_interpolate_positions, with_kwargs=True)
        self.unused = self._find_unused()
        for name in self.unused:
            self.get_parameter(name).requires_grad_(False)
        if gradient_checkpointing:
            if not self.model.supports_gradient_checkpointing:
                raise DepthlabError(f"{self.name} does not support model.gradient_checkpointing; set it to false")
            enable = getattr(self.model, "activation_checkpointing_enable", None)  # the name from transformers 5.x
            (enable or self.model.gradient_checkpointing_enable)()

    def _config(
        self,
        size: str | None,
        depth_type: str | None,
        pretrained: str | None,
        name_or_path: str | None,
        overrides: dict[str, Any] | None,
        architecture: dict[str, Any] | None,
    ) -> PretrainedConfig:
        """The architecture: a checkpoint's stored config, the weights' config, or the family preset; overridden."""
        if architecture is not None:
            return from_dict(self.family, architecture)
        source = name_or_path or pretrained
        if source is not None:
            config_class = FAMILIES[self.family].config_class if self.family in FAMILIES else AutoConfig
            load = partial(config_class.from_pretrained, revision=self.revision)
            key = "model.name_or_path" if name_or_path else "model.pretrained"
            base = config_dict(hf_loading.fetch(source, load, key))
        elif self.family == "auto":
            raise DepthlabError("model=hf needs model.name_or_path=<hub id or save_pretrained directory>")
        else:
            base = preset(self.family, size)
            if self.family == "zoedepth":
                bins = {"n_bins": 64, "min_depth": self.min_depth, "max_depth": self.max_depth}
                base = {**base, "bin_configurations": [bins]}
        values = merged(base, overrides)
        if self.family == "depth_anything" or values.get("model_type") == "depth_anything":
            if not self.max_depth.is_integer():
                raise DepthlabError(
                    f"model.max_depth={self.max_depth}: transformers stores Depth Anything's max_depth as an integer; "
                    f"use model.max_depth={max(1, round(self.max_depth))}"
                )
            values["max_depth"] = int(self.max_depth)
            if depth_type is not None:
                values["depth_estimation_type"] = depth_type
        return from_dict(self.family, values)

    def _depth_type(self, config: PretrainedConfig, depth_type: str | None) -> str:
        """relative or metric: the config's own statement, else the asked-for type, else the family's default."""
        stated = getattr(config, "depth_estimation_type", None)
        if stated in DEPTH_TYPES:
            return stated
        return depth_type or (FAMILIES[self.family].depth_type if self.family in FAMILIES else "relative")

    def _model(self, config: PretrainedConfig, pretrained: str | None, parts: str) -> PreTrainedModel:
        """Random weights from the config, or the pretrained weights (all of them, or the encoder's only)."""
        model_class = FAMILIES[self.family].model_class if self.family in FAMILIES else AutoModelForDepthEstimation
        if pretrained is None:
            return model_class._from_config(config) if self.family in FAMILIES else model_class.from_config(config)

        def load(ref: str, **kwargs: Any) -> PreTrainedModel:
            return model_class.from_pretrained(ref, config=config, revision=self.revision, **kwargs)

        loaded = hf_loading.fetch(pretrained, load)
        if parts == "all":
            return loaded
        model = model_class.from_config(config) if self.family == "auto" else model_class._from_config(config)
        self._encoder_of(model).load_state_dict(self._encoder_of(loaded).state_dict())
        return model

    def _find_unused(self) -> tuple[str, ...]:
        """Parameters the forward never reaches (mask tokens, a final norm, the first fusion residual).

        They would never get a gradient, and DDP (find_unused_parameters=false) stops on them: they stay frozen.
        """
        side = 2 * self.patch_size
        mode = self.training
        self.train()
        for param in self.parameters():
            param.grad = None
        self(torch.zeros(1, 3, side, side))["depth"].sum().backward()
        unused = tuple(name for name, p in self.named_parameters() if p.requires_grad and p.grad is None)
        self.zero_grad(set_to_none=True)
        self.train(mode)
        return unused

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the encoder; parameters the forward never uses stay frozen."""
        super().set_encoder_trainable(trainable)
        for name in self.unused:
            self.get_parameter(name).requires_grad_(False)

    def _activate_head(self) -> None:
        """Start a random relative head in its final ReLU's active region (else it may output 0 and never learn)."""
        head = getattr(self.model, "head", None)
        convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)] if head is not None else []
        if convs and convs[-1].bias is not None:
            nn.init.constant_(convs[-1].bias, 1.0)

    @staticmethod
    def _encoder_of(model: nn.Module) -> nn.Module:
        """The backbone of any transformers depth model (ViT DPT calls it `dpt`)."""
        encoder = getattr(model, "backbone", None) or getattr(model, "dpt", None)
        if encoder is None:
            raise DepthlabError(f"{type(model).__name__} has no backbone depthlab knows; model.pretrained_parts=all")
        return encoder

    def _set_input_scale(self, mean: Any, std: Any, own: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
        """Map the datamodule's normalisation onto the model's own (ViT DPT and ZoeDepth: mean = std = 0.5)."""
        data = (tuple(float(v) for v in mean or IMAGENET_MEAN), tuple(float(v) for v in std or IMAGENET_STD))
        self.rescale = data != own
        scale = [ds / ms for ds, ms in zip(data[1], own[1], strict=True)]
        shift = [(dm - mm) / ms for dm, mm, ms in zip(data[0], own[0], own[1], strict=True)]
        self.register_buffer("in_scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)

    def _patch_grid(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Give HF's DPT neck the token grid of this input, so non-square images reshape correctly."""
        if len(args) == 3 and args[1] is None and self._grid is not None:
            return (args[0], *self._grid)
        return args

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (ddp_spawn) drops transformers' output-capturing hooks: closures it reinstalls on next forward."""
        for module in self.model.modules():
            for key, hook in list(module._forward_hooks.items()):
                if "output_capturing_hook" in getattr(hook, "__qualname__", ""):
                    for hooks in (module._forward_hooks, module._forward_hooks_with_kwargs):
                        hooks.pop(key, None)
                    module._forward_hooks_always_called.pop(key, None)
            if getattr(module, "_output_capturing_hooks_installed", False):
                module._output_capturing_hooks_installed = False
        return super().__getstate__()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled in a fresh process (ddp_spawn): register the classes' recordable outputs as __init__ would."""
        super().__setstate__(state)
        for module in self.model.modules():
            if isinstance(module, PreTrainedModel):
                _CAN_RECORD_REGISTRY[module] = module._can_record_outputs

    @property
    def encoder(self) -> nn.Module:
        return self._encoder_of(self.model)

    @property
    def output_stride(self) -> int:
        return self.patch_size

    @property
    def min_input_size(self) -> int:
        return 2 * self.patch_size

    @property
    def provenance(self) -> dict[str, str] | None:
        return self._provenance

    @property
    def export_routes(self) -> tuple[str, ...]:
        """Exports that keep H and W dynamic (tracing bakes in HF's shape arithmetic; BEiT fails ONNX lowering)."""
        return () if self.family == "zoedepth" else ("onnx/dynamo",)

    @property
    def export_note(self) -> str:
        """Why the other export routes are refused (export.py's one-line error)."""
        if self.family == "zoedepth":
            return "its BEiT attention fails torch.onnx's lowering at dynamic sizes and tracing fixes the size"
        return "tracing bakes the input size into transformers' shape arithmetic"

    def trace_size(self, height: int, width: int) -> tuple[int, int]:
        """Export at an odd patch-grid height: DPT necks then keep their resize of odd grids in the graph."""
        rows = height // self.patch_size
        return ((rows + 1 - rows % 2) * self.patch_size, width)

    def checkpoint_overrides(self) -> dict[str, Any]:
        """Rebuild from a checkpoint offline: the full architecture, no weight download, the weights' provenance."""
        return {
            "pretrained": None,
            "name_or_path": None,
            "revision": None,
            "config": None,
            "architecture": config_dict(self.model.config),
            "provenance": self._provenance,
        }

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        height, width = image.shape[-2:]
        x = image * self.in_scale + self.in_shift if self.rescale else image
        self._grid = (height // self.patch_size, width // self.patch_size)
        depth = self.model(pixel_values=x).predicted_depth.unsqueeze(1)
        if depth.shape[-2:] != (height, width):
            depth = F.interpolate(depth, size=(height, width), mode="bilinear", align_corners=False)
        return {"depth": depth}
