"""`python predict.py ckpt_path=... input=...`: depth maps, normals, point clouds and masks for new images."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from depthlab.cli.app import run
from depthlab.inference.camera import Camera
from depthlab.inference.io import collect_inputs
from depthlab.inference.predictor import RELATIVE_NOTE, PredictOptions, check_relative, predict
from depthlab.inference.runners import open_model
from depthlab.inference.spec import ModelSpec
from depthlab.utils.errors import DepthlabError


def _plain(value):
    """OmegaConf lists -> Python lists (Hydra gives `input=[a,b]` and `intrinsics=[...]` as ListConfig)."""
    return OmegaConf.to_container(value) if isinstance(value, ListConfig) else value


def _required(cfg: DictConfig, key: str, example: str) -> None:
    if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
        raise DepthlabError(f"{key} is required: python predict.py {example}")


def predict_cli(cfg: DictConfig) -> list[dict[str, Path]]:
    """Check inputs, open the model (.ckpt, .onnx, .pt or .tflite), predict every image, print where outputs went."""
    example = "ckpt_path=outputs/train/runs/<run>/checkpoints/last.ckpt input=<image, folder or glob> output=<dir>"
    _required(cfg, "ckpt_path", example)
    _required(cfg, "input", example)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    paths = collect_inputs(_plain(cfg.input))
    runner = open_model(cfg.ckpt_path, threads=cfg.get("threads"), trusted=cfg.get("trusted_targets") or ())
    spec = runner.spec
    options = PredictOptions(
        resolution=_plain(cfg.resolution),
        batch_size=int(cfg.batch_size),
        flip_tta=bool(cfg.flip_tta),
        normals=bool(cfg.normals),
        point_cloud=bool(cfg.point_cloud),
        depth_png_scale=float(cfg.depth_png_scale),
        cmap=str(cfg.cmap),
        overwrite=bool(cfg.overwrite),
    )
    check_relative(spec, options)
    if spec.provenance_line():
        print(spec.provenance_line())
    camera = (
        Camera(_plain(cfg.intrinsics), cfg.fov_deg, spec.config, str(cfg.get("camera", "auto")))
        if options.normals or options.point_cloud
        else None
    )
    output = Path(cfg.output or cfg.paths.output_dir)
    background = Path(cfg.background) if cfg.get("background") else None
    files = predict(runner, spec, paths, output, options, camera, background)
    print(f"{len(files)} images -> {output} ({runner.backend}, network input {_sizes(spec, options)})")
    if camera is not None:
        print(f"{'camera' if camera.model == 'equirect' else 'intrinsics'}: {camera.source}")
    if spec.disparity:
        print(f"outputs are {RELATIVE_NOTE}: <name>_disparity.npy and <name>_disparity_color.png only")
    return files


def _sizes(spec: ModelSpec, options: PredictOptions) -> str:
    """How the network input size was chosen, for the summary line."""
    if options.resolution == "train" and spec.height and spec.width:
        return f"{spec.height}x{spec.width}"
    return (
        f"each image rounded to a multiple of {spec.stride}, the network's stride"
        if options.resolution in ("train", "input")
        else str(options.resolution)
    )


def main() -> None:
    """`python predict.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("predict", predict_cli)
