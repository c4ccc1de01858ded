"""Named evaluation crops (Eigen NYU, Garg and Eigen KITTI): the one list of names and the published boxes."""

from __future__ import annotations

import torch
from torch import Tensor

from depthlab.utils.choices import check_choice

CROPS = ("eigen_nyu", "garg", "eigen_kitti")
NYU_SIZE = (480, 640)
NYU_EIGEN_BOX = (45, 471, 41, 601)  # rows 45:471, cols 41:601 of the 480x640 NYU frame
# (top, bottom, left, right) as fractions of (H, H, W, W): Garg et al. 2016 and Eigen et al. 2014 on KITTI
KITTI_FRACTIONS = {
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen_kitti": (0.3324324, 0.91351351, 0.03594771, 0.96405229),
}


def crop_box(name: str, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a named evaluation crop, with the published indices.

    KITTI crops are int(fraction * size) as in the reference evaluators; the NYU Eigen crop is fixed at 480x640
    and scaled by the same fractions on other sizes.
    """
    check_choice("crop", name, CROPS)
    if name == "eigen_nyu":
        if (height, width) == NYU_SIZE:
            return NYU_EIGEN_BOX
        top, bottom, left, right = NYU_EIGEN_BOX
        fractions = (top / 480, bottom / 480, left / 640, right / 640)
    else:
        fractions = KITTI_FRACTIONS[name]
    t, b, left, r = fractions
    return int(t * height), int(b * height), int(left * width), int(r * width)


def crop_mask(name: str | None, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Bool [H, W]: True inside the named crop (everywhere for None)."""
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    if name is None:
        return mask.fill_(True)
    top, bottom, left, right = crop_box(name, height, width)
    mask[top:bottom, left:right] = True
    return mask
