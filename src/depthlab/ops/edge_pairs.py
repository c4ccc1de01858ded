"""Edge-guided point pairs (Xian et al., CVPR 2020): anchors on image edges, four points along their gradient."""

from __future__ import annotations

import torch
from kornia.filters import spatial_gradient
from torch import Tensor

EDGE_FRACTION = 0.1  # an edge pixel's Sobel magnitude is >= 0.1 x the image's maximum (upstream's threshold)


def edge_map(image: Tensor) -> tuple[Tensor, Tensor]:
    """(edges [B, H*W] bool, theta [B, H*W]): edge pixels of the grey image and their gradient direction."""
    grad = spatial_gradient(image.mean(1, keepdim=True))[:, 0]  # [B, 2, H, W]: d/dx, d/dy
    mag = grad.norm(dim=1).flatten(1)
    edges = mag >= EDGE_FRACTION * mag.max(1, keepdim=True).values
    return edges, torch.atan2(grad[:, 1].flatten(1), grad[:, 0].flatten(1))


def all_edge_anchors(
    edges: Tensor, max_anchors: int | None, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """(anchors [B, A], present [B, A]): every edge pixel once (a random max_anchors of them above the cap).

    A is the batch's largest count; shorter rows are padded with non-edge pixels marked absent.
    """
    counts = edges.sum(1)
    size = int(counts.max()) if max_anchors is None else min(int(counts.max()), max_anchors)
    score = torch.rand(edges.shape, generator=generator)  # random order among edges: the cap keeps a random subset
    anchors = torch.where(edges, score, torch.full_like(score, -1.0)).topk(size, dim=1).indices
    present = torch.arange(size).unsqueeze(0) < counts.clamp_max(size).unsqueeze(1)
    return anchors, present


def pairs_along_gradient(
    anchors: Tensor, theta: Tensor, shape: tuple[int, int], generator: torch.Generator | None, distance: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """[B, 3A] flat index pairs (a, b), (b, c), (c, d): points a < b < 0 < c < d at U[distance] px along theta."""
    h, w = shape
    b, n = anchors.shape
    theta = theta.gather(1, anchors)
    lo, hi = distance
    dist = torch.randint(lo, hi + 1, (b, 4, n), generator=generator).to(theta.dtype)
    sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=theta.dtype).view(1, 4, 1)
    offsets = (dist * sign).sort(dim=1).values  # a < b < 0 < c < d
    rows = (anchors // w).unsqueeze(1) + torch.round(offsets * torch.sin(theta).unsqueeze(1)).long()
    cols = (anchors % w).unsqueeze(1) + torch.round(offsets * torch.cos(theta).unsqueeze(1)).long()
    points = rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)  # [B, 4, A]
    return points[:, :3].flatten(1), points[:, 1:].flatten(1)


def sample_edge_pairs(
    image: Tensor, n_anchors: int, generator: torch.Generator | None, distance: tuple[int, int] = (2, 30)
) -> tuple[Tensor, Tensor]:
    """[B, 3 n_anchors] pairs from n_anchors edge anchors drawn with replacement (depthlab's fixed count)."""
    edges, theta = edge_map(image)
    anchors = torch.multinomial(edges.to(torch.float32), n_anchors, replacement=True, generator=generator)
    return pairs_along_gradient(anchors, theta, tuple(image.shape[-2:]), generator, distance)


def sample_all_edge_pairs(
    image: Tensor, max_anchors: int | None, generator: torch.Generator | None, distance: tuple[int, int] = (2, 30)
) -> tuple[Tensor, Tensor, Tensor]:
    """(i, j, present) [B, 3A]: every edge pixel an anchor (upstream's sampler), absent pairs marked False."""
    edges, theta = edge_map(image)
    anchors, present = all_edge_anchors(edges, max_anchors, generator)
    i, j = pairs_along_gradient(anchors, theta, tuple(image.shape[-2:]), generator, distance)
    return i, j, present.repeat(1, 3)
