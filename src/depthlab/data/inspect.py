"""`python -m depthlab.data.inspect data=<name> data.root=<dir>`: what the loader reads, before a run trains on it.

Depth units are the commonest silent mistake (millimetres read as metres, KITTI's / 256 PNGs, inverse or normalised
depth, missing intrinsics): a run trains on them without complaint. Per split this reads `samples` raw samples
(decoded, before resize, augmentation and the data.min_depth / max_depth mask), prints their numbers and plain
warnings, and writes inspect.json plus an offline HTML page of sample grids (data/inspect_page.py).
`depthlab-check-data` is the other half: it decodes every file and lists the broken ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import Dataset

from depthlab.data.base import SPLITS, DepthDataModule, Sample
from depthlab.data.sparse import is_sparse
from depthlab.utils.errors import DepthlabError

PERCENTILES = (1, 5, 50, 95, 99)
MAX_VALUES = 2**24  # valid depths kept for the percentiles (each sample's evenly strided when more)
MM_MEDIAN, FEW_VALID, MANY_OUTSIDE = 200.0, 0.01, 0.05  # warn: median beyond, valid below, outside the range above


def picked(total: int, samples: int | str) -> list[int]:
    """`samples` indices evenly spaced over a split of `total` (all of them for samples=all)."""
    if str(samples).strip().lower() == "all":
        return list(range(total))
    if isinstance(samples, bool) or not str(samples).strip().isdigit() or int(samples) < 1:
        raise DepthlabError(f"samples={samples} must be a positive integer or all")
    samples = int(samples)
    return sorted({int(i) for i in np.linspace(0, total - 1, min(samples, total)).round()}) if total else []


def split_dataset(datamodule: DepthDataModule, split: str) -> tuple[Dataset | None, str]:
    """(raw dataset of a split or None when empty, why empty); contract samples where a module has no raw reader."""
    try:
        return datamodule.build_dataset(split), ""
    except NotImplementedError:  # mixtures: their contract datasets (depth already masked to the range)
        return datamodule.dataset(split), ""
    except DepthlabError as err:
        if "is empty" in str(err):
            return None, str(err)
        raise


def arrays(sample: Sample, datamodule: DepthDataModule) -> dict[str, Any]:
    """One sample as HWC / HW NumPy: rgb in [0, 1], depth, valid (stored, finite, positive), mask, K."""
    image, depth = sample["image"], np.asarray(sample["depth"], dtype=np.float32)
    if isinstance(image, torch.Tensor) and image.dim() == 3 and image.shape[0] == 3:  # a contract sample
        image = datamodule.denormalize(image[None])[0].permute(1, 2, 0)
    depth = depth.reshape(depth.shape[-2:])
    valid = np.isfinite(depth) & (depth > 0)
    if "valid" in sample:
        valid &= np.asarray(sample["valid"]).reshape(valid.shape).astype(bool)
    mask = sample.get("mask")
    return {
        "rgb": np.clip(np.asarray(image, dtype=np.float32), 0, 1),
        "depth": depth,
        "valid": valid,
        "mask": None if mask is None else np.asarray(mask, dtype=np.float32).reshape(depth.shape),
        "K": None if sample.get("intrinsics") is None else np.asarray(sample["intrinsics"], dtype=np.float64),
    }


def depth_stats(values: np.ndarray) -> dict[str, float] | None:
    """min / max and the percentiles of valid depth (None without any)."""
    if values.size == 0:
        return None
    stats = {"min": float(values.min()), "max": float(values.max())}
    stats |= {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)}
    return stats


def inspect_split(
    datamodule: DepthDataModule, split: str, samples: int | str, grid: int
) -> tuple[dict[str, Any], list[dict]]:
    """The numbers of one split, and the arrays of the `grid` samples the page shows (evenly spaced)."""
    dataset, why = split_dataset(datamodule, split)
    if dataset is None:
        return {"samples": 0, "inspected": 0, "empty": why}, []
    indices = picked(len(dataset), samples)
    shown = {indices[i] for i in picked(len(indices), grid)} if grid else set()
    lo, hi = datamodule.min_depth, datamodule.max_depth
    keep = max(1, MAX_VALUES // max(len(indices), 1))
    values, rows, paths, sizes, cameras = [], [], [], {}, {}
    pixels = valid_px = below = above = sparse = outside = 0
    Ks, masks = [], []
    for index in indices:
        sample = dataset[index]
        item = arrays(sample, datamodule)
        depth, valid = item["depth"], item["valid"]
        good = depth[valid]
        values.append(good[:: -(-good.size // keep)] if good.size > keep else good)
        pixels, valid_px = pixels + depth.size, valid_px + good.size
        below, above = below + int((good <= lo).sum()), above + int((good >= hi).sum())
        meta = sample.get("meta") or {}
        camera = meta.get("camera", datamodule.camera_model)
        cameras[camera] = cameras.get(camera, 0) + 1
        sparse += (
            bool(meta["sparse"])
            if "sparse" in meta
            else is_sparse(valid, datamodule.sparse, datamodule.sparse_threshold)
        )
        size = f"{depth.shape[1]}x{depth.shape[0]}"
        sizes[size] = sizes.get(size, 0) + 1
        path = str(meta.get("path", f"{split}[{index}]"))
        paths.append(path)
        if item["K"] is not None:
            Ks.append(item["K"])
            outside += not (0 <= item["K"][0, 2] <= depth.shape[1] and 0 <= item["K"][1, 2] <= depth.shape[0])
        if item["mask"] is not None:
            masks.append(float(item["mask"].mean()))
        if index in shown:  # only the page's samples keep their arrays (samples=all stays within memory)
            item |= {"index": index, "name": Path(path).name or path, "stats": depth_stats(good)}
            rows.append(item | {"valid_fraction": good.size / depth.size})
    numbers = {
        "samples": len(dataset),
        "inspected": len(indices),
        "paths": paths,
        "sizes": sizes,
        "depth": depth_stats(np.concatenate(values) if values else np.zeros(0, np.float32)),
        "valid_pixels": valid_px,
        "valid_fraction": valid_px / pixels if pixels else 0.0,
        "below_min_depth": below,
        "above_max_depth": above,
        "in_range_fraction": (valid_px - below - above) / pixels if pixels else 0.0,
        "with_intrinsics": len(Ks),
        "principal_point_outside": outside,
        "intrinsics": dict(zip(("fx", "fy", "cx", "cy"), map(float, mean_k(Ks)), strict=True)) if Ks else None,
        "camera": cameras,
        "with_mask": len(masks),
        "foreground_fraction": float(np.mean(masks)) if masks else None,
        "sparse": sparse,
    }
    return numbers, rows


def mean_k(Ks: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Mean fx, fy, cx, cy of 3x3 camera matrices."""
    k = np.mean(np.stack(Ks), axis=0)
    return k[0, 0], k[1, 1], k[0, 2], k[1, 2]


def scale_key(datamodule: DepthDataModule, data_name: str) -> str:
    """Where this datamodule's depth units are set, and its current value."""
    if data_name == "real_indoor" or datamodule.name == "manifest":
        return "the depth_scale column of the manifest"
    if hasattr(datamodule, "depth_scale"):
        value = datamodule.depth_scale
        return f"data.depth_scale (now {value if value is not None else f'null: the data={data_name} default'})"
    return f"data={data_name}'s decoder (it has no depth_scale key)"


def warnings_of(datamodule: DepthDataModule, data_name: str, split: str, n: dict[str, Any]) -> list[str]:
    """The plain-language warnings one split's numbers call for."""
    if n.get("empty"):
        return [f"{split}: empty split ({n['empty']})"]
    out, depth, relative = [], n["depth"], datamodule.relative
    if depth is None:
        return [f"{split}: no valid depth in {n['inspected']} samples: wrong depth files, data.invalid_value or scale?"]
    units = scale_key(datamodule, data_name)
    if not relative and depth["p50"] > MM_MEDIAN:
        out.append(
            f"{split}: median valid depth {depth['p50']:.4g} m is beyond any room or street: these look like "
            f"millimetres or raw PNG units read as metres. metres = stored value / {units}: set "
            "data.depth_scale=1000 for millimetres (256 KITTI PNGs, 5000 TUM)"
        )
    if not relative and depth["max"] <= 1.0:  # a max under 0.1 m included
        out.append(
            f"{split}: every valid depth is in (0, {depth['max']:.3g}] m: normalised or inverse depth (disparity)? "
            f"metric data needs metres ({units}); relative data needs a relative config (data.relative=true)"
        )
    if n["valid_fraction"] < FEW_VALID:
        out.append(
            f"{split}: only {100 * n['valid_fraction']:.2f} % of pixels hold valid depth: a wrong depth scale, "
            "data.invalid_value or the wrong files (e.g. RGB in the depth folder)?"
        )
    for count, key, edge, fix in (
        (n["above_max_depth"], "max_depth", datamodule.max_depth, "raise data.max_depth"),
        (n["below_min_depth"], "min_depth", datamodule.min_depth, "lower data.min_depth"),
    ):
        if n["valid_pixels"] and count / n["valid_pixels"] > MANY_OUTSIDE and not out:  # not after a unit warning
            beyond = "beyond" if key == "max_depth" else "below"
            out.append(
                f"{split}: {100 * count / n['valid_pixels']:.1f} % of valid pixels lie {beyond} data.{key}="
                f"{edge:g} and will be masked out of training and metrics: {fix}, or check {units}"
            )
    return out


def intrinsics_warning(datamodule: DepthDataModule, splits: dict[str, dict[str, Any]]) -> list[str]:
    """One warning each for pinhole samples without intrinsics and for a principal point outside its image."""
    missing = {
        split: (n["camera"].get("pinhole", 0) - n["with_intrinsics"], n["camera"].get("pinhole", 0))
        for split, n in splits.items()
        if not n.get("empty") and n["with_intrinsics"] < n["camera"].get("pinhole", 0)
    }
    outside = {s: n for s, n in splits.items() if not n.get("empty") and n["principal_point_outside"]}
    out = []
    if missing and not datamodule.relative:  # relative data has no metric geometry to build
        counts = ", ".join(f"{split} {lacking} of {total}" for split, (lacking, total) in missing.items())
        out.append(
            f"pinhole samples without intrinsics ({counts}): normals, point clouds and the normal loss fall back to "
            "a field-of-view guess; set data.intrinsics=[fx,fy,cx,cy] (pixels of the stored images)"
        )
    if outside:
        split, n = next(iter(outside.items()))
        counts = ", ".join(f"{s} {n['principal_point_outside']} of {n['with_intrinsics']}" for s, n in outside.items())
        out.append(
            f"principal point outside the image ({counts}; {split}: mean cx={n['intrinsics']['cx']:.4g} "
            f"cy={n['intrinsics']['cy']:.4g} for {' / '.join(n['sizes'])} images): intrinsics of another resolution? "
            "give data.intrinsics in pixels of the stored images (they follow every resize and crop from there)"
        )
    return out


def inspect_data(
    datamodule: DepthDataModule, data_name: str, samples: int | str, grid: int = 0
) -> tuple[dict, dict[str, list]]:
    """(the report, {split: the arrays of the samples the page shows}) of every split."""
    if hasattr(datamodule, "prerender"):
        datamodule.prerender = 0  # a few samples: render those, not every scene up front
    splits, rows, warnings = {}, {}, []
    for split in SPLITS:
        splits[split], rows[split] = inspect_split(datamodule, split, samples, grid)
        warnings += warnings_of(datamodule, data_name, split, splits[split])
    warnings += intrinsics_warning(datamodule, splits)
    report = {
        "data": data_name,
        "target": f"{type(datamodule).__module__}.{type(datamodule).__name__}",
        "root": str(getattr(datamodule, "root", "")),
        "depth_scale": getattr(datamodule, "depth_scale", None),
        "min_depth": datamodule.min_depth,
        "max_depth": datamodule.max_depth,
        "relative": datamodule.relative,
        "input_size": list(datamodule.input_size() or []) or None,
        "splits": splits,
        "warnings": warnings,
    }
    return report, rows


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report as the lines the terminal shows (the page's table holds the same numbers)."""
    unit = "units" if report["relative"] else "m"
    lines = [
        f"data={report['data']} ({report['target']}) root={report['root'] or '-'}",
        f"data.depth_scale={report['depth_scale']} data.min_depth={report['min_depth']:g} "
        f"data.max_depth={report['max_depth']:g} ({unit}) relative={report['relative']} "
        f"network input={'x'.join(map(str, report['input_size'] or [])) or 'as stored'}",
    ]
    for split, n in report["splits"].items():
        if n.get("empty"):
            lines.append(f"{split}: empty")
            continue
        d = n["depth"] or {}
        sizes = ", ".join(f"{size} ({count})" for size, count in n["sizes"].items())
        k = n["intrinsics"]
        intr = "none" if k is None else " ".join(f"{key}={fmt(k[key], 6)}" for key in ("fx", "fy", "cx", "cy"))
        mask = "none" if not n["with_mask"] else f"{n['with_mask']} (foreground {100 * n['foreground_fraction']:.1f} %)"
        lines += [
            f"{split}: {n['samples']} samples, {n['inspected']} inspected; size {sizes}",
            f"  depth {fmt(d.get('min'))} .. {fmt(d.get('max'))} {unit}; percentiles 1/5/50/95/99: "
            + " / ".join(fmt(d.get(f"p{p}")) for p in PERCENTILES),
            f"  valid {100 * n['valid_fraction']:.2f} % of pixels; {n['below_min_depth']} valid px <= min_depth, "
            f"{n['above_max_depth']} >= max_depth; usable {100 * n['in_range_fraction']:.2f} %",
            f"  intrinsics {n['with_intrinsics']}/{n['inspected']}: {intr}; camera {n['camera']}; masks {mask}; "
            f"sparse {n['sparse']}/{n['inspected']}",
        ]
    lines += [f"warning: {w}" for w in report["warnings"]] or ["no warnings"]
    return lines


def output_dir(cfg: DictConfig) -> tuple[Path, str]:
    """(directory, page name) from cfg.output; refused when it holds files unless overwrite=true."""
    output = cfg.get("output")
    path = Path(str(output)).expanduser() if output else Path(cfg.paths.output_dir) / "inspect"
    folder, page = (path.parent, path.name) if path.suffix.lower() in (".html", ".htm") else (path, "index.html")
    if folder.exists() and not folder.is_dir():
        raise DepthlabError(f"output={folder} is a file; pass a directory (or a .html path) as output=")
    if folder.is_dir() and any(folder.iterdir()) and not cfg.get("overwrite"):
        raise DepthlabError(f"output={folder} is not empty; pass another output= or overwrite=true to replace it")
    return folder, page


def inspect(cfg: DictConfig) -> dict[str, Any]:
    """Print the numbers and warnings of cfg.data, then write inspect.json and the page; returns the report."""
    from depthlab.data.inspect_page import write_page

    folder, page = output_dir(cfg)
    grid, samples = int(cfg.get("grid", 8)), cfg.get("samples", 64)
    if grid < 0:
        raise DepthlabError(f"grid={grid} must be 0 (no images) or more")
    picked(1, samples)  # a bad value stops here, before any file is read
    datamodule = instantiate(cfg.data)
    report, rows = inspect_data(datamodule, data_name(cfg, datamodule), samples, grid)
    for line in summary_lines(report):
        print(line, flush=True)
    stale = [folder / page, folder / "inspect.json", *(p for s in SPLITS for p in folder.glob(f"{s}_*.png"))]
    for path in stale:  # overwrite=true replaces what a previous inspect wrote, nothing else
        path.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    report["grid"] = write_page(folder, page, report, rows, str(cfg.get("cmap", "turbo")))
    (folder / "inspect.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {folder / page} and {folder / 'inspect.json'}")
    return report


def data_name(cfg: DictConfig, datamodule: DepthDataModule) -> str:
    """The data= option the user chose (Hydra's choice), else the datamodule's name."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get("data") or datamodule.name)
    except ValueError:  # composed outside @hydra.main (tests)
        return datamodule.name


def inspect_task(cfg: DictConfig) -> dict[str, Any]:
    """inspect() that removes the run directory Hydra made when the run leaves it empty (refused, or output=)."""
    try:
        return inspect(cfg)
    finally:
        cwd, run_dir = Path.cwd(), Path(cfg.paths.output_dir).absolute()
        while run_dir != cwd and run_dir.is_relative_to(cwd) and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # and its empty parents (outputs/inspect/runs) up to the working directory
            run_dir = run_dir.parent


def main() -> None:
    """The inspect config (the train config's data group) under the shared entry-point plumbing."""
    from depthlab.cli.app import run

    run("inspect", inspect_task, lock=False)


if __name__ == "__main__":
    main()
