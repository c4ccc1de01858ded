"""Label a list of images with a teacher into a cache; a re-run with the same teacher labels only missing images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depthlab.distill.cache import (
    LABEL_DIR,
    MANIFEST,
    check_empty,
    check_same_teacher,
    new_manifest,
    read_manifest,
    save_label,
    write_json,
)
from depthlab.distill.teacher import Teacher
from depthlab.inference import io
from depthlab.inference.predictor import PredictOptions, plan, run_batches, upsample
from depthlab.utils.errors import DepthlabError


def label_paths(images: list[Path], root: Path) -> list[Path]:
    """Label files (relative to the cache) mirroring each image's path below root: depth/<sub>/<stem>.npy."""
    return [Path(LABEL_DIR) / f"{stem}.npy" for stem in io.output_stems(images, root)]


def open_cache(cache: Path, teacher: Teacher, options: PredictOptions, source: dict[str, Any]) -> dict[str, Any]:
    """The manifest this run will write; refuses (before anything is written) a cache of another teacher or source."""
    labelling = {"resolution": options.resolution, "flip_tta": options.flip_tta, "output": "depth"}
    manifest = new_manifest(teacher.identity | {"output_kind": teacher.output_kind}, labelling, source)
    manifest["teacher"]["provenance"] = teacher.provenance
    old = read_manifest(cache)
    if old is None:
        check_empty(cache)
    else:
        check_same_teacher(cache, old, manifest)
    return manifest


def claim_cache(cache: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest (without labels yet) into a new cache: a run killed half-way is resumed by its teacher."""
    cache.mkdir(parents=True, exist_ok=True)
    if read_manifest(cache) is None:
        write_json(cache / MANIFEST, manifest)


def label(
    teacher: Teacher, images: list[Path], root: Path, cache: Path, options: PredictOptions, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Label every image without a label yet (headers checked first); write and return the manifest with its list."""
    if options.batch_size < 1:
        raise DepthlabError(f"batch_size={options.batch_size} must be at least 1")
    spec = teacher.spec
    if tuple(spec.inputs) != ("image",):
        raise DepthlabError(f"the teacher takes {' and '.join(spec.inputs)}; distillation needs a one-input model")
    items = plan(images, spec, options, None)  # every header read before anything is written
    claim_cache(cache, manifest)
    targets = label_paths(images, root)
    todo = [i for i, target in enumerate(targets) if not (cache / target).is_file()]
    pending = [items[i] for i in todo]
    for j, outputs, _ in run_batches(teacher.runner, spec, pending, options.batch_size, options.flip_tta, "label"):
        save_label(cache / targets[todo[j]], upsample(outputs["depth"], pending[j].size).numpy())
    manifest["labels"]["files"] = [
        {"image": path.relative_to(root).as_posix(), "label": target.as_posix(), "size": list(item.size)}
        for path, target, item in zip(images, targets, items, strict=True)
    ]
    manifest["labels"]["network_sizes"] = sorted({tuple(item.net_size) for item in items})
    manifest["labels"]["labelled_now"] = len(todo)
    write_json(cache / MANIFEST, manifest)
    return manifest
