"""Joint augmentation with albumentations: one geometric draw moves image, depth, valid, mask and background together.

Every split is first resized to the input size: images by data/pixels.py's resize_rgb (the very function predict
uses), depth / valid / masks by exact nearest neighbour. On train the preset of data/augment_table.py follows
(a roll, for equirect panoramas, is a circular shift along the width; exact, so it is this module's own op)
(conf/augment/{none,default,strong}.yaml; data/gpu_augment.py translates the same table for kornia).
Depth, valid and foreground masks are albumentations *mask* targets resampled with nearest neighbour, so a depth
value is never averaged with an invalid zero; padding and rotation corners fill depth and valid with 0 (invalid).
Sparse targets (data.sparse, data/sparse.py) are instead scattered point by point on resize, and their points
ride through zoom and rotation as keypoints, so no depth is interpolated or duplicated.
Intrinsics ride along as three keypoints (principal point, +fx, +fy) and are rebuilt after the geometry; they
use continuous pixel coordinates with the image spanning [0, W] x [0, H] (pixel u's centre at u + 0.5), so a
resize by s scales fx, fy, cx, cy by s and a flip maps cx to W - cx.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import albumentations as A
import cv2
import numpy as np

from depthlab.data.augment_table import Augment, Op, preset_ops
from depthlab.data.pixels import resize_rgb
from depthlab.data.sparse import is_sparse, scatter_points, scatter_resize, sparse_points

Sample = dict[str, Any]
TARGETS = {"depth": "mask", "valid": "mask", "background": "image"}
IMAGES, MASKS = ("image", "background"), ("depth", "valid", "mask")
NEAREST = cv2.INTER_NEAREST_EXACT  # pixel-centre aligned like bilinear (INTER_NEAREST shifts by up to 1 px)


def _zoom(op: Op, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """Zoom by a factor drawn from the range, then pad (0 = invalid) and randomly crop back to the input size."""
    if size is None:  # nothing to crop back to
        return []
    low, high = op.ranges["scale"]
    return [
        A.RandomScale(scale_limit=(low - 1, high - 1), p=op.p, mask_interpolation=NEAREST),
        A.PadIfNeeded(*size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
        A.RandomCrop(*size),
    ]


def _rotate(op: Op, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """Rotate about the centre; corners fill depth and valid with 0 (invalid)."""
    return [
        A.Rotate(
            limit=op.ranges["degrees"],
            p=op.p,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=0,
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ]


def _jitter(op: Op, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """torchvision's ColorJitter formulas, as kornia's ColorJitter applies them."""
    return [A.ColorJitter(**op.ranges, p=op.p)]


def _blur(op: Op, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """Gaussian blur with the table's one kernel size and sigma range."""
    return [A.GaussianBlur(blur_limit=op.ranges["kernel"], sigma_limit=op.ranges["sigma"], p=op.p)]


def _noise(op: Op, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """Per-pixel, per-channel Gaussian noise; std in [0, 1] image units (albumentations: fraction of 1.0)."""
    return [A.GaussNoise(std_range=op.ranges["std"], p=op.p)]


ALBUMENTATIONS = {"zoom": _zoom, "rotate": _rotate, "jitter": _jitter, "blur": _blur, "noise": _noise}


def albumentations_ops(ops: tuple[Op, ...], size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """The albumentations transforms of a preset table, geometry first; the flip is JointTransform's own.

    albumentations flips keypoints about (W - 1) / 2 but scales them about 0, and intrinsics must use one
    convention (image spanning [0, W], so resizes scale K exactly).
    """
    return [t for op in ops if op.kind in ALBUMENTATIONS for t in ALBUMENTATIONS[op.kind](op, size)]


def intrinsics_to_points(intrinsics: np.ndarray) -> np.ndarray:
    """Principal point and the points one focal length right of and below it, as (3, 2) x, y."""
    k = np.asarray(intrinsics, dtype=np.float64)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    return np.array([[cx, cy], [cx + fx, cy], [cx, cy + fy]])


def points_to_intrinsics(points: np.ndarray) -> np.ndarray:
    """Inverse of intrinsics_to_points after a similarity transform (flip and rotation keep |f|)."""
    p = np.asarray(points, dtype=np.float64)
    k = np.eye(3, dtype=np.float32)
    k[0, 0], k[1, 1] = np.linalg.norm(p[1] - p[0]), np.linalg.norm(p[2] - p[0])
    k[0, 2], k[1, 2] = p[0]
    return k


def resize_inputs(inputs: Sample, size: tuple[int, int], sparse: bool = False) -> Sample:
    """Images through pixels.resize_rgb (as predict does), depth / valid / mask nearest; K scaled with the axes.

    sparse: depth and valid are scattered point by point (data/sparse.py), so no measured point is dropped
    except where two land in one output pixel.
    """
    height, width = inputs["depth"].shape
    out = dict(inputs)
    for key in IMAGES:
        if key in out:
            out[key] = resize_rgb(out[key], size)
    if (height, width) != tuple(size):
        if sparse:
            depth, valid = scatter_resize(out.pop("depth"), out.pop("valid"), size)
            out["depth"], out["valid"] = depth, valid.astype(np.uint8)
        for key in MASKS:
            if key in out and (not sparse or key == "mask"):
                out[key] = cv2.resize(out[key], (size[1], size[0]), interpolation=NEAREST)
    if "intrinsics" in out:
        out["intrinsics"] = np.diag([size[1] / width, size[0] / height, 1.0]).astype(np.float32) @ out["intrinsics"]
    return out


class JointTransform:
    """Resize to the input size (every split) plus, on train, the preset's geometric and photometric ops."""

    def __init__(
        self,
        size: tuple[int, int] | None,
        augment: Augment | None = None,
        sparse: bool | str = False,
        sparse_threshold: float = 0.3,
    ) -> None:
        self.size, self.augment = size, augment or Augment()
        self.sparse, self.sparse_threshold = sparse, sparse_threshold  # data.sparse: True, False or "auto"
        self.ops = preset_ops(self.augment)
        self.flip_p = sum(op.p for op in self.ops if op.kind == "hflip")
        self.roll_p = sum(op.p for op in self.ops if op.kind == "roll")
        ops = albumentations_ops(self.ops, size)
        self.geometric = any(isinstance(t, A.DualTransform) for t in ops)  # moves pixels, hence intrinsics
        keypoints = A.KeypointParams(format="xy", remove_invisible=False) if self.geometric else None
        self.pipeline = A.Compose(ops, additional_targets=TARGETS, keypoint_params=keypoints) if ops else None

    def __call__(self, sample: Sample) -> Sample:
        depth = np.asarray(sample["depth"], dtype=np.float32).reshape(np.shape(sample["image"])[:2])
        valid = np.isfinite(depth)
        if "valid" in sample:
            valid &= np.asarray(sample["valid"]).reshape(depth.shape).astype(bool)
        inputs = {
            "image": np.asarray(sample["image"], dtype=np.float32),
            "depth": np.where(valid, depth, 0).astype(np.float32),
            "valid": valid.astype(np.uint8),
        }
        if "mask" in sample:
            inputs["mask"] = np.asarray(sample["mask"], dtype=np.float32).reshape(depth.shape)
        if "background" in sample:
            inputs["background"] = np.asarray(sample["background"], dtype=np.float32)
        if "intrinsics" in sample:
            inputs["intrinsics"] = np.asarray(sample["intrinsics"], dtype=np.float32)
        sparse = is_sparse(valid, self.sparse, self.sparse_threshold)
        if self.size is not None:
            inputs = resize_inputs(inputs, self.size, sparse)
        out = self.augment_inputs(inputs, sparse) if self.pipeline is not None else inputs
        result = dict(sample)
        result["meta"] = {**(sample.get("meta") or {}), "sparse": sparse}
        result["image"] = np.clip(out["image"], 0.0, 1.0)
        result["valid"] = out["valid"].astype(bool) & (out["depth"] > 0)
        result["depth"] = out["depth"]
        for key in ("mask", "background", "intrinsics"):
            if key in sample:
                result[key] = np.clip(out[key], 0.0, 1.0) if key == "background" else out[key]
        if self.flip_p > 0 and random.random() < self.flip_p:
            result = hflip(result, [k for k in (*IMAGES, *MASKS) if k in result])
        if self.roll_p > 0 and random.random() < self.roll_p:
            result = roll(result, [k for k in (*IMAGES, *MASKS) if k in result], random.randrange(depth.shape[1]))
        return result

    def augment_inputs(self, inputs: Sample, sparse: bool = False) -> Sample:
        """Run the albumentations pipeline; intrinsics ride along as keypoints (an empty set when there are none).

        sparse: the measured points ride along as keypoints too and are scattered onto the output grid
        (data/sparse.py): geometry moves them without interpolating or duplicating; only collisions and points
        leaving the frame are lost.
        """
        moved = sparse and self.geometric
        targets = {k: v for k, v in inputs.items() if k != "intrinsics" and not (moved and k in ("depth", "valid"))}
        if self.geometric:
            k = inputs.get("intrinsics")
            points = intrinsics_to_points(k) if k is not None else np.zeros((0, 2))
            if moved:
                xy, values = sparse_points(inputs["depth"], inputs["valid"])
                points = np.concatenate([points, xy])
            targets["keypoints"] = points
        out = self.pipeline(**targets)
        n = 3 if "intrinsics" in inputs else 0
        if moved:
            depth, valid = scatter_points(np.asarray(out["keypoints"])[n:, :2], values, out["image"].shape[:2])
            out["depth"], out["valid"] = depth, valid.astype(np.uint8)
        if "intrinsics" in inputs:
            moved_k = points_to_intrinsics(np.asarray(out["keypoints"])[:3]) if self.geometric else None
            out["intrinsics"] = inputs["intrinsics"] if moved_k is None else moved_k
        return out


def hflip(sample: Sample, keys: list[str]) -> Sample:
    """Mirror the arrays left-right; the principal point moves to W - cx (image spanning [0, W])."""
    for key in keys:
        sample[key] = np.ascontiguousarray(sample[key][:, ::-1])
    if "intrinsics" in sample:
        sample["intrinsics"] = sample["intrinsics"].copy()
        sample["intrinsics"][0, 2] = sample["depth"].shape[1] - sample["intrinsics"][0, 2]
    return sample


def roll(sample: Sample, keys: list[str], shift: int) -> Sample:
    """Shift the arrays `shift` pixels right, wrapping around: a panorama's yaw rotation, exact for equirect."""
    for key in keys:
        sample[key] = np.ascontiguousarray(np.roll(sample[key], shift, axis=1))
    return sample


def build_transform(
    size: tuple[int, int] | None,
    augment: Mapping[str, Any] | Augment | None,
    sparse: bool | str = False,
    sparse_threshold: float = 0.3,
) -> JointTransform | None:
    """The joint transform of one split, or None when it would do nothing (no resize, no active op)."""
    aug = augment if isinstance(augment, Augment) else Augment.from_mapping(augment)
    if size is None and not aug.active:
        return None
    return JointTransform(size, aug, sparse, sparse_threshold)
