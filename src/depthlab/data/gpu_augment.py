"""Batch augmentation on the accelerator with kornia (`data.gpu_aug=true`): data/augment_table.py's preset.

The ops, probabilities and ranges are the same table the albumentations path translates. Geometry is drawn once
per sample and applied to images (bilinear) and to depth / valid / mask stacked as one mask tensor (nearest, zero
padding = invalid); photometric ops touch the de-normalised images only. One difference the libraries force:
kornia zooms about the image centre, where the CPU path zooms then crops at a random offset (same zoom range).
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import Tensor, nn

from depthlab.data.augment_table import Augment, Op, preset_ops
from depthlab.data.pixels import denormalize, normalize

Batch = dict


def _map_points(matrix: Tensor, points: Tensor) -> Tensor:
    """Apply [B, 3, 3] homographies to [B, N, 2] points."""
    ones = torch.ones_like(points[..., :1])
    mapped = torch.cat([points, ones], -1) @ matrix.transpose(1, 2)
    return mapped[..., :2] / mapped[..., 2:]


def transform_intrinsics(intrinsics: Tensor, matrix: Tensor) -> Tensor:
    """K after an image warp: move the principal point and the +f points, re-measure the focal lengths."""
    fx, fy, cx, cy = intrinsics[:, 0, 0], intrinsics[:, 1, 1], intrinsics[:, 0, 2], intrinsics[:, 1, 2]
    points = torch.stack([torch.stack([cx, cy], -1), torch.stack([cx + fx, cy], -1), torch.stack([cx, cy + fy], -1)], 1)
    p = _map_points(matrix.to(points), points - 0.5) + 0.5  # kornia warps about pixel centres
    out = torch.eye(3, dtype=intrinsics.dtype, device=intrinsics.device).repeat(len(intrinsics), 1, 1)
    out[:, 0, 0], out[:, 1, 1] = (p[:, 1] - p[:, 0]).norm(dim=-1), (p[:, 2] - p[:, 0]).norm(dim=-1)
    out[:, 0, 2], out[:, 1, 2] = p[:, 0, 0], p[:, 0, 1]
    return out


KORNIA = {
    "hflip": lambda op: K.RandomHorizontalFlip(p=op.p),
    "zoom": lambda op: K.RandomAffine(degrees=0.0, scale=op.ranges["scale"], p=op.p),
    "rotate": lambda op: K.RandomAffine(degrees=op.ranges["degrees"], p=op.p),
    "jitter": lambda op: K.ColorJitter(**op.ranges, p=op.p),
    "blur": lambda op: K.RandomGaussianBlur((op.ranges["kernel"][0],) * 2, op.ranges["sigma"], p=op.p),
    "noise": lambda op: K.RandomGaussianNoise(std=op.ranges["std"][0], p=op.p),  # the table fixes one std
}
GEOMETRIC = ("hflip", "zoom", "rotate")


def kornia_ops(ops: tuple[Op, ...]) -> tuple[list[nn.Module], list[nn.Module]]:
    """(geometric, photometric) kornia augmentations of a preset table, in table order."""
    geometric = [KORNIA[op.kind](op) for op in ops if op.kind in GEOMETRIC]
    return geometric, [KORNIA[op.kind](op) for op in ops if op.kind not in (*GEOMETRIC, "roll")]


def roll_batch(batch: Batch, keys: tuple[str, ...], p: float) -> Batch:
    """Per sample, with probability p, a random circular shift along the width (equirect yaw rotation, exact)."""
    size, width = batch["image"].shape[0], batch["image"].shape[-1]
    shifts = torch.where(torch.rand(size) < p, torch.randint(0, width, (size,)), 0).tolist()
    for key in keys:
        if key in batch:
            batch[key] = torch.stack([x.roll(s, dims=-1) for x, s in zip(batch[key], shifts, strict=True)])
    return batch


class BatchAugment(nn.Module):
    """kornia version of transforms.JointTransform's train ops for whole [B, C, H, W] batches."""

    def __init__(self, augment: Augment, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        geometric, photometric = kornia_ops(preset_ops(augment))
        self.roll_p = sum(op.p for op in preset_ops(augment) if op.kind == "roll")
        self.geometric = K.AugmentationSequential(*geometric, data_keys=["input", "mask"]) if geometric else None
        self.photometric = K.AugmentationSequential(*photometric) if photometric else None
        self.register_buffer("mean", mean.view(1, 3, 1, 1).clone(), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1).clone(), persistent=False)

    @torch.no_grad()
    def forward(self, batch: Batch) -> Batch:
        batch = dict(batch)
        if self.roll_p > 0:
            batch = roll_batch(batch, ("image", "background", "depth", "valid", "mask"), self.roll_p)
        mean, std = self.mean.to(batch["image"]), self.std.to(batch["image"])
        images = [denormalize(batch[k], mean, std) for k in ("image", "background") if k in batch]
        if self.geometric is not None:
            masks = [batch["depth"], batch["valid"].float()] + ([batch["mask"]] if "mask" in batch else [])
            warped, warped_masks = self.geometric(torch.cat(images, 1), torch.cat(masks, 1))
            images = list(warped.split(3, 1))
            batch["depth"], valid = warped_masks[:, :1], warped_masks[:, 1:2] > 0.5
            batch["valid"] = valid & (batch["depth"] > 0)
            batch["depth"] = torch.where(batch["valid"], batch["depth"], torch.zeros_like(batch["depth"]))
            if "mask" in batch:
                batch["mask"] = (warped_masks[:, 2:3] > 0.5).float()
            if "intrinsics" in batch:
                batch["intrinsics"] = transform_intrinsics(batch["intrinsics"], self.geometric.transform_matrix)
        if self.photometric is not None:
            first = self.photometric(images[0])
            images = [first] + [self.photometric(x, params=self.photometric._params) for x in images[1:]]
        for key, image in zip(("image", "background"), images, strict=False):
            batch[key] = normalize(image.clamp(0, 1), mean, std)
        return batch
