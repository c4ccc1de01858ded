"""Ordinal ranking losses on sampled point pairs: ReDWeb (random pairs) and structure-guided (edge pairs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depthlab.losses.terms import _unpack
from depthlab.ops.edge_pairs import sample_all_edge_pairs, sample_edge_pairs
from depthlab.ops.masked import masked_mean
from depthlab.ops.pairs import drop_easiest, ordinal_labels, sample_random_pairs, take
from depthlab.utils.choices import check_choice

MODES = ("logistic", "hinge")
SAMPLERS = ("upstream", "fixed")
Pairs = tuple[Tensor, Tensor, Tensor]  # flat indices i, j [B, N] and which of the N pairs exist [B, N]


class RankingLoss(nn.Module):
    """Pairwise ordinal loss on random point pairs (Xian et al., CVPR 2018, ReDWeb).

    Pair label l from the ground-truth ratio (ordinal_labels, threshold `sigma`); ordered pairs cost
    log(1 + exp(-l (z_i - z_j))) (mode=logistic, the paper) or max(0, margin - l (z_i - z_j)) (mode=hinge,
    exactly 0 once the order is right by the margin); about-equal pairs cost (z_i - z_j)^2. z is the
    prediction, ordered like the target. The mean is over pairs whose two points are valid. ignore_easy > 0
    is ReDWeb's hard-pair mining: per image, that fraction of the unequal pairs with the smallest loss gets
    weight 0 (they stay in the mean's count); 0 turns it off and gives exactly the unmined loss.
    """

    def __init__(
        self,
        n_pairs: int = 3000,
        sigma: float = 0.02,
        mode: str = "logistic",
        margin: float = 0.0,
        seed: int | None = None,
        ignore_easy: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("mode", mode, MODES)
        if n_pairs < 1 or not sigma >= 0 or not margin >= 0:
            raise ValueError(f"RankingLoss needs n_pairs >= 1, sigma, margin >= 0; got {n_pairs}, {sigma}, {margin}")
        if not 0 <= ignore_easy < 1:
            raise ValueError(f"RankingLoss needs 0 <= ignore_easy < 1 (0: no mining, ReDWeb: 0.25); got {ignore_easy}")
        self.n_pairs, self.sigma, self.mode, self.margin, self.seed = n_pairs, float(sigma), mode, float(margin), seed
        self.ignore_easy = float(ignore_easy)

    def generator(self) -> torch.Generator | None:
        """A seeded generator for reproducible pairs, or None to use (and advance) torch's global RNG."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def sample(self, batch: dict, valid: Tensor, generator: torch.Generator | None) -> Pairs:
        """Flat pixel indices [B, N] of the pairs' two points, and which pairs exist (all of them here)."""
        i, j = sample_random_pairs(valid, self.n_pairs, generator)
        return i, j, torch.ones_like(i, dtype=torch.bool)

    def forward(self, outputs: dict, batch: dict) -> Tensor:
        pred, target, valid = _unpack(outputs, batch)
        i, j, exists = (idx.to(pred.device) for idx in self.sample(batch, valid, self.generator()))
        z = take(pred, i) - take(pred, j)
        label = ordinal_labels(take(target, i), take(target, j), self.sigma)
        if self.mode == "logistic":
            ordered = F.softplus(-label * z)
        else:
            ordered = F.margin_ranking_loss(z, torch.zeros_like(z), label, margin=self.margin, reduction="none")
        cost = torch.where(label != 0, ordered, z**2)
        counted = take(valid, i) & take(valid, j) & exists
        if self.ignore_easy > 0:
            cost = cost * drop_easiest(cost, counted & (label != 0), self.ignore_easy)
        return masked_mean(cost, counted)

    def extra_repr(self) -> str:
        return (
            f"n_pairs={self.n_pairs}, sigma={self.sigma}, mode={self.mode}, margin={self.margin}, "
            f"ignore_easy={self.ignore_easy}"
        )


class StructureGuidedRankingLoss(RankingLoss):
    """The ranking loss on edge-guided pairs plus random pairs (Xian et al., CVPR 2020, HRWSI).

    sampler=upstream (the paper's code): every edge pixel is an anchor (at most max_anchors, a random subset
    above the cap) giving 3 pairs each, plus one random pair per anchor (a third of the edge pairs).
    sampler=fixed (depthlab's earlier counts): n_anchors anchors drawn with replacement, plus as many random
    pairs as edge pairs.
    """

    def __init__(
        self,
        n_anchors: int = 1000,
        sigma: float = 0.03,
        mode: str = "logistic",
        margin: float = 0.0,
        seed: int | None = None,
        sampler: str = "upstream",
        max_anchors: int | None = None,
        ignore_easy: float = 0.0,
    ) -> None:
        super().__init__(
            n_pairs=3 * n_anchors, sigma=sigma, mode=mode, margin=margin, seed=seed, ignore_easy=ignore_easy
        )
        check_choice("sampler", sampler, SAMPLERS)
        if max_anchors is not None and max_anchors < 1:
            raise ValueError(f"StructureGuidedRankingLoss needs max_anchors >= 1 or null; got {max_anchors}")
        self.n_anchors, self.sampler, self.max_anchors = n_anchors, sampler, max_anchors

    def sample(self, batch: dict, valid: Tensor, generator: torch.Generator | None) -> Pairs:
        image = batch["image"].detach().float().cpu()
        if self.sampler == "fixed":
            edge_i, edge_j = sample_edge_pairs(image, self.n_anchors, generator)
            edge_on = torch.ones_like(edge_i, dtype=torch.bool)
            rand_i, rand_j = sample_random_pairs(valid, self.n_pairs, generator)
            rand_on = torch.ones_like(rand_i, dtype=torch.bool)
        else:
            edge_i, edge_j, edge_on = sample_all_edge_pairs(image, self.max_anchors, generator)
            rand_on = edge_on[:, : edge_on.shape[1] // 3]  # one random pair per present anchor
            rand_i, rand_j = sample_random_pairs(valid, rand_on.shape[1], generator)
        edge_i, edge_j, edge_on = (x.to(valid.device) for x in (edge_i, edge_j, edge_on))
        return (
            torch.cat([edge_i, rand_i], 1),
            torch.cat([edge_j, rand_j], 1),
            torch.cat([edge_on, rand_on.to(valid.device)], 1),
        )

    def extra_repr(self) -> str:
        extra = f"sampler={self.sampler}, n_anchors={self.n_anchors}, max_anchors={self.max_anchors}"
        return f"{super().extra_repr()}, {extra}"
