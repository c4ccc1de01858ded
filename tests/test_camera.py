"""Equirectangular camera: rays, points, normals (seam wrap), aspect check, batch camera and circular padding."""

from __future__ import annotations

import math

import pytest
import torch

from depthlab.inference.geometry import point_cloud, surface_normals
from depthlab.losses.normals import SurfaceNormalLoss, erode
from depthlab.ops.camera import (
    backproject,
    batch_camera,
    check_aspect,
    check_camera,
    equirect_rays,
    ray_directions,
)
from depthlab.utils.errors import DepthlabError

H, W = 32, 64
STEP = math.pi / H  # one pixel's angle (longitude and latitude alike in a 2:1 image)


def box_room(height: int = H, width: int = W, half=(2.0, 1.2, 3.0)) -> torch.Tensor:
    """Range [H, W] from a camera at the centre of an axis-aligned box (camera frame) with these half extents."""
    rays = equirect_rays(height, width, dtype=torch.float64)
    extents = torch.tensor(half, dtype=torch.float64).view(3, 1, 1)
    return (extents / rays.abs().clamp_min(1e-12)).min(0).values


def test_equirect_rays_are_unit_and_hit_known_directions():
    rays = equirect_rays(H, W)
    assert rays.shape == (3, H, W)
    assert torch.allclose(rays.norm(dim=0), torch.ones(H, W), atol=1e-6)
    tol = math.sin(STEP)  # half a pixel in each angle, at most
    assert torch.allclose(rays[:, H // 2, W // 2], torch.tensor([0.0, 0.0, 1.0]), atol=tol)  # centre: forward
    assert torch.allclose(rays[:, H // 2, W // 4], torch.tensor([-1.0, 0.0, 0.0]), atol=tol)  # quarter: left
    assert torch.allclose(rays[:, H // 2, 3 * W // 4], torch.tensor([1.0, 0.0, 0.0]), atol=tol)  # 3/4: right
    assert (rays[1, 0] < -math.cos(STEP)).all() and (rays[1, -1] > math.cos(STEP)).all()  # top row up (-y)
    # pixel centres: the mean of the two middle columns looks exactly forward-horizontal in longitude
    mid = rays[:, :, W // 2 - 1 : W // 2 + 1].sum(-1)
    assert torch.allclose(mid[0], torch.zeros(H), atol=1e-6)
    assert torch.equal(ray_directions(H, W, None, "equirect"), rays)


def test_backproject_of_constant_range_is_a_sphere_in_every_direction():
    points = backproject(torch.full((H, W), 2.5), None, "equirect")
    assert points.shape == (3, H, W)
    assert torch.allclose(points.norm(dim=0), torch.full((H, W), 2.5), atol=1e-5)
    for axis in range(3):
        assert points[axis].min() < -2.4 and points[axis].max() > 2.4
    cloud = point_cloud(torch.full((H, W), 2.5), None, torch.ones(H, W, dtype=torch.bool), camera="equirect")
    assert cloud.shape == (H * W, 3) and torch.allclose(cloud[W // 2], points[:, 0, W // 2])


def test_pinhole_backproject_is_z_depth():
    K = torch.tensor([[10.0, 0, 4.0], [0, 12.0, 3.0], [0, 0, 1]])
    points = backproject(torch.full((7, 9), 2.0), K, "pinhole")
    assert torch.allclose(points[:, 6, 8], torch.tensor([(8 - 4) / 10 * 2, (6 - 3) / 12 * 2, 2.0]))


def test_box_room_normals_are_axis_aligned_and_face_the_camera():
    normals = surface_normals(box_room(), None, camera="equirect")
    right_wall, floor = normals[:, H // 2, 3 * W // 4], normals[:, int(0.85 * H), W // 2]
    assert torch.allclose(right_wall, torch.tensor([-1.0, 0.0, 0.0]), atol=1e-2)  # wall x = +2 faces -x
    assert torch.allclose(normals[:, H // 2, W // 4], torch.tensor([1.0, 0.0, 0.0]), atol=1e-2)
    assert torch.allclose(floor, torch.tensor([0.0, -1.0, 0.0]), atol=1e-2)  # floor (y down = +1.2) faces up
    assert torch.allclose(normals[:, H // 2, 2], torch.tensor([0.0, 0.0, 1.0]), atol=1e-2)  # back wall, by the seam


def yaw(vectors: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate [3, ...] camera-frame vectors about the vertical (y) axis, longitude growing by `angle`."""
    x, y, z = vectors
    c, s = math.cos(angle), math.sin(angle)
    return torch.stack([x * c + z * s, y, z * c - x * s])


def test_normals_wrap_across_the_seam():
    depth = box_room() * (1 + 0.1 * torch.linspace(0, 6, W).sin())  # not roll-symmetric itself
    normals = surface_normals(depth, None, camera="equirect")
    for shift in (1, 5, W // 2):  # a roll by s pixels turns the scene by s * 2pi / W about the vertical
        rolled = surface_normals(depth.roll(shift, -1), None, camera="equirect")
        assert torch.allclose(rolled, yaw(normals.roll(shift, -1), shift * 2 * math.pi / W), atol=1e-5)
    # the back wall runs across the seam: its first and last columns agree with their neighbours
    back = surface_normals(box_room(), None, camera="equirect")[:, H // 2]
    for column in (0, 1, W - 2, W - 1):
        assert torch.allclose(back[:, column], torch.tensor([0.0, 0.0, 1.0], dtype=back.dtype), atol=1e-2)


def test_aspect_and_camera_refusals():
    check_aspect(32, 64)
    with pytest.raises(DepthlabError, match="2:1"):
        check_aspect(64, 96)
    with pytest.raises(DepthlabError, match="data.camera='fisheye' is unknown; use one of pinhole, equirect"):
        check_camera("fisheye")


def test_batch_camera_reads_meta_and_refuses_a_mix():
    assert batch_camera({}) == "pinhole"
    assert batch_camera({"meta": {"camera": ["equirect", "equirect"]}}) == "equirect"
    with pytest.raises(DepthlabError, match="mixes cameras"):
        batch_camera({"meta": {"camera": ["equirect", "pinhole"]}})


def test_equirect_normal_loss_is_zero_for_the_truth_and_positive_otherwise():
    depth = box_room().float()[None, None].repeat(2, 1, 1, 1)
    batch = {"depth": depth, "valid": torch.ones_like(depth, dtype=torch.bool), "meta": {"camera": ["equirect"] * 2}}
    loss = SurfaceNormalLoss()  # no hfov_deg and no intrinsics: equirect needs neither
    assert loss({"depth": depth}, batch).item() == pytest.approx(0.0, abs=1e-6)
    assert loss({"depth": torch.full_like(depth, 2.0)}, batch).item() > 0.1


def test_circular_erosion_wraps_the_seam():
    valid = torch.ones(1, 1, 4, 8, dtype=torch.bool)
    valid[..., 0] = False
    assert erode(valid)[..., 2, -1].item()  # zero padding: the last column keeps its validity
    assert not erode(valid, circular=True)[..., 2, -1].item()  # wrapped: its right neighbour is column 0


def test_circular_padding_makes_the_net_roll_equivariant():
    from depthlab.models.nets import SmpDepthNet

    x = torch.rand(1, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    errors = []
    for circular in (True, False):
        torch.manual_seed(0)
        net = SmpDepthNet(circular_padding=circular, arch_kwargs={"decoder_channels": [16, 16, 16, 16, 16]}).eval()
        with torch.no_grad():
            errors.append((net(x)["depth"].roll(32, -1) - net(x.roll(32, -1))["depth"]).abs().max().item())
    assert errors[0] < 1e-5 < 1e-2 < errors[1]  # a shift by the output stride commutes only with the wrap
