"""One augmentation table: the albumentations and kornia pipelines built from a preset draw from the same ranges."""

from __future__ import annotations

import functools

import albumentations as A
import kornia.augmentation as K
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from depthlab.config_dir import CONF_DIR
from depthlab.data.augment_table import Augment, Op
from depthlab.data.gpu_augment import KORNIA, BatchAugment
from depthlab.data.transforms import ALBUMENTATIONS, JointTransform

SIZE = (32, 40)


@functools.cache
def presets() -> dict[str, Augment]:
    """The presets as Hydra composes them from conf/augment/*.yaml (augment=<name>)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return {
            name: Augment.from_mapping(compose("train", overrides=["data=kitti", f"augment={name}"]).data.augment)
            for name in ("default", "strong", "none")
        }


def _range(low, high) -> tuple[float, float]:
    return (float(low), float(high))


def _sampled(sampler) -> tuple[float, float]:
    return _range(sampler.low, sampler.high)


def albumentations_ranges(transform: JointTransform) -> list[tuple]:
    """(kind, p, ranges) read back from the constructed albumentations objects (and JointTransform's own flip)."""
    found = [("hflip", transform.flip_p, {})] if transform.flip_p > 0 else []
    for t in transform.pipeline.transforms if transform.pipeline is not None else []:
        if isinstance(t, A.RandomScale):
            found.append(("zoom", t.p, {"scale": _range(1 + t.scale_limit[0], 1 + t.scale_limit[1])}))
        elif isinstance(t, A.Rotate):
            found.append(("rotate", t.p, {"degrees": _range(*t.limit)}))
        elif isinstance(t, A.ColorJitter):
            names = ("brightness", "contrast", "saturation", "hue")
            found.append(("jitter", t.p, {n: _range(*getattr(t, n)) for n in names}))
        elif isinstance(t, A.GaussianBlur):
            found.append(("blur", t.p, {"kernel": _range(*t.blur_limit), "sigma": _range(*t.sigma_limit)}))
        elif isinstance(t, A.GaussNoise):
            found.append(("noise", t.p, {"std": _range(*t.std_range), "mean": _range(*t.mean_range)}))
        elif not isinstance(t, A.PadIfNeeded | A.RandomCrop):  # the zoom's crop back to the input size
            raise AssertionError(f"unexpected albumentations op {t}")
    return found


def kornia_ranges(augment: BatchAugment) -> list[tuple]:
    """(kind, p, ranges) read back from the samplers of the constructed kornia augmentations."""
    ops = [op for seq in (augment.geometric, augment.photometric) if seq is not None for op in seq.children()]
    found = []
    for op in ops:
        gen = getattr(op, "_param_generator", None)
        if isinstance(op, K.RandomHorizontalFlip):
            found.append(("hflip", op.p, {}))
        elif isinstance(op, K.RandomAffine):
            if gen.scale_2_sampler is not None:
                found.append(("zoom", op.p, {"scale": _sampled(gen.scale_2_sampler)}))
            if _sampled(gen.degree_sampler) != (0.0, 0.0):
                found.append(("rotate", op.p, {"degrees": _sampled(gen.degree_sampler)}))
        elif isinstance(op, K.ColorJitter):
            names = ("brightness", "contrast", "saturation", "hue")
            found.append(("jitter", op.p, {n: _sampled(getattr(gen, f"{n}_sampler")) for n in names}))
        elif isinstance(op, K.RandomGaussianBlur):
            size = op.flags["kernel_size"]
            found.append(("blur", op.p, {"kernel": _range(min(size), max(size)), "sigma": _sampled(gen.sigma_sampler)}))
        elif isinstance(op, K.RandomGaussianNoise):
            found.append(("noise", op.p, {"std": _range(gen.std, gen.std), "mean": _range(gen.mean, gen.mean)}))
        else:
            raise AssertionError(f"unexpected kornia op {op}")
    return found


def assert_same(cpu: list[tuple], gpu: list[tuple]) -> None:
    assert [kind for kind, _, _ in cpu] == [kind for kind, _, _ in gpu]
    assert [p for _, p, _ in cpu] == pytest.approx([p for _, p, _ in gpu])
    for (kind, _, a), (_, _, b) in zip(cpu, gpu, strict=True):
        assert a.keys() == b.keys(), kind
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (kind, key, a[key], b[key])


def test_both_pipelines_of_every_preset_draw_from_the_same_ranges():
    for name, augment in presets().items():
        cpu = albumentations_ranges(JointTransform(SIZE, augment))
        gpu = kornia_ranges(BatchAugment(augment, torch.zeros(3), torch.ones(3)))
        assert_same(cpu, gpu)
        if name == "none":
            assert cpu == gpu == []


def test_preset_numbers_reach_both_libraries():
    augment = presets()["strong"]  # strength 1.5: jitter half-widths and noise std scale with it
    cpu = albumentations_ranges(JointTransform(SIZE, augment))
    gpu = kornia_ranges(BatchAugment(augment, torch.zeros(3), torch.ones(3)))
    for found in (cpu, gpu):
        kinds = {kind: (p, ranges) for kind, p, ranges in found if kind != "jitter"}
        jitters = [(p, ranges) for kind, p, ranges in found if kind == "jitter"]
        assert kinds["hflip"][0] == 0.5 and kinds["zoom"] == (1.0, {"scale": pytest.approx((0.8, 1.3))})
        assert kinds["rotate"] == (0.5, {"degrees": pytest.approx((-5.0, 5.0))})
        assert kinds["noise"][0] == 0.2 and kinds["noise"][1]["std"] == pytest.approx((0.03, 0.03))
        assert kinds["blur"][1] == {"kernel": (5.0, 5.0), "sigma": pytest.approx((0.1, 1.5))}
        assert [p for p, _ in jitters] == pytest.approx([0.8, 0.5, 0.3])
        assert jitters[0][1]["hue"] == pytest.approx((-0.075, 0.075))
        assert jitters[1][1]["brightness"] == pytest.approx((0.7, 1.3)) and jitters[1][1]["hue"] == (0.0, 0.0)


def test_both_libraries_read_the_neutral_units_alike():
    """Hue in turns, brightness as a factor, blur sigma in pixels, noise std in [0, 1] units: same pixels out."""
    rng = np.random.default_rng(0)
    image = rng.random((24, 24, 3)).astype(np.float32) * 0.6 + 0.2
    tensor = torch.from_numpy(image.transpose(2, 0, 1))[None]
    cases = {
        "jitter": {"brightness": (1.2, 1.2), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0), "hue": (0.25, 0.25)},
        "blur": {"kernel": (5, 5), "sigma": (1.2, 1.2)},
    }
    for kind, ranges in cases.items():
        op = Op(kind, 1.0, ranges)
        cpu = ALBUMENTATIONS[kind](op, None)[0](image=image)["image"]
        gpu = KORNIA[kind](op)(tensor)[0].numpy().transpose(1, 2, 0)
        assert not np.allclose(cpu, image, atol=0.02), kind
        np.testing.assert_allclose(cpu, gpu, atol=2e-3, err_msg=kind)
    op = Op("noise", 1.0, {"std": (0.05, 0.05)})
    grey = np.full((64, 64, 3), 0.5, np.float32)
    cpu_std = float((ALBUMENTATIONS["noise"](op, None)[0](image=grey)["image"] - 0.5).std())
    gpu_std = float((KORNIA["noise"](op)(torch.full((1, 3, 64, 64), 0.5)) - 0.5).std())
    assert cpu_std == pytest.approx(0.05, rel=0.1) and gpu_std == pytest.approx(0.05, rel=0.1)
