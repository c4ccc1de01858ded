"""Where the unlabelled images come from: any folder (sub-folders included), or `synthetic:N` rendered scenes.

`synthetic:N` renders scenes 0..N-1 of the synthetic "unlabelled" seed range (data/synthetic.py SPLIT_OFFSETS):
the train distribution of the `data` config, but no scene of the train, val or test split. Only the RGB images
are written (8-bit PNGs); the renderer's depth of these scenes is discarded, so no student can see it.
"""

from __future__ import annotations

import multiprocessing
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from depthlab.data.photos import photo_textures
from depthlab.data.render import SceneRanges
from depthlab.data.synthetic import SyntheticDepthDataset
from depthlab.inference import io
from depthlab.utils.errors import DepthlabError

SYNTHETIC_PREFIX = "synthetic:"
SYNTHETIC_DIR = "images"  # inside the label cache: rendered images live beside their labels
SYNTHETIC_KEYS = ("height", "width", "seed", "min_objects", "max_objects", "scene")


def folder_images(root: Path) -> list[Path]:
    """Every image below root (any depth), sorted; one line naming the folder when it is missing or empty."""
    if not root.is_dir():
        raise DepthlabError(f"images={root} is not a folder; pass a folder of images or images=synthetic:<count>")
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in io.IMAGE_SUFFIXES)
    if not found:
        raise DepthlabError(f"images={root} holds no images ({', '.join(io.IMAGE_SUFFIXES)}) in it or its sub-folders")
    return found


def synthetic_count(spec: str) -> int | None:
    """N of `synthetic:N` (None for a folder), refusing a count that is not a positive integer."""
    if not spec.startswith(SYNTHETIC_PREFIX):
        return None
    value = spec[len(SYNTHETIC_PREFIX) :]
    if not value.isdigit() or int(value) < 1:
        raise DepthlabError(
            f"images={spec}: the count after synthetic: must be a positive integer, e.g. synthetic:2400"
        )
    return int(value)


def synthetic_settings(data: Any) -> dict[str, Any]:
    """The renderer settings of the `data` config (conf/data/synthetic.yaml unless overridden) that shape a scene."""
    values = OmegaConf.to_container(data, resolve=True) if isinstance(data, DictConfig) else dict(data)
    settings = {key: values[key] for key in SYNTHETIC_KEYS}
    settings["scene"] = dict(settings["scene"] or {})
    return settings


def _write_scene(dataset: SyntheticDepthDataset, root: Path, index: int) -> None:
    """Render one scene and keep its RGB only (written under a temporary name, then moved into place)."""
    path = root / synthetic_name(index)
    partial_path = path.with_name(f".{path.name}")
    io.write_png(partial_path, io.to_uint8(dataset.render(index)["image"]))
    partial_path.replace(path)


def synthetic_name(index: int) -> str:
    """File name of unlabelled scene `index`."""
    return f"unlabelled_{index:06d}.png"


def render_synthetic(root: Path, count: int, settings: dict[str, Any], processes: int = 2) -> list[Path]:
    """Scenes 0..count-1 of the unlabelled range as PNGs in root (existing files are kept: rendering is seeded)."""
    try:
        ranges = SceneRanges.from_mapping(settings["scene"])
    except (TypeError, ValueError) as err:
        raise DepthlabError(str(err)) from None
    dataset = SyntheticDepthDataset(
        "unlabelled",
        count,
        int(settings["height"]),
        int(settings["width"]),
        int(settings["seed"]),
        int(settings["min_objects"]),
        int(settings["max_objects"]),
        ranges=ranges,
    )
    root.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(count) if not (root / synthetic_name(i)).is_file()]
    write = partial(_write_scene, dataset, root)
    if processes <= 1 or len(todo) < 4 * processes:
        for index in todo:
            write(index)
    else:
        if ranges.photo_textures > 0:
            photo_textures()  # loaded once here, inherited by the forked workers
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(write, todo, chunksize=max(1, len(todo) // (8 * processes)))
    if todo:
        print(f"rendered {len(todo)} unlabelled synthetic scenes into {root}")
    return [root / synthetic_name(i) for i in range(count)]
