"""Predict depth (and masks) for a list of images in batches; write depth maps, normals and point clouds."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from depthlab.data.pixels import read_rgb, resize_rgb, to_chw
from depthlab.inference import io
from depthlab.inference.camera import Camera
from depthlab.inference.geometry import normals_to_rgb, point_cloud, surface_normals, write_ply
from depthlab.inference.spec import ModelSpec
from depthlab.models.tta import maybe_flip_average
from depthlab.ops.camera import check_aspect
from depthlab.utils.errors import DepthlabError
from depthlab.viz import colorize

Runner = Callable[[dict[str, Tensor]], dict[str, Tensor]]
SUFFIXES = {
    "color": "_depth_color.png",
    "png16": "_depth.png",
    "npy": "_depth.npy",
    "normals": "_normals.png",
    "ply": "_points.ply",
    "mask": "_mask.png",
    "disp_color": "_disparity_color.png",
    "disp_npy": "_disparity.npy",
}
# what a relative-disparity model writes: no metres, so no 16-bit depth PNG, normals or point cloud
RELATIVE_NOTE = "relative disparity (affine-invariant: unknown scale and shift, larger = nearer), not metres"


@dataclass(frozen=True)
class PredictOptions:
    """What to compute and write (see conf/predict.yaml for each key)."""

    resolution: str | Sequence[int] = "train"
    batch_size: int = 4
    flip_tta: bool = False
    normals: bool = False
    point_cloud: bool = False
    depth_png_scale: float = 1000.0
    cmap: str = "plasma"
    overwrite: bool = False


@dataclass(frozen=True)
class Item:
    """One input image: where it is, where its outputs go, its size and the size the network sees."""

    path: Path
    stem: Path
    size: tuple[int, int]
    net_size: tuple[int, int]
    background: Path | None = None


def network_size(spec: ModelSpec, resolution: str | Sequence[int], size: tuple[int, int]) -> tuple[int, int]:
    """train: the checkpoint's data.height x width; input: the image rounded to the stride; or [H, W]."""
    s = spec.stride
    if resolution == "train" and spec.height and spec.width:
        return spec.height, spec.width
    if resolution in ("train", "input"):
        return tuple(max(s, round(v / s) * s) for v in size)
    if isinstance(resolution, str) or len(resolution) != 2:
        raise DepthlabError(f"resolution={resolution} is not understood; use train, input or [height,width]")
    height, width = (int(v) for v in resolution)
    if height <= 0 or width <= 0 or height % s or width % s:
        raise DepthlabError(f"resolution=[{height},{width}] must be positive multiples of {s}, the network's stride")
    return height, width


def find_background(background: Path, image: Path) -> Path:
    """The background image of an input: one shared file, or the same-stem image in a folder."""
    if background.is_file():
        return background
    matches = sorted(p for p in background.glob(f"{image.stem}.*") if p.suffix.lower() in io.IMAGE_SUFFIXES)
    if not matches:
        raise DepthlabError(f"background={background} has no image named {image.stem}.* for input {image}")
    return matches[0]


def plan(paths: list[Path], spec: ModelSpec, options: PredictOptions, background: Path | None) -> list[Item]:
    """Check every input up front (readable header, background found) before anything is written."""
    if "background" in spec.inputs and background is None:
        raise DepthlabError(
            f"this model takes {' and '.join(spec.inputs)}: pass background=<image, or folder of same-named images>"
        )
    if background is not None and "background" not in spec.inputs:
        raise DepthlabError("background= is only for two-input models (inputs background, image); drop it")
    if background is not None and not background.exists():
        raise DepthlabError(f"background={background} does not exist")
    items = []
    for path, stem in zip(paths, io.output_stems(paths), strict=True):
        size = io.image_size(path)
        bg = find_background(background, path) if background is not None else None
        items.append(Item(path, stem, size, network_size(spec, options.resolution, size), bg))
    return items


def check_relative(spec: ModelSpec, options: PredictOptions) -> None:
    """Refuse metric-only outputs (normals, point clouds) for a model whose output has no metric scale."""
    asked = [name for name, on in (("normals", options.normals), ("point_cloud", options.point_cloud)) if on]
    if spec.disparity and asked:
        raise DepthlabError(
            f"{' and '.join(asked)} need{'s' * (len(asked) == 1)} metric depth, but this model predicts "
            f"{RELATIVE_NOTE}; drop "
            f"{'=true '.join(asked)}=true, or fine-tune a metric model (model.depth_type=metric)"
        )


def targets(item: Item, output: Path, spec: ModelSpec, options: PredictOptions) -> dict[str, Path]:
    """The files one image's prediction writes (relative models: the disparity and its colour map only)."""
    kinds = ["disp_color", "disp_npy"] if spec.disparity else ["color", "png16", "npy"]
    kinds += ["normals"] * options.normals + ["ply"] * options.point_cloud + ["mask"] * ("mask_logits" in spec.outputs)
    return {kind: output / f"{item.stem}{SUFFIXES[kind]}" for kind in kinds}


def load_batch(items: list[Item], spec: ModelSpec) -> tuple[dict[str, Tensor], list[np.ndarray]]:
    """Network inputs (RGB in [0, 1], decoded and resized as the val transform does) and full-res RGB for colouring."""
    rgbs = [read_rgb(item.path) for item in items]
    batch = {"image": torch.stack([network_rgb(rgb, item.net_size) for rgb, item in zip(rgbs, items, strict=True)])}
    if "background" in spec.inputs:
        batch["background"] = torch.stack([network_rgb(read_rgb(i.background), i.net_size) for i in items])
    return batch, rgbs


def network_rgb(rgb: np.ndarray, size: tuple[int, int]) -> Tensor:
    """One image at the network size: the training resize, so a checkpoint sees the pixels it was validated on."""
    return to_chw(resize_rgb(rgb, size))


def upsample(value: Tensor, size: tuple[int, int]) -> Tensor:
    """[1, H', W'] -> [H, W] (bilinear, the depth protocol's choice)."""
    if tuple(value.shape[-2:]) == size:
        return value[0].float()
    return F.interpolate(value[None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]


def depth_color(depth: Tensor, valid: Tensor, cmap: str, near_high: bool = False) -> np.ndarray:
    """Colour-mapped depth (or disparity: near_high) on the image's own 2-98 % range, near bright, invalid black."""
    values = (depth[valid] if valid.any() else depth.flatten()).numpy()
    low, high = (float(v) for v in np.percentile(values, [2, 98]))
    shown = depth - low if near_high else high - depth
    rgb = colorize(shown[None, None], 0.0, max(high - low, 1e-6), cmap=cmap, valid=valid[None, None])[0]
    return io.to_uint8(rgb.permute(1, 2, 0).numpy())


def valid_depth(depth: Tensor, spec: ModelSpec) -> Tensor:
    """Pixels with a usable metric prediction: finite and inside the model's (min_depth, max_depth)."""
    return torch.isfinite(depth) & (depth > spec.min_depth) & (depth < spec.max_depth)


def write_outputs(
    item: Item,
    outputs: dict[str, Tensor],
    rgb: np.ndarray,
    files: dict[str, Path],
    spec: ModelSpec,
    camera: Camera,
    options: PredictOptions,
) -> int:
    """Write one image's files; returns how many pixels the 16-bit PNG had to clip."""
    depth = upsample(outputs["depth"], item.size)
    next(iter(files.values())).parent.mkdir(parents=True, exist_ok=True)
    if spec.disparity:
        np.save(files["disp_npy"], depth.numpy().astype(np.float32))
        io.write_png(files["disp_color"], depth_color(depth, torch.isfinite(depth), options.cmap, near_high=True))
        return 0
    valid = valid_depth(depth, spec)
    np.save(files["npy"], depth.numpy().astype(np.float32))
    png16, clipped = io.depth_to_uint16(depth.numpy(), options.depth_png_scale)
    io.write_png(files["png16"], png16)
    io.write_png(files["color"], depth_color(depth, valid, options.cmap))
    if "normals" in files or "ply" in files:
        K = camera(*item.size)
    if "normals" in files:
        io.write_png(files["normals"], normals_to_rgb(surface_normals(depth, K, camera.model), valid))
    if "ply" in files:
        write_ply(files["ply"], point_cloud(depth, K, valid, camera.model), io.to_uint8(rgb)[valid.numpy()])
    if "mask" in files:
        mask = torch.sigmoid(upsample(outputs["mask_logits"], item.size)) > 0.5
        io.write_png(files["mask"], mask.numpy().astype(np.uint8) * 255)
    return clipped


def predict(
    runner: Runner,
    spec: ModelSpec,
    paths: list[Path],
    output: Path,
    options: PredictOptions,
    camera: Camera,
    background: Path | None = None,
) -> list[dict[str, Path]]:
    """Run the model over every image (batched by network size, optional flip TTA) and write its outputs."""
    if options.batch_size < 1:
        raise DepthlabError(f"batch_size={options.batch_size} must be at least 1")
    check_relative(spec, options)
    items = plan(paths, spec, options, background)
    if camera is not None and camera.model == "equirect":
        for item in items:
            try:
                check_aspect(*item.size)
            except DepthlabError as err:
                raise DepthlabError(f"{item.path}: {err}; or pass camera=pinhole") from None
    files = [targets(item, output, spec, options) for item in items]
    existing = [p for f in files for p in f.values() if p.exists()]
    if existing and not options.overwrite:
        raise DepthlabError(
            f"output={output} already holds predictions (e.g. {existing[0]}); pass overwrite=true or another output="
        )
    clipped = 0
    for i, outputs, rgb in run_batches(runner, spec, items, options.batch_size, options.flip_tta):
        clipped += write_outputs(items[i], outputs, rgb, files[i], spec, camera, options)
    if clipped:
        print(f"warning: {clipped} pixels beyond {65535 / options.depth_png_scale:g} m were clipped in the 16-bit PNGs")
    return files


def run_batches(
    runner: Runner, spec: ModelSpec, items: list[Item], batch_size: int, flip_tta: bool = False, desc: str = "predict"
) -> Iterator[tuple[int, dict[str, Tensor], np.ndarray]]:
    """(index into items, that image's network outputs, its full-res RGB), in batches of one network size each."""
    order = sorted(range(len(items)), key=lambda i: items[i].net_size)  # stable: input order within a size
    with tqdm(total=len(items), unit="img", desc=desc) as bar:
        for _, group in groupby(order, key=lambda i: items[i].net_size):
            group = list(group)
            for start in range(0, len(group), batch_size):
                chunk = group[start : start + batch_size]
                batch, rgbs = load_batch([items[i] for i in chunk], spec)
                outputs = maybe_flip_average(runner, batch, flip_tta)
                for j, i in enumerate(chunk):
                    yield i, {k: v[j] for k, v in outputs.items()}, rgbs[j]
                bar.update(len(chunk))
