"""Colour-mapped depth, error and image panels for loggers and prediction outputs."""

from __future__ import annotations

import torch
from kornia.color import ColorMap, apply_colormap

_CMAP_CACHE: dict[str, ColorMap] = {}


def colorize(
    values: torch.Tensor, vmin: float, vmax: float, cmap: str = "viridis", valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Map a [B, 1, H, W] tensor to RGB [B, 3, H, W] in [0, 1] on a fixed scale; invalid pixels black."""
    if cmap not in _CMAP_CACHE:
        _CMAP_CACHE[cmap] = ColorMap(base=cmap, num_colors=256)
    scaled = ((values.float() - vmin) / max(vmax - vmin, 1e-8)).clamp(0, 1)
    rgb = apply_colormap(scaled, _CMAP_CACHE[cmap])
    if valid is not None:
        rgb = rgb * valid.to(rgb.dtype)
    return rgb


def gray(values: torch.Tensor) -> torch.Tensor:
    """A [B, 1, H, W] map in [0, 1] (a mask or a probability) as RGB [B, 3, H, W]."""
    return values.float().clamp(0, 1).expand(-1, 3, -1, -1)


def normal_colors(normals: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-frame normals [..., 3, H, W] as the usual normal-map RGB in [0, 1]; one colour code for every view.

    x right, y up, z towards the viewer, colour = (n + 1) / 2; pixels where `valid` ([..., H, W] or
    [..., 1, H, W]) is false are black.
    """
    viewer = normals.float() * torch.tensor([1.0, -1.0, -1.0], device=normals.device).view(3, 1, 1)
    rgb = ((viewer + 1.0) / 2.0).clamp(0, 1)
    if valid is not None:
        rgb = rgb * (valid.unsqueeze(-3) if valid.dim() < rgb.dim() else valid).to(rgb.dtype)
    return rgb


def depth_panel(
    rgb: torch.Tensor,
    target: torch.Tensor,
    pred: torch.Tensor,
    valid: torch.Tensor,
    mask: torch.Tensor | None = None,
    mask_prob: torch.Tensor | None = None,
    normals: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One row per sample: RGB | ground truth | prediction | |error| [| GT normals | predicted normals]
    [| GT mask | predicted mask probability].

    All depth maps share one metric scale; `normals` are (GT, predicted) normal-map RGB [B, 3, H, W] (see
    normal_colors); the mask columns appear when the network predicts a mask.
    """
    vmax = float(target[valid].max()) if valid.any() else float(pred.max())
    gt = colorize(target, 0.0, vmax, valid=valid)
    pr = colorize(pred, 0.0, vmax)
    err = colorize((pred - target).abs(), 0.0, vmax, cmap="hot", valid=valid)
    columns = [rgb.float(), gt, pr, err]
    if normals is not None:
        columns += [n.float() for n in normals]
    if mask_prob is not None:
        columns += [gray(mask if mask is not None else torch.zeros_like(mask_prob)), gray(mask_prob)]
    rows = torch.cat([c.cpu() for c in columns], dim=3)  # B, 3, H, (4 to 8) W
    return torch.cat(list(rows), dim=1)  # 3, B*H, (4 to 8) W
