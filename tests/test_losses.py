"""Loss terms and CompositeLoss: hand-computed values, gradients, empty masks, config instantiation."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from depthlab.losses import CompositeLoss, EdgeLoss, L1Loss, MSELoss, RMSELoss, SSIMLoss
from depthlab.utils.errors import DepthlabError


def make_inputs(pred: list, target: list, valid: list) -> tuple[dict, dict]:
    """(outputs, batch) dicts for one [1, 1, H, W] image, pred a leaf that records gradients."""
    p = torch.tensor(pred, dtype=torch.float64)[None, None].requires_grad_()
    g = torch.tensor(target, dtype=torch.float64)[None, None]
    v = torch.tensor(valid)[None, None]
    return {"depth": p}, {"depth": g, "valid": v, "image": torch.zeros(1, 3, *g.shape[-2:])}


# 2x3 example shared by L1, edge and composite: pixel (1, 2) is invalid (target NaN, as a hole may be)
EDGE_PRED = [[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]
EDGE_TARGET = [[0.0, 2.0, 2.0], [1.0, 2.0, float("nan")]]
EDGE_VALID = [[True, True, True], [True, True, False]]
EDGE_L1 = (0 + 1 + 1 + 1 + 0) / 5
# dx: p [1, 2 | 0, 0], g [2, 0 | 1, -]: |diff| 1, 2 | 1, (invalid) -> 4/3
# dy: p [2, 1, -1],    g [1, 0, -]:     |diff| 1, 1, (invalid)    -> 1
EDGE_EDGE = 4 / 3 + 1


def test_l1_hand_value_and_gradient() -> None:
    valid = [[True, True], [False, True]]
    outputs, batch = make_inputs([[1.0, 2.0], [3.0, 4.0]], [[1.5, 2.0], [0.0, 5.0]], valid)
    loss = L1Loss()(outputs, batch)
    assert loss.item() == pytest.approx((0.5 + 0 + 1) / 3, rel=1e-12)
    loss.backward()
    assert outputs["depth"].grad.flatten().tolist() == pytest.approx([-1 / 3, 0.0, 0.0, -1 / 3])


def test_edge_hand_value_and_gradient() -> None:
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, EDGE_VALID)
    loss = EdgeLoss()(outputs, batch)
    assert loss.item() == pytest.approx(EDGE_EDGE, rel=1e-12)
    loss.backward()
    grad = outputs["depth"].grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert grad[0, 0, 1, 2] == 0  # the invalid pixel takes part in no valid difference


def test_ssim_loss_hand_value_on_constant_maps() -> None:
    # constant maps: SSIM = (2xy + C1) / (x^2 + y^2 + C1), x = 2/8, y = 4/8, C1 = 1e-4
    outputs, batch = make_inputs([[2.0] * 8] * 8, [[4.0] * 8] * 8, [[True] * 8] * 8)
    loss = SSIMLoss(window=7, max_depth=8.0)(outputs, batch)
    assert loss.item() == pytest.approx((1 - 0.2501 / 0.3126) / 2, rel=1e-9)


def test_ssim_loss_zero_for_identical_and_positive_otherwise() -> None:
    gen = torch.Generator().manual_seed(0)
    target = 1 + 8 * torch.rand(2, 1, 16, 16, generator=gen, dtype=torch.float64)
    valid = torch.rand(target.shape, generator=gen) > 0.2
    garbage = torch.where(valid, target, torch.full_like(target, 99.0))  # differs only off the mask
    batch = {"depth": target, "valid": valid}
    assert SSIMLoss()({"depth": garbage}, batch).item() == pytest.approx(0.0, abs=1e-12)
    pred = (target + torch.randn(target.shape, generator=gen, dtype=torch.float64)).requires_grad_()
    loss = SSIMLoss()({"depth": pred}, batch)
    assert 0 < loss.item() <= 1
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("term", [L1Loss(), SSIMLoss(), EdgeLoss()], ids=["l1", "ssim", "edge"])
def test_no_valid_pixel_gives_exact_zero_with_finite_grads(term: nn.Module) -> None:
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, [[False] * 3] * 2)
    batch["depth"][..., 0, 0] = float("inf")
    loss = term(outputs, batch)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.isfinite(outputs["depth"].grad).all()


def test_edge_without_valid_pairs_is_zero() -> None:
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, [[True, False, True], [False, True, False]])
    assert EdgeLoss()(outputs, batch).item() == 0.0


def test_ssim_loss_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="odd"):
        SSIMLoss(window=4)
    with pytest.raises(ValueError, match="max_depth"):
        SSIMLoss(max_depth=0.0)


def test_composite_weights_terms_and_reports_them_unweighted() -> None:
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, EDGE_VALID)
    loss = CompositeLoss({"l1": L1Loss(), "edge": EdgeLoss()}, {"l1": 1.0, "edge": 0.5})
    out = loss(outputs, batch)
    assert set(out) == {"loss", "l1", "edge"}
    assert out["l1"].item() == pytest.approx(EDGE_L1)
    assert out["edge"].item() == pytest.approx(EDGE_EDGE)
    assert out["loss"].item() == pytest.approx(EDGE_L1 + 0.5 * EDGE_EDGE)
    out["loss"].backward()
    assert torch.isfinite(outputs["depth"].grad).all()


def test_composite_zero_weight_term_is_reported_but_not_summed() -> None:
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, EDGE_VALID)
    out = CompositeLoss({"l1": L1Loss(), "edge": EdgeLoss()}, {"l1": 2.0, "edge": 0.0})(outputs, batch)
    assert out["loss"].item() == pytest.approx(2 * EDGE_L1)
    assert out["edge"].item() == pytest.approx(EDGE_EDGE) and not out["edge"].requires_grad
    only_zero = CompositeLoss({"edge": EdgeLoss()}, {"edge": 0})(outputs, batch)
    assert only_zero["loss"].item() == 0.0 and only_zero["loss"].requires_grad


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"l1": 1.0}, "'edge' has no weight"),
        ({"l1": 1.0, "edge": 1.0, "ssim": 1.0}, "loss.weights.ssim has no loss term"),
        ({"l1": 1.0, "edge": -0.1}, "loss.weights.edge=-0.1 must be >= 0"),
    ],
)
def test_composite_rejects_mismatched_or_negative_weights(weights: dict, message: str) -> None:
    with pytest.raises(DepthlabError, match=message):
        CompositeLoss({"l1": L1Loss(), "edge": EdgeLoss()}, weights)


def test_composite_from_hydra_yaml() -> None:
    cfg = OmegaConf.create(
        """
        _target_: depthlab.losses.composite.CompositeLoss
        terms:
          l1: {_target_: depthlab.losses.terms.L1Loss}
          ssim: {_target_: depthlab.losses.terms.SSIMLoss, max_depth: 10.0}
        weights: {l1: 1.0, ssim: 0.85}
        """
    )
    loss = instantiate(cfg)
    assert isinstance(loss, CompositeLoss)
    assert isinstance(loss.terms["l1"], L1Loss) and isinstance(loss.terms["ssim"], SSIMLoss)
    assert loss.terms["ssim"].max_depth == 10.0 and loss.weights == {"l1": 1.0, "ssim": 0.85}
    outputs, batch = make_inputs(EDGE_PRED, EDGE_TARGET, EDGE_VALID)
    out = loss(outputs, batch)
    assert out["loss"].item() == pytest.approx(out["l1"].item() + 0.85 * out["ssim"].item())


def test_mse_and_rmse_hand_values_ignore_invalid_pixels() -> None:
    valid = [[True, True], [False, True]]
    outputs, batch = make_inputs([[1.0, 2.0], [3.0, 4.0]], [[1.5, 2.0], [float("nan"), 6.0]], valid)
    mse = (0.25 + 0.0 + 4.0) / 3
    assert MSELoss()(outputs, batch).item() == pytest.approx(mse, rel=1e-12)
    rmse = RMSELoss(eps=0.0)(outputs, batch)
    assert rmse.item() == pytest.approx(mse**0.5, rel=1e-12)
    rmse.backward()
    assert torch.isfinite(outputs["depth"].grad).all()
    empty = make_inputs([[1.0]], [[2.0]], [[False]])
    assert RMSELoss()(*empty).item() == pytest.approx(1e-4, rel=1e-6)
