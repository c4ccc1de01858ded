"""Ordinal ranking losses on sampled point pairs: ReDWeb (random pairs) and structure-guided (edge pairs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient
from torch import Tensor, nn

from depthlab.losses.terms import _unpack
from depthlab.ops.masked import masked_mean
from depthlab.ops.pairs import ordinal_labels, sample_random_pairs, take
from depthlab.utils.choices import check_choice

MODES = ("logistic", "hinge")


def sample_edge_pairs(
    image: Tensor, n_anchors: int, generator: torch.Generator | None, distance: tuple[int, int] = (2, 30)
) -> tuple[Tensor, Tensor]:
    """[B, 3 n_anchors] flat index pairs along image edges (Xian et al., CVPR 2020, edge-guided sampling).

    Anchors are drawn from pixels whose Sobel magnitude is >= 0.1 of the image's maximum; four points a < b < 0
    < c < d at distances U[distance] along the gradient direction give the pairs (a, b), (b, c), (c, d).
    """
    b, _, h, w = image.shape
    grad = spatial_gradient(image.mean(1, keepdim=True))[:, 0]  # [B, 2, H, W]: d/dx, d/dy
    mag = grad.norm(dim=1).flatten(1)
    edges = (mag >= 0.1 * mag.max(1, keepdim=True).values).to(torch.float32)
    anchors = torch.multinomial(edges, n_anchors, replacement=True, generator=generator)  # [B, A]
    theta = torch.atan2(grad[:, 1].flatten(1), grad[:, 0].flatten(1)).gather(1, anchors)
    lo, hi = distance
    dist = torch.randint(lo, hi + 1, (b, 4, n_anchors), generator=generator).to(theta.dtype)
    sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=theta.dtype).view(1, 4, 1)
    offsets = (dist * sign).sort(dim=1).values  # a < b < 0 < c < d
    rows = (anchors // w).unsqueeze(1) + torch.round(offsets * torch.sin(theta).unsqueeze(1)).long()
    cols = (anchors % w).unsqueeze(1) + torch.round(offsets * torch.cos(theta).unsqueeze(1)).long()
    points = rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)  # [B, 4, A]
    return points[:, :3].flatten(1), points[:, 1:].flatten(1)


class RankingLoss(nn.Module):
    """Pairwise ordinal loss on random point pairs (Xian et al., CVPR 2018, ReDWeb).

    Pair label l from the ground-truth ratio (ordinal_labels, threshold `sigma`); ordered pairs cost
    log(1 + exp(-l (z_i - z_j))) (mode=logistic, the paper) or max(0, margin - l (z_i - z_j)) (mode=hinge,
    exactly 0 once the order is right by the margin); about-equal pairs cost (z_i - z_j)^2. z is the
    prediction, ordered like the target. The mean is over pairs whose two points are valid.
    """

    def __init__(
        self,
        n_pairs: int = 3000,
        sigma: float = 0.02,
        mode: str = "logistic",
        margin: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("mode", mode, MODES)
        if n_pairs < 1 or not sigma >= 0 or not margin >= 0:
            raise ValueError(f"RankingLoss needs n_pairs >= 1, sigma, margin >= 0; got {n_pairs}, {sigma}, {margin}")
        self.n_pairs, self.sigma, self.mode, self.margin, self.seed = n_pairs, float(sigma), mode, float(margin), seed

    def generator(self) -> torch.Generator | None:
        """A seeded generator for reproducible pairs, or None to use (and advance) torch's global RNG."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def sample(self, batch: dict, valid: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Flat pixel indices [B, N] of the pairs' two points."""
        return sample_random_pairs(valid, self.n_pairs, generator)

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        i, j = (idx.to(pred.device) for idx in self.sample(batch, valid, self.generator()))
        z = take(pred, i) - take(pred, j)
        label = ordinal_labels(take(target, i), take(target, j), self.sigma)
        if self.mode == "logistic":
            ordered = F.softplus(-label * z)
        else:
            ordered = F.margin_ranking_loss(z, torch.zeros_like(z), label, margin=self.margin, reduction="none")
        cost = torch.where(label != 0, ordered, z**2)
        return masked_mean(cost, take(valid, i) & take(valid, j))

    def extra_repr(self) -> str:
        return f"n_pairs={self.n_pairs}, sigma={self.sigma}, mode={self.mode}, margin={self.margin}"


class StructureGuidedRankingLoss(RankingLoss):
    """The ranking loss on edge-guided pairs plus as many random pairs (Xian et al., CVPR 2020, HRWSI)."""

    def __init__(
        self,
        n_anchors: int = 1000,
        sigma: float = 0.03,
        mode: str = "logistic",
        margin: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_pairs=3 * n_anchors, sigma=sigma, mode=mode, margin=margin, seed=seed)
        self.n_anchors = n_anchors

    def sample(self, batch: dict, valid: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        image = batch["image"].detach().float().cpu()
        edge_i, edge_j = (x.to(valid.device) for x in sample_edge_pairs(image, self.n_anchors, generator))
        rand_i, rand_j = sample_random_pairs(valid, self.n_pairs, generator)
        return torch.cat([edge_i, rand_i], 1), torch.cat([edge_j, rand_j], 1)
