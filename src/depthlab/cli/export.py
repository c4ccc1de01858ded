"""`python export.py ckpt_path=... format=onnx|torchscript|tflite [quantize=fp16|int8]`: ship a checkpoint, checked."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from depthlab.cli.app import run
from depthlab.cli.mobile_table import print_report
from depthlab.inference import litert
from depthlab.inference.exporters import EXPORTERS, FORMATS, check_exportable, export, parity_shapes
from depthlab.inference.mobile import Settings, check_size, ship
from depthlab.inference.quantize import QUANTIZE
from depthlab.inference.runners import TorchRunner, checkpoint_runner
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError


def _check_args(cfg: DictConfig) -> None:
    """One-line refusals before the checkpoint is read."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise DepthlabError("ckpt_path is required: python export.py ckpt_path=<run>/checkpoints/last.ckpt format=onnx")
    check_choice("format", cfg.format, FORMATS)
    check_choice("exporter", cfg.exporter, EXPORTERS)
    quantize = str(cfg.get("quantize") or "none")
    check_choice("quantize", quantize, QUANTIZE)
    if quantize != "none" and cfg.format == "torchscript":
        raise DepthlabError(f"quantize={quantize} is not supported for format=torchscript; use format=onnx or tflite")
    if quantize == "fp16" and cfg.format == "onnx" and cfg.exporter == "legacy":
        raise DepthlabError("quantize=fp16 needs exporter=dynamo (float16 conversion breaks the legacy graph's casts)")
    for key in ("height", "width"):
        if cfg.get(key) is not None and int(cfg[key]) <= 0:
            raise DepthlabError(f"{key}={cfg[key]} must be a positive multiple of the network's stride (e.g. 32)")
    if cfg.format == "tflite":
        litert.require("litert_torch", "ai_edge_litert", "ai_edge_quantizer")


def settings(cfg: DictConfig, runner: TorchRunner) -> Settings:
    """The fixed size (height= width=, else the training size) and sample counts of a device export."""
    spec = runner.spec
    height = int(cfg.get("height") or spec.height or 2 * spec.stride)
    width = int(cfg.get("width") or spec.width or 2 * spec.stride)
    check_size(height, width, spec.stride)
    return Settings(
        height, width, int(cfg.calibration_samples), int(cfg.eval_samples), str(cfg.exporter), int(cfg.opset)
    )


def tolerance(cfg: DictConfig, quantize: str) -> float | None:
    """The enforced parity bound: fp32 `tolerance`, fp16 `fp16_tolerance`, none for int8 (reported only)."""
    return {"none": float(cfg.tolerance), "fp16": float(cfg.fp16_tolerance)}.get(quantize)


def export_cli(cfg: DictConfig) -> dict[str, float | str]:
    """Export to a temporary file, check parity, then move it into place (a failed check leaves nothing behind)."""
    _check_args(cfg)
    quantize = str(cfg.get("quantize") or "none")
    path = Path(cfg.output) if cfg.output else Path(cfg.ckpt_path).with_suffix(FORMATS[cfg.format])
    if path.suffix != FORMATS[cfg.format]:
        raise DepthlabError(f"output={path} should end in {FORMATS[cfg.format]} for format={cfg.format}")
    if path.exists() and not cfg.overwrite:
        raise DepthlabError(f"output={path} exists; pass overwrite=true or another output=")
    runner = checkpoint_runner(cfg.ckpt_path, cfg.get("trusted_targets") or ())
    device = cfg.format == "tflite" or quantize != "none"
    if device and cfg.format == "onnx":
        check_exportable(runner, cfg.format, cfg.exporter)
    chosen = settings(cfg, runner) if device else None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    report = None
    try:
        partial.touch()  # a read-only or unwritable output fails now, not after the export's work
        if chosen is not None:
            report = ship(runner, cfg.format, quantize, partial, chosen)
            diff = report.max_abs_diff
        else:
            diff = export(runner, cfg.format, partial, exporter=cfg.exporter, opset=int(cfg.opset))
        bound = tolerance(cfg, quantize)
        if bound is not None and diff > bound:
            fix = "try exporter=legacy or another opset=" if cfg.format == "onnx" else "try format=onnx"
            name = "fp16_tolerance" if quantize == "fp16" else "tolerance"
            raise DepthlabError(f"{cfg.format} output differs from PyTorch by {diff:.2e} > {name}={bound:g}; {fix}")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    print(f"exported {cfg.format} to {path}")
    if runner.spec.provenance_line():
        print(runner.spec.provenance_line())
    if report is not None:
        print_report(report, tolerance(cfg, quantize))
        return {"path": str(path), "max_abs_diff": diff, "size_mb": report.size_after / 1e6}
    shapes = ", ".join(f"{b}x3x{h}x{w}" for b, h, w in parity_shapes(runner.spec))
    print(f"parity vs PyTorch on inputs {shapes}: max abs difference {diff:.3e} (tolerance {cfg.tolerance:g})")
    return {"path": str(path), "max_abs_diff": diff}


def main() -> None:
    """`python export.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("export", export_cli)
