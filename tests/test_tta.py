"""Flip TTA: outputs are flipped back before averaging, and a mirror-symmetric network is unchanged by it."""

from __future__ import annotations

import torch

from depthlab.models.tta import flip_average, flip_batch, maybe_flip_average


def test_flip_average_of_a_position_dependent_net_is_the_mean_of_both_views() -> None:
    image = torch.arange(12.0).reshape(1, 1, 3, 4).expand(1, 3, 3, 4)
    ramp = torch.arange(4.0)  # output depends on the column: not flip-invariant

    def forward(batch):
        return {"depth": batch["image"][:, :1] + ramp}

    out = flip_average(forward, {"image": image, "depth": torch.ones(1, 1, 3, 4)})
    expected = image[:, :1] + (ramp + ramp.flip(-1)) / 2  # image term flips twice -> unchanged; ramp averages
    assert torch.allclose(out["depth"], expected)


def test_flip_batch_leaves_targets_alone_and_off_switch_is_one_pass() -> None:
    batch = {"image": torch.rand(2, 3, 4, 5), "background": torch.rand(2, 3, 4, 5), "depth": torch.rand(2, 1, 4, 5)}
    flipped = flip_batch(batch)
    assert torch.equal(flipped["image"], batch["image"].flip(-1))
    assert torch.equal(flipped["background"], batch["background"].flip(-1))
    assert flipped["depth"] is batch["depth"]
    calls = []

    def forward(b):
        calls.append(1)
        return {"depth": b["image"][:, :1]}

    out = maybe_flip_average(forward, batch, enabled=False)
    assert len(calls) == 1 and torch.equal(out["depth"], batch["image"][:, :1])
