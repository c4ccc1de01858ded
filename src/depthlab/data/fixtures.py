"""Tiny datasets in each exact on-disk layout, for tests, the loader benchmark and trying a config without a download.

Each writer fills `root` and returns {rgb path: expected depth in metres (0 = invalid)} decoded from what it
wrote, so a loader can be checked against the encoding rather than against itself.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from depthlab.data.io import write_pfm

log = logging.getLogger(__name__)
Truth = dict[str, np.ndarray]
FIXTURE = "fixture"  # data.root=fixture, or paths.data_dir=fixture for every dataset at once
NYU_FOCAL = 518.8579


def scene(index: int, height: int, width: int, near: float = 0.8, far: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB, float64 metres) of a sloped floor with a box; a 3x3 hole at a seeded spot."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width]
    depth = near + (far - near) * (1 - y / max(height - 1, 1)) * (0.6 + 0.4 * x / max(width - 1, 1))
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    depth[top : top + height // 3, left : left + width // 3] *= 0.5
    hy, hx = rng.integers(0, height - 3), rng.integers(0, width - 3)
    depth[hy : hy + 3, hx : hx + 3] = 0
    rgb = np.stack([(depth * 30) % 255, (x * 7) % 255, (y * 5 + index * 40) % 255], -1).astype(np.uint8)
    return rgb, depth


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_u16(path: Path, metres: np.ndarray, scale: float) -> np.ndarray:
    """Store round(metres * scale) as a 16-bit PNG / PGM; return the metres it decodes to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.clip(np.round(metres * scale), 0, 65535).astype(np.uint16)
    cv2.imwrite(str(path), values)
    return values.astype(np.float32) / np.float32(scale)


def write_nyu_sync(root: Path, n: int = 6, height: int = 48, width: int = 64, scenes: int = 3) -> Truth:
    """BTS sync layout plus train.txt / test.txt split files ('/<scene>/rgb_N.jpg /<scene>/sync_depth_N.png f')."""
    truth, lines = {}, {"train": [], "test": []}
    for i in range(n):
        folder = f"scene_{i % scenes:04d}"
        rgb, depth = scene(i, height, width)
        write_rgb(root / folder / f"rgb_{i:05d}.jpg", rgb)
        truth[str(root / folder / f"rgb_{i:05d}.jpg")] = write_u16(
            root / folder / f"sync_depth_{i:05d}.png", depth, 1000
        )
        split = "test" if i % scenes == scenes - 1 else "train"
        lines[split].append(f"/{folder}/rgb_{i:05d}.jpg /{folder}/sync_depth_{i:05d}.png {NYU_FOCAL}")
    for split, rows in lines.items():
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return truth


def write_nyu_mat(root: Path, n: int = 6, height: int = 48, width: int = 64) -> Truth:
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 stores it (HDF5, axes reversed) + a v5 splits.mat (1-based)."""
    import h5py
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    images = np.zeros((n, 3, width, height), np.uint8)
    depths = np.zeros((n, width, height), np.float32)
    raw = np.zeros_like(depths)
    truth = {}
    for i in range(n):
        rgb, depth = scene(i, height, width)
        filled = np.where(depth > 0, depth, 1.5).astype(np.float32)  # in-painted: no holes
        images[i], depths[i], raw[i] = rgb.transpose(2, 1, 0), filled.T, depth.astype(np.float32).T
        truth[f"filled/{i}"], truth[f"raw/{i}"] = filled, depth.astype(np.float32)
    with h5py.File(root / "nyu_depth_v2_labeled.mat", "w") as f:
        f["images"], f["depths"], f["rawDepths"] = images, depths, raw
    test = np.arange(2, n + 1, 3)
    train = np.setdiff1d(np.arange(1, n + 1), test)
    savemat(root / "splits.mat", {"trainNdxs": train[:, None].astype(float), "testNdxs": test[:, None].astype(float)})
    return truth


def write_nyu_csv(root: Path, n: int = 6, height: int = 48, width: int = 64) -> Truth:
    """DenseDepth zip layout: 8-bit train depth (v / 255 * 10 m) and 16-bit millimetre test depth."""
    truth, rows = {}, {"train": [], "test": []}
    for i in range(n):
        rgb, depth = scene(i, height, width)
        split = "test" if i % 3 == 2 else "train"
        if split == "train":
            rgb_rel, depth_rel = (
                f"data/nyu2_train/room_{i % 2}_out/{i}.jpg",
                f"data/nyu2_train/room_{i % 2}_out/{i}.png",
            )
            write_rgb(root / rgb_rel, rgb)
            values = np.clip(np.round(depth / 10 * 255), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / depth_rel), values)
            truth[str(root / rgb_rel)] = values.astype(np.float32) / np.float32(255.0) * np.float32(10.0)
        else:
            rgb_rel, depth_rel = f"data/nyu2_test/{i:05d}_colors.png", f"data/nyu2_test/{i:05d}_depth.png"
            write_rgb(root / rgb_rel, rgb)
            truth[str(root / rgb_rel)] = write_u16(root / depth_rel, depth, 1000)
        rows[split].append(f"{rgb_rel},{depth_rel}")
    for split, lines in rows.items():
        (root / "data" / f"nyu2_{split}.csv").write_text("\n".join(lines) + "\n")
    return truth


def write_diode(root: Path, n: int = 4, height: int = 48, width: int = 64) -> Truth:
    """{train,val}/{indoors,outdoor}/scene_*/scan_*/<stem>.png + _depth.npy (H, W, 1) + _depth_mask.npy."""
    truth = {}
    for i in range(n):
        for split in ("train", "val"):
            for kind in ("indoors", "outdoor"):
                index = i + (100 if split == "val" else 0) + (1000 if kind == "outdoor" else 0)
                rgb, depth = scene(index, height, width, far=8.0 if kind == "indoors" else 60.0)
                folder = root / split / kind / f"scene_{i // 2:05d}" / f"scan_{i:05d}"
                stem = f"{i // 2:05d}_{i:05d}_{kind}_{index:03d}"
                write_rgb(folder / f"{stem}.png", rgb)
                np.save(folder / f"{stem}_depth.npy", depth.astype(np.float32)[..., None])
                np.save(folder / f"{stem}_depth_mask.npy", (depth > 0).astype(np.float32))
                truth[str(folder / f"{stem}.png")] = depth.astype(np.float32)
    return truth


def write_kitti(root: Path, n: int = 8, height: int = 40, width: int = 64) -> Truth:
    """Raw drives + data_depth_annotated/{train,val}, calib_cam_to_cam.txt and Eigen-style split files."""
    truth, lines = {}, {"train": [], "test": []}
    date = "2011_09_26"
    (root / date).mkdir(parents=True, exist_ok=True)
    (root / date / "calib_cam_to_cam.txt").write_text(
        f"P_rect_02: 721.5377 0.0 {width / 2 - 0.5} 44.85728 0.0 721.5377 {height / 2 + 0.5} 0.2163791 0 0 1 0\n"
    )
    for i in range(n):
        split, folder = ("test", "val") if i % 2 else ("train", "train")
        drive = f"{date}_drive_{i // 2 + 1:04d}_sync"
        name = f"{i:010d}.png"
        rgb, depth = scene(i, height, width, near=5.0, far=80.0)
        sparse = np.where(np.random.default_rng(i).random(depth.shape) < 0.3, depth, 0)  # LiDAR: ~30% valid
        write_rgb(root / date / drive / "image_02" / "data" / name, rgb)
        gt = root / "data_depth_annotated" / folder / drive / "proj_depth" / "groundtruth" / "image_02" / name
        truth[str(root / date / drive / "image_02" / "data" / name)] = write_u16(gt, sparse, 256)
        lines[split].append(
            f"{date}/{drive}/image_02/data/{name} {drive}/proj_depth/groundtruth/image_02/{name} 721.5377"
        )
    lines["test"].append(f"{date}/{date}_drive_0099_sync/image_02/data/0000000000.png None 721.5377")
    for split, rows in lines.items():
        (root / f"eigen_{split}_files.txt").write_text("\n".join(rows) + "\n")
    return truth


def write_redweb(root: Path, n: int = 8, height: int = 48, width: int = 64) -> Truth:
    """Imgs/<id>.jpg + RDs/<id>.png (uint8 disparity, 255 = ignored); truth is 255 / v."""
    truth = {}
    for i in range(n):
        rgb, depth = scene(i, height, width)
        disparity = np.where(depth > 0, np.clip(np.round(255 / np.maximum(depth, 1)), 1, 254), 255).astype(np.uint8)
        write_rgb(root / "Imgs" / f"{i:05d}.jpg", rgb)
        (root / "RDs").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "RDs" / f"{i:05d}.png"), disparity)
        truth[str(root / "Imgs" / f"{i:05d}.jpg")] = np.where(disparity < 255, 255 / disparity.astype(np.float32), 0)
    return truth


def write_hrwsi(root: Path, n: int = 4, height: int = 48, width: int = 64) -> Truth:
    """{train,val}/imgs/*.jpg, gts/*.png (uint8 disparity), valid_masks/*.png; truth is 255 / v where valid."""
    truth = {}
    for split in ("train", "val"):
        for i in range(n):
            rgb, depth = scene(i + (50 if split == "val" else 0), height, width)
            disparity = np.clip(np.round(255 / np.maximum(depth, 1)), 1, 255).astype(np.uint8)
            valid = (depth > 0).astype(np.uint8) * 255
            write_rgb(root / split / "imgs" / f"{i:05d}.jpg", rgb)
            (root / split / "gts").mkdir(parents=True, exist_ok=True)
            (root / split / "valid_masks").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / "gts" / f"{i:05d}.png"), disparity)
            cv2.imwrite(str(root / split / "valid_masks" / f"{i:05d}.png"), valid)
            truth[str(root / split / "imgs" / f"{i:05d}.jpg")] = np.where(
                valid > 0, 255 / disparity.astype(np.float32), 0
            )
    return truth


def write_modest(root: Path, backgrounds: int = 4, per_bg: int = 2, size: int = 32) -> Truth:
    """bg/, bg_fg/, bg_fg_mask/, bg_fg_depth_map/ JPEGs and a tab-separated file_map.txt with a header."""
    truth, rows = {}, ["bg\tbg_fg\tmask\tdepth"]
    y, x = np.mgrid[0:size, 0:size]
    for b in range(backgrounds):
        bg, _ = scene(b, size, size)
        write_rgb(root / "bg" / f"bg{b:03d}.jpeg", bg)
        for k in range(per_bg):
            stem = f"bg{b:03d}_fg{k:03d}_01"
            mask = ((x - 8 - 4 * k) ** 2 + (y - 16) ** 2 < 49).astype(np.uint8) * 255
            composite = np.where(mask[..., None] > 0, np.uint8(230), bg)
            depth = np.clip(40 + 4 * y + np.where(mask > 0, 60, 0), 1, 255).astype(np.uint8)
            write_rgb(root / "bg_fg" / f"{stem}.jpeg", composite)
            for folder, suffix, image in (("bg_fg_mask", "_mask", mask), ("bg_fg_depth_map", "_depth_map", depth)):
                (root / folder).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / folder / f"{stem}{suffix}.jpeg"), image)
            rows.append(f"bg{b:03d}\t{stem}\t{stem}_mask\t{stem}_depth_map")
            truth[str(root / "bg_fg" / f"{stem}.jpeg")] = depth.astype(np.float32) / 255
            truth[f"mask:{root / 'bg_fg' / f'{stem}.jpeg'}"] = (mask > 0).astype(np.float32)
    (root / "file_map.txt").write_text("\n".join(rows) + "\n")
    return truth


def write_folder(root: Path, n: int = 6, height: int = 48, width: int = 64) -> Truth:
    """rgb/ + depth/ cycling 16-bit PNG (mm), .npy (m) and .pfm (m), plus mask/ foreground masks."""
    truth = {}
    for i in range(n):
        rgb, depth = scene(i, height, width)
        write_rgb(root / "rgb" / f"frame_{i:03d}.png", rgb)
        (root / "depth").mkdir(parents=True, exist_ok=True)
        kind = i % 3
        if kind == 0:
            metres = write_u16(root / "depth" / f"frame_{i:03d}.png", depth, 1000)
        elif kind == 1:
            metres = depth.astype(np.float32)
            np.save(root / "depth" / f"frame_{i:03d}.npy", metres)
        else:
            metres = depth.astype(np.float32)
            write_pfm(root / "depth" / f"frame_{i:03d}.pfm", metres)
        (root / "mask").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "mask" / f"frame_{i:03d}.png"), ((depth > 0) & (depth < 3)).astype(np.uint8) * 255)
        truth[str(root / "rgb" / f"frame_{i:03d}.png")] = metres
    return truth


def write_pano(root: Path, n: int = 6, height: int = 32, width: int = 64, scenes: int = 2) -> Truth:
    """<uuid>/pan/images/<stem>.jpg + <uuid>/depth/<stem>.png (16-bit mm) + pose/, and train.csv / val.csv rows."""
    truth, rows = {}, {"train": ["rgb_path,depth_path"], "val": ["rgb_path,depth_path"]}
    for i in range(n):
        uuid = f"{i % scenes:08x}-0000-4000-8000-{i % scenes:012x}"
        rgb, depth = scene(i, height, width)
        rgb_rel, depth_rel = f"{uuid}/pan/images/{i:05d}.jpg", f"{uuid}/depth/{i:05d}.png"
        write_rgb(root / rgb_rel, rgb)
        truth[str(root / rgb_rel)] = write_u16(root / depth_rel, depth, 1000)
        (root / uuid / "pose").mkdir(parents=True, exist_ok=True)
        (root / uuid / "pose" / f"{i:05d}.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
        rows["val" if i % 3 == 2 else "train"].append(f"{rgb_rel},{depth_rel}")
    for split, lines in rows.items():
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return truth


WRITERS = {
    "nyuv2": write_nyu_sync,
    "nyuv2_mat": write_nyu_mat,
    "nyuv2_csv": write_nyu_csv,
    "diode": write_diode,
    "kitti": write_kitti,
    "redweb": write_redweb,
    "hrwsi": write_hrwsi,
    "modest": write_modest,
    "folder": write_folder,
    "pano": write_pano,
}


FULL_FRAME = {"kitti": {"height": 375, "width": 1242}}  # the default KB crop needs a whole KITTI frame


def is_fixture_root(root: str | Path) -> bool:
    """`fixture` or `fixture/<name>` (paths.data_dir=fixture) that is not an existing directory."""
    path = Path(root)
    return path.parts[:1] == (FIXTURE,) and len(path.parts) <= 2 and not path.exists()


def materialize(layout: str) -> Path:
    """Write the tiny fixture of `layout` (a WRITERS key) to a fresh temporary directory, removed at exit."""
    root = Path(tempfile.mkdtemp(prefix=f"depthlab-fixture-{layout}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    WRITERS[layout](root, **FULL_FRAME.get(layout, {}))
    log.info(f"data.root=fixture: wrote the tiny {layout} fixture layout to {root} (a smoke test, not a benchmark)")
    return root
