"""ReDWeb hard-pair mining and the upstream structure-guided sampler: exact drops, exact counts, old values kept."""

from __future__ import annotations

import math

import pytest
import torch

from depthlab.losses.ranking import RankingLoss, StructureGuidedRankingLoss
from depthlab.ops.edge_pairs import all_edge_anchors, edge_map
from depthlab.ops.pairs import drop_easiest, ordinal_labels, sample_random_pairs, take


def scene(seed: int = 3, size: int = 24) -> tuple[dict, dict]:
    """(outputs, batch) of two random float64 scenes with holes."""
    gen = torch.Generator().manual_seed(seed)
    target = 1 + 4 * torch.rand(2, 1, size, size, generator=gen, dtype=torch.float64)
    pred = torch.rand(2, 1, size, size, generator=gen, dtype=torch.float64)
    image = torch.rand(2, 3, size, size, generator=gen, dtype=torch.float64)
    valid = torch.rand(2, 1, size, size, generator=gen) > 0.2
    return {"depth": pred}, {"depth": target, "valid": valid, "image": image}


def steps(columns: list[list[int]], size: int = 32) -> torch.Tensor:
    """Images [B, 3, size, size] with vertical step edges at the given columns (one list per image)."""
    image = torch.zeros(len(columns), 3, size, size, dtype=torch.float64)
    for b, cols in enumerate(columns):
        for k, col in enumerate(cols):
            image[b, :, :, col:] = k + 1.0
    return image


def test_drop_easiest_zeroes_exactly_the_smallest_quarter_of_candidates() -> None:
    cost = torch.tensor([[0.5, 0.1, 0.9, 0.3, 0.2, 0.7, 0.05, 0.8, 0.6], [0.3, 0.3, 0.3, 0.3, 9.0, 9.0, 9.0, 9.0, 9.0]])
    candidates = torch.ones_like(cost, dtype=torch.bool)
    candidates[0, 6] = False  # an about-equal pair: never dropped, although its cost is the smallest
    candidates[1, 4:] = False
    weights = drop_easiest(cost, candidates, 0.25)
    # row 0: 8 candidates -> the 2 smallest (0.1, 0.2) dropped; row 1: 4 tied candidates -> exactly 1 (the first)
    assert weights.tolist() == [[1, 0, 1, 1, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1]]
    assert drop_easiest(cost, candidates, 0.0).eq(1).all()


def test_mined_loss_is_the_mean_with_the_smallest_quarter_of_unequal_losses_zeroed() -> None:
    # a hand-built 1 x 6 image: depths 1, 1.01, 2, 3, 5, 8 (one about-equal pair at sigma 0.02), predictions mixed
    target = torch.tensor([[[[1.0, 1.01, 2.0, 3.0, 5.0, 8.0]]]], dtype=torch.float64)
    pred = torch.tensor([[[[0.2, 0.9, 0.1, 0.7, 1.5, 0.4]]]], dtype=torch.float64)
    batch = {"depth": target, "valid": torch.ones_like(target, dtype=torch.bool)}
    i, j = sample_random_pairs(batch["valid"], 60, torch.Generator().manual_seed(1))
    z, label = take(pred, i) - take(pred, j), ordinal_labels(take(target, i), take(target, j), 0.02)
    cost = torch.where(label != 0, torch.log1p(torch.exp(-label * z)), z**2)[0].tolist()
    unequal = sorted((c, k) for k, c in enumerate(cost) if label[0, k] != 0)
    dropped = {k for _, k in unequal[: math.floor(0.25 * len(unequal))]}
    assert 10 <= len(dropped) < len(unequal)
    expected = sum(c for k, c in enumerate(cost) if k not in dropped) / len(cost)
    mined = RankingLoss(n_pairs=60, seed=1, ignore_easy=0.25)({"depth": pred}, batch).item()
    assert mined == pytest.approx(expected, rel=1e-12)
    unmined = RankingLoss(n_pairs=60, seed=1)({"depth": pred}, batch).item()
    assert unmined == pytest.approx(sum(cost) / len(cost), rel=1e-12) and mined < unmined


def test_ignore_easy_zero_and_the_fixed_sampler_give_the_old_values_exactly() -> None:
    # values of depthlab's ranking losses before mining and the upstream sampler (git 3f167c2 era), same inputs
    outputs, batch = scene()
    assert RankingLoss(n_pairs=400, seed=5, ignore_easy=0.0)(outputs, batch).item() == 0.6970728721112418
    fixed = StructureGuidedRankingLoss(n_anchors=60, seed=5, sampler="fixed", ignore_easy=0.0)
    assert fixed(outputs, batch).item() == 0.6391440657829116
    i, j, exists = fixed.sample(batch, batch["valid"], fixed.generator())
    assert i.shape == j.shape == (2, 6 * 60) and exists.all()  # 3 pairs per anchor + as many random pairs


def test_upstream_sampler_anchors_every_edge_pixel_and_adds_a_third_random_pairs() -> None:
    image = steps([[16], [8, 24]])  # one edge, two edges: different counts in one batch
    edges, _ = edge_map(image)
    counts = edges.sum(1).tolist()
    assert counts[1] == 2 * counts[0] > 0
    anchors, present = all_edge_anchors(edges, None, torch.Generator().manual_seed(0))
    for b in range(2):  # every edge pixel exactly once
        assert sorted(anchors[b][present[b]].tolist()) == torch.nonzero(edges[b]).flatten().tolist()
    loss = StructureGuidedRankingLoss(seed=0)
    valid = torch.ones(2, 1, 32, 32, dtype=torch.bool)
    i, j, exists = loss.sample({"image": image}, valid, loss.generator())
    width = 3 * max(counts)
    edge_pairs, random_pairs = exists[:, :width].sum(1), exists[:, width:].sum(1)
    assert edge_pairs.tolist() == [3 * c for c in counts]
    assert random_pairs.tolist() == [c for c in counts] == (edge_pairs // 3).tolist()
    capped = StructureGuidedRankingLoss(seed=0, max_anchors=10)
    _, _, exists = capped.sample({"image": image}, valid, capped.generator())
    assert exists.shape == (2, 40) and exists.sum(1).tolist() == [40, 40]


def test_upstream_sampler_ignores_padding_and_mining_changes_the_loss() -> None:
    outputs, batch = scene(4, 32)
    batch["image"] = steps([[16], [8, 24]]).expand(2, 3, 32, 32)
    batch["depth"] = 1 + batch["image"][:, :1]  # depth steps where the image does
    plain = StructureGuidedRankingLoss(seed=2)(outputs, batch)
    mined = StructureGuidedRankingLoss(seed=2, ignore_easy=0.25)(outputs, batch)
    assert torch.isfinite(plain) and 0 < mined.item() < plain.item()


def test_bad_mining_and_sampler_arguments_are_refused() -> None:
    for make in (
        lambda: RankingLoss(ignore_easy=1.0),
        lambda: RankingLoss(ignore_easy=-0.1),
        lambda: StructureGuidedRankingLoss(sampler="dense"),
        lambda: StructureGuidedRankingLoss(max_anchors=0),
    ):
        with pytest.raises(ValueError):
            make()
