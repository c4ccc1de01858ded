"""Network factory: any segmentation_models_pytorch architecture + any encoder, with a depth head."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import segmentation_models_pytorch as smp
import torch
from huggingface_hub import constants as hf_constants
from torch import nn

from depthlab.models.heads import DepthActivation
from depthlab.utils.errors import DepthlabError
from depthlab.utils.net import reachable

HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the weight hub answers quickly (avoids smp's long offline retries)."""
    return reachable(HUB_HOST, timeout=timeout)


@contextmanager
def _hub_offline():
    """Let huggingface_hub use only its local cache for the duration (it reads the flag per call)."""
    old = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = old


def create_smp(
    arch: str, encoder: str, encoder_weights: str | None, in_channels: int, classes: int, **arch_kwargs: Any
) -> nn.Module:
    """Build an smp model, failing fast with one clear line on unknown names or unreachable weights."""
    kwargs = dict(encoder_name=encoder, encoder_weights=encoder_weights, in_channels=in_channels, classes=classes)
    kwargs |= arch_kwargs
    try:
        if encoder_weights is None:
            return smp.create_model(arch, **kwargs)
        try:
            with _hub_offline():
                return smp.create_model(arch, **kwargs)  # cached weights: no network needed
        except Exception:
            if not hub_reachable():
                raise DepthlabError(
                    f"model.encoder_weights={encoder_weights} must be downloaded from {HUB_HOST}, which is "
                    "unreachable: run once with network access to cache them, or set model.encoder_weights=null"
                ) from None
            return smp.create_model(arch, **kwargs)
    except DepthlabError:
        raise
    except KeyError as err:
        raise DepthlabError(f"model {arch}/{encoder}: {str(err).strip(chr(34))[:300]}") from None
    except RuntimeError as err:
        if "Unknown model" in str(err) or "not found" in str(err).lower():
            raise DepthlabError(f"model.encoder={encoder} is not a known smp or timm (tu-) encoder") from None
        raise


class SmpDepthNet(nn.Module):
    """An smp encoder-decoder whose single output channel goes through a depth activation."""

    def __init__(
        self,
        arch: str = "Unet",
        encoder: str = "resnet18",
        encoder_weights: str | None = None,
        in_channels: int = 3,
        head: str = "sigmoid",
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        arch_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.arch, self.encoder_name = arch, encoder
        self.net = create_smp(arch, encoder, encoder_weights, in_channels, classes=1, **dict(arch_kwargs or {}))
        self.head = DepthActivation(head, min_depth, max_depth)

    @property
    def output_stride(self) -> int:
        """The factor H and W must be divisible by."""
        return int(getattr(self.net.encoder, "output_stride", 32))

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a one-line error when the network cannot take an H x W input."""
        s = self.output_stride
        if height % s or width % s:
            fix_h, fix_w = max(s, round(height / s) * s), max(s, round(width / s) * s)
            raise DepthlabError(
                f"input size {height}x{width} is not divisible by {s}, the output stride of "
                f"{self.arch}-{self.encoder_name}; use e.g. data.height={fix_h} data.width={fix_w}"
            )

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"depth": self.head(self.net(image))}
