"""One augmentation table: a preset's ops, probabilities and ranges in neutral units, for both pipelines.

conf/augment/*.yaml set an `Augment` (probabilities, zoom, rotation, strength); `preset_ops` resolves it into `Op`s
that data/transforms.py (albumentations, in the loader workers) and data/gpu_augment.py (kornia, on the device)
translate one to one. Units are ones both libraries express exactly: zoom factors, degrees, torchvision ColorJitter
factors (1 = unchanged) with hue in turns, blur sigma in pixels with one kernel size, noise std in [0, 1] units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from depthlab.utils.errors import DepthlabError

Range = tuple[float, float]
JITTER_PARAMS = ("brightness", "contrast", "saturation", "hue")
JITTER = {  # Augment probability key -> ColorJitter half-widths at strength 1 (factor 1 +- w, hue +- w turns)
    "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05},
    "brightness_contrast": {"brightness": 0.2, "contrast": 0.2},
    "hue_saturation": {"saturation": 0.2, "hue": 0.03},
}
BLUR_KERNEL = 5  # one size: kornia cannot draw a kernel size per sample
BLUR_SIGMA = (0.1, 1.5)
NOISE_STD = 0.02  # at strength 1; one std per preset: kornia cannot draw a std per sample


@dataclass(frozen=True)
class Augment:
    """One augmentation preset: probabilities of each op (0 = off) and the geometric ranges."""

    hflip: float = 0.0  # probability of a horizontal flip
    roll: float = 0.0  # probability of a random circular shift along the width (equirect panoramas only)
    scale: tuple[float, float] | None = None  # random zoom range, then a random crop back to the input size
    rotate: float = 0.0  # max |angle| in degrees (small: depth sensors do not roll much)
    rotate_p: float = 0.5
    color_jitter: float = 0.0  # probabilities of the photometric ops (images only)
    brightness_contrast: float = 0.0
    hue_saturation: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    strength: float = 1.0  # multiplies the photometric ranges (JITTER half-widths, NOISE_STD)

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
        return bool(preset_ops(self))


@dataclass(frozen=True)
class Op:
    """One op of a preset: kind (hflip, roll, zoom, rotate, jitter, blur, noise), probability, (low, high) ranges."""

    kind: str
    p: float
    ranges: dict[str, Range] = field(default_factory=dict)


def jitter_range(name: str, width: float) -> Range:
    """A ColorJitter range: hue +- width turns (at most half a turn), other factors 1 +- width (never below 0)."""
    if name == "hue":
        width = min(width, 0.5)
        return (-width, width)
    return (max(0.0, 1.0 - width), 1.0 + width)


def preset_ops(aug: Augment) -> tuple[Op, ...]:
    """The preset's ops in application order (geometry first), each with its probability and ranges."""
    ops = [Op("hflip", aug.hflip)] if aug.hflip > 0 else []
    if aug.roll > 0:
        ops.append(Op("roll", aug.roll))
    if aug.scale is not None:
        ops.append(Op("zoom", 1.0, {"scale": aug.scale}))
    if aug.rotate > 0 and aug.rotate_p > 0:
        ops.append(Op("rotate", aug.rotate_p, {"degrees": (-aug.rotate, aug.rotate)}))
    for key, widths in JITTER.items():
        if getattr(aug, key) > 0:
            ranges = {name: jitter_range(name, widths.get(name, 0.0) * aug.strength) for name in JITTER_PARAMS}
            ops.append(Op("jitter", getattr(aug, key), ranges))
    if aug.blur > 0:
        ops.append(Op("blur", aug.blur, {"kernel": (BLUR_KERNEL, BLUR_KERNEL), "sigma": BLUR_SIGMA}))
    if aug.noise > 0:
        std = NOISE_STD * aug.strength
        ops.append(Op("noise", aug.noise, {"std": (std, std)}))
    return tuple(ops)


def check_augment(aug: Augment, camera: str) -> None:
    """Refuse ops that are wrong for the camera: zoom / rotation break a panorama, a roll breaks a pinhole image."""
    if camera == "equirect":
        bad = [
            key for key, on in (("scale", aug.scale is not None), ("rotate", aug.rotate > 0 and aug.rotate_p > 0)) if on
        ]
        if bad:
            raise DepthlabError(
                f"data.augment.{bad[0]} (a pinhole crop / zoom / rotation) breaks an equirect panorama's 360 x 180 "
                "degree geometry; use augment=panorama (roll, flip, colour) or set "
                + " ".join(f"data.augment.{k}={'null' if k == 'scale' else 0}" for k in bad)
            )
    elif aug.roll > 0:
        raise DepthlabError(
            f"data.augment.roll={aug.roll} wraps the image around, exact only for 360-degree panoramas; "
            "set data.augment.roll=0 or data.camera=equirect"
        )
