"""Tests for the procedural scene renderer (depthlab.data.render)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from omegaconf import OmegaConf

from depthlab.config_dir import CONF_DIR
from depthlab.data.render import (
    _BOX,
    _SPHERE,
    RenderedScene,
    SceneRanges,
    _camera_rotation,
    _Object,
    _render,
    _sample_params,
    _SceneParams,
    render_scene,
)

H, W = 48, 64  # small on purpose: the whole file should run in a few seconds
SEEDS = range(20)


def _backproject(scene: RenderedScene, params: _SceneParams) -> np.ndarray:
    """World points (H, W, 3) of every pixel from K, z-depth and the camera pose."""
    K = scene.intrinsics.astype(float)
    v, u = np.mgrid[0 : scene.depth.shape[0], 0 : scene.depth.shape[1]].astype(float)
    z = np.where(np.isfinite(scene.depth), scene.depth, 0.0).astype(float)  # escaped rays -> camera centre
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=-1)
    return params.cam_pos + cam @ params.cam_rot.T


def _sdf(obj: _Object, pts: np.ndarray) -> np.ndarray:
    """Signed distance of world points (N, 3) to an object's surface (independent of the renderer)."""
    rel = pts - obj.center
    c, s = np.cos(obj.yaw), np.sin(obj.yaw)
    q = np.stack([c * rel[:, 0] + s * rel[:, 1], c * rel[:, 1] - s * rel[:, 0], rel[:, 2]], axis=1)
    if obj.kind == _SPHERE:
        return np.linalg.norm(q, axis=1) - obj.half[0]
    if obj.kind == _BOX:
        excess = np.abs(q) - obj.half
    else:
        excess = np.stack([np.hypot(q[:, 0], q[:, 1]) - obj.half[0], np.abs(q[:, 2]) - obj.half[2]], axis=1)
    return np.linalg.norm(np.maximum(excess, 0.0), axis=1) + np.minimum(excess.max(axis=1), 0.0)


def test_deterministic_and_seed_dependent() -> None:
    a, b, c = render_scene(7, H, W), render_scene(7, H, W), render_scene(8, H, W)
    for field in dataclasses.fields(RenderedScene):
        np.testing.assert_array_equal(getattr(a, field.name), getattr(b, field.name))
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.depth, c.depth)


def test_shapes_dtypes_and_ranges() -> None:
    finite_fraction = []
    for seed in SEEDS:
        s = render_scene(seed, H, W)
        assert s.image.shape == s.background.shape == (H, W, 3)
        assert s.depth.shape == s.fg_mask.shape == (H, W)
        assert s.image.dtype == s.background.dtype == s.depth.dtype == s.intrinsics.dtype == np.float32
        assert s.fg_mask.dtype == np.bool_
        for img in (s.image, s.background):
            assert img.min() >= 0.0 and img.max() <= 1.0
        finite = np.isfinite(s.depth)
        assert np.all(s.depth[~finite] == np.inf)  # no NaN, no -inf
        assert s.depth[finite].min() > 0.3 and s.depth[finite].max() <= 10.0
        finite_fraction.append(finite.mean())
        K = s.intrinsics
        assert K[0, 0] == K[1, 1] and K[0, 2] == (W - 1) / 2 and K[1, 2] == (H - 1) / 2 and K[2, 2] == 1
        hfov = np.degrees(2 * np.arctan(W / 2 / K[0, 0]))
        assert 55 <= hfov <= 75
    assert np.mean(finite_fraction) >= 0.9


def test_floor_depth_matches_ground_plane_formula() -> None:
    """Level camera at known height: floor z-depth in row v is fy * h / (v - cy), constant along the row."""
    cam_height = 1.4
    params = dataclasses.replace(
        _sample_params(0),
        room=np.array([8.0, 9.0, 3.0]),
        cam_pos=np.array([4.0, 0.9, cam_height]),
        hfov=float(np.deg2rad(60.0)),
        cam_rot=_camera_rotation(np.pi / 2, 0.0, 0.0),  # looking along +y
        objects=(),
        window=None,
    )
    scene = _render(params, 96, 128)
    fy, cy = float(scene.intrinsics[1, 1]), float(scene.intrinsics[1, 2])
    rows = np.arange(96)
    expected = np.where(rows > cy, fy * cam_height / np.maximum(rows - cy, 1e-9), np.inf)
    near_floor = expected < 4.5  # whole row sees floor: half-width 4.5 * tan(30 deg) < 4 m to the side walls
    assert near_floor.sum() > 10
    got = scene.depth[near_floor].astype(float)
    np.testing.assert_allclose(got, np.broadcast_to(expected[near_floor, None], got.shape), rtol=1e-3)
    assert not scene.fg_mask.any() and np.isfinite(scene.depth).all()


def test_backprojected_points_lie_on_surfaces() -> None:
    """Background pixels land on a room face, foreground pixels on an object surface (random poses)."""
    checked_fg = 0
    for seed in range(8):
        params = _sample_params(seed)
        scene = _render(params, H, W)
        pts = _backproject(scene, params)
        bg = np.isfinite(scene.depth) & ~scene.fg_mask
        p = pts[bg]
        plane_dist = np.minimum(np.abs(p), np.abs(p - params.room)).min(axis=1)
        assert plane_dist.max() < 1e-3
        assert np.all(p > -1e-3) and np.all(p < params.room + 1e-3)
        if scene.fg_mask.any():
            q = pts[scene.fg_mask]
            dist = np.min([np.abs(_sdf(obj, q)) for obj in params.objects], axis=0)
            assert dist.max() < 1e-3
            checked_fg += len(q)
    assert checked_fg > 0


def test_infinite_depth_only_through_windows() -> None:
    seen_window = False
    level = SceneRanges(pitch_deg=(0.0, 4.0))  # the default camera looks down at the floor, rarely at a window
    for seed in range(40):
        params = _sample_params(seed, ranges=level)
        scene = _render(params, H, W)
        inf = ~np.isfinite(scene.depth)
        if params.window is None:
            assert not inf.any()
            continue
        assert not (inf & scene.fg_mask).any()
        assert inf.mean() < 0.25
        np.testing.assert_array_equal(scene.image[inf], scene.background[inf])  # sky is in both
        seen_window |= bool(inf.any())
    assert seen_window


def test_background_matches_image_outside_foreground() -> None:
    non_empty, outside_diff, inside_diff = 0, [], []
    for seed in SEEDS:
        # a fixed camera gain: auto exposure follows the image, which object shadows darken
        params = dataclasses.replace(_sample_params(seed), exposure=np.nan)
        scene = _render(params, H, W)
        fg = scene.fg_mask
        if not fg.any():
            continue
        non_empty += 1
        # shadows of the objects can only darken the background; nothing else differs outside fg
        assert np.all(scene.image[~fg] <= scene.background[~fg] + 1e-6)
        outside_diff.append(np.abs(scene.image[~fg] - scene.background[~fg]).mean())
        inside_diff.append(np.abs(scene.image[fg] - scene.background[fg]).mean())
        assert inside_diff[-1] > 0.005  # even a small, hazy, distant object changes its pixels
        unshadowed = _render(dataclasses.replace(params, shadows=False), H, W)
        np.testing.assert_array_equal(unshadowed.image[~fg], unshadowed.background[~fg])
        np.testing.assert_array_equal(unshadowed.background, scene.background)
    assert non_empty >= 0.8 * len(SEEDS)
    assert np.mean(outside_diff) < 0.02
    assert np.mean(inside_diff) > 0.05


def test_object_count_bounds_and_placement() -> None:
    for seed in range(30):
        params = _sample_params(seed, 2, 5)
        assert 2 <= len(params.objects) <= 5
        for obj in params.objects:
            assert _sdf(obj, params.cam_pos[None])[0] > 0.5  # never intersects / hugs the camera
            assert obj.center[2] - obj.half[2] >= -1e-9  # on or above the floor
            footprint = np.hypot(obj.half[0], obj.half[1]) if obj.kind == _BOX else obj.half[0]
            assert np.all(obj.center[:2] >= footprint)
            assert np.all(obj.center[:2] + footprint <= params.room[:2])
    assert len(_sample_params(3, 4, 4).objects) == 4
    assert not render_scene(3, H, W, min_objects=0, max_objects=0).fg_mask.any()
    counts = {len(_sample_params(seed).objects) for seed in range(60)}
    assert min(counts) >= 1 and max(counts) <= 8 and len(counts) > 4


@pytest.mark.parametrize(("lo", "hi"), [(-1, 3), (4, 2)])
def test_invalid_object_bounds_raise(lo: int, hi: int) -> None:
    with pytest.raises(ValueError):
        render_scene(0, H, W, min_objects=lo, max_objects=hi)


def test_scene_ranges_bound_camera_and_haze():
    ranges = SceneRanges(camera_height=(1.0, 1.1), hfov_deg=(70.0, 70.0))
    for seed in range(10):
        params = _sample_params(seed, ranges=ranges)
        assert 1.0 <= params.cam_pos[2] <= 1.1 and np.isclose(np.rad2deg(params.hfov), 70.0)
        assert np.isinf(params.haze_distance)  # the default scenes have no haze
    clear, hazy = render_scene(3, 24, 32), render_scene(3, 24, 32, ranges=SceneRanges(haze_distance=(1.5, 1.5)))
    np.testing.assert_array_equal(hazy.depth, clear.depth)
    assert np.abs(hazy.image - clear.image).mean() > 0.02


def _digest(ranges: SceneRanges) -> str:
    """sha256 of three rendered scenes (image, depth, mask, background)."""
    digest = hashlib.sha256()
    for seed in (0, 3, 11):
        scene = render_scene(seed, 24, 32, ranges=ranges)
        for array in (scene.image, scene.depth, scene.fg_mask, scene.background):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_synthetic_hazy_experiment_renders_the_former_default_bit_for_bit():
    """experiment=synthetic_hazy keeps the pre-issue-14 default scenes (digest taken from that code)."""
    scene = OmegaConf.load(CONF_DIR / "experiment" / "synthetic_hazy.yaml").data.scene
    ranges = SceneRanges.from_mapping(OmegaConf.to_container(scene))
    assert _digest(ranges) == "e925c3ff1037187e5a1a444ef0b4264caa47d10946f3464df8c14f7715b4c8f5"


def test_appearance_never_moves_geometry_and_photos_and_exposure_apply():
    """Photo textures and camera gain come from their own random stream: depth and masks stay put."""
    flat = SceneRanges(photo_textures=0.0, auto_exposure=None, white_balance=0.0)
    photo = dataclasses.replace(flat, photo_textures=1.0)
    exposed = dataclasses.replace(flat, auto_exposure=(0.5, 0.5))
    for seed in range(4):
        a, b, c = (render_scene(seed, 24, 32, ranges=r) for r in (flat, photo, exposed))
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.fg_mask, c.fg_mask)
        assert np.abs(a.image - b.image).mean() > 0.02
        gain = float(np.clip(0.5 / a.image.mean(), 0.5, 3.0))  # the noise is zero-mean: the mean is the clean one's
        unclipped = (c.image < 0.97) & (a.image > 0.03)
        np.testing.assert_allclose(c.image[unclipped], gain * a.image[unclipped], atol=0.02 * gain + 0.02)
    params = _sample_params(0, ranges=photo)
    assert params.floor.photo >= 0 and params.wall.photo >= 0 and all(o.photo >= 0 for o in params.objects)
    assert _sample_params(0, ranges=flat).floor.photo == -1
