"""The loss catalogue: hand-computed values, invariances, gradients, empty masks, and named combinations."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.losses import inverse_depth_smoothness_loss
from torch import nn

from depthlab.losses import (
    BerHuLoss,
    EdgeAwareSmoothnessLoss,
    GradientMatchingLoss,
    RankingLoss,
    ScaleShiftInvariantLoss,
    SILogLoss,
    StructureGuidedRankingLoss,
    SurfaceNormalLoss,
)
from depthlab.ops.pairs import sample_random_pairs, take
from depthlab.utils.errors import DepthlabError


def inputs(pred, target, valid=None, **extra) -> tuple[dict, dict]:
    """(outputs, batch) for [B, 1, H, W] float64 maps; pred a leaf recording gradients."""
    p = torch.as_tensor(pred, dtype=torch.float64).reshape(-1, 1, *torch.as_tensor(pred).shape[-2:])
    g = torch.as_tensor(target, dtype=torch.float64).reshape(p.shape)
    v = torch.ones_like(g, dtype=torch.bool) if valid is None else torch.as_tensor(valid).reshape(p.shape)
    image = extra.pop("image", torch.zeros(p.shape[0], 3, *p.shape[-2:], dtype=torch.float64))
    return {"depth": p.clone().requires_grad_()}, {"depth": g, "valid": v, "image": image, **extra}


def random_scene(seed: int = 0, shape=(2, 1, 16, 16)) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    target = 1 + 4 * torch.rand(shape, generator=gen, dtype=torch.float64)
    return target, torch.rand(shape, generator=gen) > 0.2


def test_berhu_hand_value() -> None:
    # |x| = 0.5, 1, 4 (+ one invalid): c = 0.2 * 4 = 0.8 -> 0.5, (1 + .64) / 1.6, (16 + .64) / 1.6
    out, batch = inputs([[1.5, 3.0, 6.0, 9.0]], [[1.0, 2.0, 2.0, 0.0]], [[True, True, True, False]])
    assert BerHuLoss()(out, batch).item() == pytest.approx((0.5 + 1.025 + 10.4) / 3, rel=1e-12)


def test_silog_hand_values_and_conventions() -> None:
    out, batch = inputs([[1.0, math.e]], [[1.0, 1.0]])  # d = [0, 1]: mean .5, mean d^2 .5, biased var .25
    bts = SILogLoss(lambd=0.85, scale=10.0, eps=0.0)(out, batch)
    assert bts.item() == pytest.approx(10 * math.sqrt(0.5 - 0.85 * 0.25), rel=1e-12)
    adabins = SILogLoss(lambd=0.85, scale=10.0, unbiased=True, eps=0.0)(out, batch)
    assert adabins.item() == pytest.approx(10 * math.sqrt(0.5 + 0.15 * 0.25), rel=1e-12)  # n-1 variance = .5
    eigen = SILogLoss(lambd=0.5, scale=1.0, eps=0.0)(out, batch)
    assert eigen.item() == pytest.approx(math.sqrt(0.5 - 0.5 * 0.25), rel=1e-12)


def test_silog_with_lambda_one_is_scale_invariant() -> None:
    target, valid = random_scene()
    pred = target * torch.exp(0.2 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1)))
    loss = SILogLoss(lambd=1.0)
    base = loss({"depth": pred}, {"depth": target, "valid": valid})
    for scale in (0.1, 3.0, 42.0):
        assert loss({"depth": pred * scale}, {"depth": target, "valid": valid}).item() == pytest.approx(base.item())
    assert SILogLoss(lambd=0.85)({"depth": pred * 3}, {"depth": target, "valid": valid}) > base


def test_ssi_median_and_lstsq_hand_values() -> None:
    # depth space, median / MAD: p [1, 2, 6] -> t 2, s 5/3 -> [-.6, 0, 2.4]; g [1, 2, 3] -> [-1.5, 0, 1.5]
    out, batch = inputs([[1.0, 2.0, 6.0]], [[1.0, 2.0, 3.0]])
    median = ScaleShiftInvariantLoss("median", "depth", "l1")(out, batch)
    assert median.item() == pytest.approx((0.9 + 0 + 0.9) / 3, rel=1e-12)
    # least squares of g = [2, 4, 7] on p = [1, 2, 3]: s 2.5, t -2/3, residual [-1/6, 1/3, -1/6] -> MSE 1/18
    out, batch = inputs([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]])
    assert ScaleShiftInvariantLoss("lstsq", "depth", "mse")(out, batch).item() == pytest.approx(1 / 18, rel=1e-12)


def test_ssi_disparity_space_reads_the_output_as_disparity() -> None:
    target = [[1.0, 2.0, 4.0, 5.0, 8.0]]
    disparity = [[3 * (1 / g) + 0.5 for g in target[0]]]  # an exact affine disparity
    for method in ("median", "lstsq"):
        out, batch = inputs(disparity, target)
        assert ScaleShiftInvariantLoss(method, "disparity")(out, batch).item() == pytest.approx(0.0, abs=1e-12)
        out, batch = inputs(target, target)  # depth, not disparity: wrong order, so a positive loss
        assert ScaleShiftInvariantLoss(method, "disparity")(out, batch).item() > 0.1


@pytest.mark.parametrize("method", ["median", "lstsq"])
@pytest.mark.parametrize("space", ["depth", "disparity"])
@pytest.mark.parametrize("error", ["l1", "mse"])
def test_ssi_is_invariant_to_scale_and_shift(method: str, space: str, error: str) -> None:
    target, valid = random_scene()
    pred = 1 + torch.rand(target.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    loss = ScaleShiftInvariantLoss(method, space, error)
    base = loss({"depth": pred}, {"depth": target, "valid": valid}).item()
    assert base > 1e-3
    for scale, shift in ((2.5, 0.0), (0.3, 1.7), (7.0, -3.0)):
        moved = loss({"depth": scale * pred + shift}, {"depth": target, "valid": valid}).item()
        assert moved == pytest.approx(base, rel=1e-9)


def test_gradient_matching_hand_value_and_scales() -> None:
    # residual of the median example: [.9, 0, .9]; dx |.9| twice -> 0.9; scale 2 keeps [.9, .9] -> + 0
    out, batch = inputs([[1.0, 2.0, 6.0]], [[1.0, 2.0, 3.0]])
    for scales in (1, 2):
        loss = GradientMatchingLoss(scales=scales, method="median", space="depth")(out, batch)
        assert loss.item() == pytest.approx(0.9, rel=1e-12)
    target, valid = random_scene()
    exact = GradientMatchingLoss(space="depth")({"depth": 4 * target - 1}, {"depth": target, "valid": valid})
    assert exact.item() == pytest.approx(0.0, abs=1e-9)


def test_smoothness_hand_value_and_kornia_equivalence() -> None:
    out, batch = inputs([[1.0, 2.0, 4.0]], [[1.0, 1.0, 1.0]])  # constant image: weights 1, |dx| 1 and 2
    assert EdgeAwareSmoothnessLoss(normalize=False)(out, batch).item() == pytest.approx(1.5, rel=1e-12)
    gen = torch.Generator().manual_seed(3)
    pred = torch.rand(2, 1, 8, 9, generator=gen, dtype=torch.float64)
    image = torch.rand(2, 3, 8, 9, generator=gen, dtype=torch.float64)
    batch = {"depth": pred, "valid": torch.ones_like(pred, dtype=torch.bool), "image": image}
    ours = EdgeAwareSmoothnessLoss(normalize=False)({"depth": pred}, batch)
    assert ours.item() == pytest.approx(inverse_depth_smoothness_loss(pred, image).item(), rel=1e-12)


def plane_depth(normal: tuple[float, float, float], k: torch.Tensor, h: int = 12, w: int = 16) -> torch.Tensor:
    """z of the plane n . X = 1 seen through K: z = 1 / (n . K^-1 [u, v, 1])."""
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    rays = torch.linalg.inv(k) @ torch.stack([u, v, torch.ones_like(u)]).reshape(3, -1)
    return (1.0 / (torch.tensor(normal, dtype=torch.float64) @ rays)).reshape(1, 1, h, w)


def test_normal_loss_on_planes_equals_one_minus_the_angle_cosine() -> None:
    k = torch.tensor([[20.0, 0, 8], [0, 20.0, 6], [0, 0, 1]], dtype=torch.float64)
    tilt = math.radians(30)
    target = plane_depth((0.0, math.sin(tilt), math.cos(tilt)), k) * 3  # a plane tilted 30 degrees
    pred = torch.full_like(target, 3.0)  # fronto-parallel
    batch = {"depth": target, "valid": torch.ones_like(target, dtype=torch.bool), "intrinsics": k[None]}
    loss = SurfaceNormalLoss()({"depth": pred.requires_grad_()}, batch)
    assert loss.item() == pytest.approx(1 - math.cos(tilt), rel=1e-6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert SurfaceNormalLoss()({"depth": target * 2}, batch).item() == pytest.approx(0.0, abs=1e-9)


def test_normal_loss_needs_intrinsics_or_a_field_of_view() -> None:
    out, batch = inputs(torch.ones(4, 4), torch.ones(4, 4))
    with pytest.raises(DepthlabError, match="hfov_deg"):
        SurfaceNormalLoss()(out, batch)
    assert SurfaceNormalLoss(hfov_deg=60)(out, batch).item() == pytest.approx(0.0, abs=1e-12)


def test_ranking_hand_value_on_a_two_pixel_image() -> None:
    # g = [1, 2], z = [0.5, 0.1]: every pair of distinct pixels is misordered by 0.4 -> log(1 + e^0.4);
    # pairs of one pixel with itself are "equal" with z_i - z_j = 0 -> 0
    out, batch = inputs([[0.5, 0.1]], [[1.0, 2.0]])
    loss = RankingLoss(n_pairs=500, seed=7)(out, batch)
    i, j = sample_random_pairs(batch["valid"], 500, torch.Generator().manual_seed(7))
    distinct = (i != j).double().mean().item()
    assert 0.3 < distinct < 0.7
    assert loss.item() == pytest.approx(distinct * math.log(1 + math.exp(0.4)), rel=1e-12)
    # about-equal pairs (ratio 1.01 < 1 + sigma) cost (z_i - z_j)^2 = 0.16
    out, batch = inputs([[0.5, 0.1]], [[1.0, 1.01]])
    assert RankingLoss(n_pairs=500, seed=7)(out, batch).item() == pytest.approx(distinct * 0.16, rel=1e-12)


@pytest.mark.parametrize("cls", [RankingLoss, StructureGuidedRankingLoss])
def test_ranking_is_zero_for_pairs_ordered_beyond_the_margin(cls: type) -> None:
    gen = torch.Generator().manual_seed(4)
    levels = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    target = levels[torch.randint(0, 3, (2, 1, 16, 16), generator=gen)]
    image = target.expand(2, 3, 16, 16).clone()  # edges where the depth changes
    loss = cls(mode="hinge", margin=0.5, seed=0, **({"n_anchors": 50} if cls is StructureGuidedRankingLoss else {}))
    out, batch = inputs(10 * target, target, image=image)
    assert loss(out, batch).item() == 0.0
    out, batch = inputs(10 / target, target, image=image)  # reversed order
    assert loss(out, batch).item() > 1
    assert cls(seed=0)(*inputs(10 * target, target, image=image)).item() < 1e-3  # logistic: ~0 far beyond


def test_structure_guided_pairs_straddle_image_edges() -> None:
    # a vertical step edge between columns 15 and 16: anchors lie on it, points a < b < 0 < c < d along x
    target = torch.ones(1, 1, 32, 32, dtype=torch.float64)
    target[..., 16:] = 4.0
    image = target.expand(1, 3, 32, 32).clone()
    loss = StructureGuidedRankingLoss(n_anchors=100, seed=0, sampler="fixed")
    i, j, _ = loss.sample({"image": image}, torch.ones_like(target, dtype=torch.bool), loss.generator())
    assert i.shape == (1, 600)  # 3 edge pairs per anchor + as many random pairs
    crosses = take(target, i) != take(target, j)
    assert crosses[:, 100:200].all()  # (b, c) straddles the edge
    assert not crosses[:, :100].any() and not crosses[:, 200:300].any()  # (a, b), (c, d) stay on one side


TERMS = {
    "berhu": BerHuLoss(),
    "silog": SILogLoss(),
    "ssi_median": ScaleShiftInvariantLoss("median", "disparity"),
    "ssi_lstsq": ScaleShiftInvariantLoss("lstsq", "depth", "mse"),
    "gm": GradientMatchingLoss(),
    "smooth_masked": EdgeAwareSmoothnessLoss(masked=True),
    "normal": SurfaceNormalLoss(),
    "ranking": RankingLoss(n_pairs=200),
    "structure_ranking": StructureGuidedRankingLoss(n_anchors=50),
}


@pytest.mark.parametrize("name", TERMS)
def test_terms_have_gradients_and_survive_empty_masks(name: str) -> None:
    term: nn.Module = TERMS[name]
    target, valid = random_scene(5)
    k = torch.tensor([[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]], dtype=torch.float64).expand(2, 3, 3)
    image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    for mask in (valid, torch.zeros_like(valid)):
        pred = (target * 1.3 + torch.rand_like(target)).requires_grad_()
        holes = torch.where(mask, target, torch.full_like(target, float("nan")))  # NaN off the mask
        loss = term({"depth": pred}, {"depth": holes, "valid": mask, "intrinsics": k, "image": image})
        assert torch.isfinite(loss) and loss.requires_grad, name
        loss.backward()
        assert torch.isfinite(pred.grad).all(), name
        if mask.any():
            assert pred.grad.abs().sum() > 0, name
        else:
            assert loss.item() == pytest.approx(0.0, abs=1e-3), name  # silog keeps sqrt(eps) = 1e-4


def test_bad_term_arguments_are_rejected() -> None:
    for make in (
        lambda: ScaleShiftInvariantLoss(method="mean"),
        lambda: ScaleShiftInvariantLoss(space="log"),
        lambda: GradientMatchingLoss(scales=0),
        lambda: SILogLoss(lambd=1.5),
        lambda: BerHuLoss(threshold=0),
        lambda: RankingLoss(mode="softmax"),
        lambda: SurfaceNormalLoss(hfov_deg=200),
    ):
        with pytest.raises(ValueError):
            make()
