"""Joint augmentation with albumentations: one geometric draw moves image, depth, valid, mask and background together.

Presets live in conf/augment/{none,default,strong}.yaml (package `data.augment`) and map onto `Augment` below.
Depth, valid and foreground masks are albumentations *mask* targets resampled with nearest neighbour, so a depth
value is never averaged with an invalid zero; padding and rotation corners fill depth and valid with 0 (invalid).
Intrinsics ride along as three keypoints (principal point, +fx, +fy) and are rebuilt after the geometry; they
use continuous pixel coordinates with the image spanning [0, W] x [0, H] (pixel u's centre at u + 0.5), so a
resize by s scales fx, fy, cx, cy by s and a flip maps cx to W - cx.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import albumentations as A
import cv2
import numpy as np

from depthlab.utils.errors import DepthlabError

Sample = dict[str, Any]
TARGETS = {"depth": "mask", "valid": "mask", "background": "image"}


@dataclass(frozen=True)
class Augment:
    """One augmentation preset: probabilities of each op (0 = off) and the geometric ranges."""

    hflip: float = 0.0  # probability of a horizontal flip
    scale: tuple[float, float] | None = None  # random zoom range, then a random crop back to the input size
    rotate: float = 0.0  # max |angle| in degrees (small: depth sensors do not roll much)
    rotate_p: float = 0.5
    color_jitter: float = 0.0  # probabilities of the photometric ops (images only)
    brightness_contrast: float = 0.0
    hue_saturation: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    strength: float = 1.0  # multiplies the photometric ranges (default 0.2 brightness / contrast / saturation)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Augment:
        """Build from a config mapping, naming unknown keys (a typo must not silently disable augmentation)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DepthlabError(f"data.augment.{unknown[0]} is unknown; augment keys: {', '.join(sorted(known))}")
        if values.get("scale") is not None:
            low, high = (float(v) for v in values["scale"])
            if not 0 < low <= high:
                raise DepthlabError(f"data.augment.scale={[low, high]} must be [low, high] with 0 < low <= high")
            values["scale"] = (low, high)
        return cls(**values)

    @property
    def active(self) -> bool:
        """True when any op can fire."""
        probs = (self.hflip, self.color_jitter, self.brightness_contrast, self.hue_saturation, self.blur, self.noise)
        return any(p > 0 for p in probs) or self.scale is not None or (self.rotate > 0 and self.rotate_p > 0)


def geometric_ops(aug: Augment, size: tuple[int, int] | None) -> list[A.BasicTransform]:
    """Zoom + random crop (needs a fixed input size) and a small rotation; masks resampled nearest.

    The flip is applied by JointTransform itself: albumentations flips keypoints about (W - 1) / 2 but scales
    them about 0, and intrinsics must use one convention (image spanning [0, W], so resizes scale K exactly).
    """
    exact = cv2.INTER_NEAREST_EXACT  # pixel-centre aligned like bilinear (INTER_NEAREST shifts by up to 1 px)
    ops: list[A.BasicTransform] = []
    if aug.scale is not None and size is not None:
        low, high = aug.scale
        ops += [
            A.RandomScale(scale_limit=(low - 1, high - 1), p=1.0, mask_interpolation=exact),
            A.PadIfNeeded(*size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
            A.RandomCrop(*size),
        ]
    if aug.rotate > 0 and aug.rotate_p > 0:
        ops.append(
            A.Rotate(
                limit=aug.rotate,
                p=aug.rotate_p,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                mask_interpolation=cv2.INTER_NEAREST,
            )
        )
    return ops


def photometric_ops(aug: Augment) -> list[A.BasicTransform]:
    """Colour jitter, brightness / contrast, hue / saturation, blur, noise: images only, never depth or masks."""
    s = aug.strength
    ops: list[A.BasicTransform] = []
    if aug.color_jitter > 0:
        ops.append(A.ColorJitter(0.2 * s, 0.2 * s, 0.2 * s, min(0.05 * s, 0.5), p=aug.color_jitter))
    if aug.brightness_contrast > 0:
        ops.append(A.RandomBrightnessContrast(0.2 * s, 0.2 * s, p=aug.brightness_contrast))
    if aug.hue_saturation > 0:
        ops.append(A.HueSaturationValue(10 * s, 20 * s, 10 * s, p=aug.hue_saturation))
    if aug.blur > 0:
        ops.append(A.GaussianBlur(blur_limit=(3, 5), p=aug.blur))
    if aug.noise > 0:
        ops.append(A.GaussNoise(std_range=(0.01, 0.03 * s), p=aug.noise))
    return ops


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


class JointTransform:
    """Resize to the input size (every split) plus, on train, the preset's geometric and photometric ops."""

    def __init__(self, size: tuple[int, int] | None, augment: Augment | None = None) -> None:
        self.size, self.augment = size, augment or Augment()
        geometric: list[A.BasicTransform] = []
        if size is not None:
            geometric.append(
                A.Resize(*size, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST_EXACT)
            )
        geometric += geometric_ops(self.augment, size)
        ops = geometric + photometric_ops(self.augment)
        keypoints = A.KeypointParams(format="xy", remove_invisible=False) if geometric else None
        self.pipeline = A.Compose(ops, additional_targets=TARGETS, keypoint_params=keypoints) if ops else None
        self.geometric = bool(geometric)

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
        if self.geometric:  # intrinsics ride along as keypoints (an empty set keeps the processor happy)
            has_k = "intrinsics" in sample
            inputs["keypoints"] = intrinsics_to_points(sample["intrinsics"]) if has_k else np.zeros((0, 2))
        out = self.pipeline(**inputs) if self.pipeline is not None else inputs
        result = dict(sample)
        result["image"] = np.clip(out["image"], 0.0, 1.0)
        result["valid"] = out["valid"].astype(bool) & (out["depth"] > 0)
        result["depth"] = out["depth"]
        for key in ("mask", "background"):
            if key in sample:
                result[key] = out[key] if key == "mask" else np.clip(out[key], 0.0, 1.0)
        if self.geometric and "intrinsics" in sample:
            result["intrinsics"] = points_to_intrinsics(out["keypoints"])
        if self.augment.hflip > 0 and random.random() < self.augment.hflip:
            result = hflip(result, [k for k in ("image", "depth", "valid", "mask", "background") if k in result])
        return result


def hflip(sample: Sample, keys: list[str]) -> Sample:
    """Mirror the arrays left-right; the principal point moves to W - cx (image spanning [0, W])."""
    for key in keys:
        sample[key] = np.ascontiguousarray(sample[key][:, ::-1])
    if "intrinsics" in sample:
        sample["intrinsics"] = sample["intrinsics"].copy()
        sample["intrinsics"][0, 2] = sample["depth"].shape[1] - sample["intrinsics"][0, 2]
    return sample


def build_transform(size: tuple[int, int] | None, augment: Mapping[str, Any] | Augment | None) -> JointTransform | None:
    """The joint transform of one split, or None when it would do nothing (no resize, no active op)."""
    aug = augment if isinstance(augment, Augment) else Augment.from_mapping(augment)
    if size is None and not aug.active:
        return None
    return JointTransform(size, aug)
