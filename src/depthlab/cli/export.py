"""`python export.py ckpt_path=... format=onnx|torchscript`: ship a checkpoint, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from depthlab.cli.app import run
from depthlab.inference.exporters import EXPORTERS, FORMATS, export, parity_shapes
from depthlab.inference.runners import checkpoint_runner
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError


def export_cli(cfg: DictConfig) -> dict[str, float | str]:
    """Export to a temporary file, check parity, then move it into place (a failed check leaves nothing behind)."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise DepthlabError("ckpt_path is required: python export.py ckpt_path=<run>/checkpoints/last.ckpt format=onnx")
    check_choice("format", cfg.format, FORMATS)
    check_choice("exporter", cfg.exporter, EXPORTERS)
    path = Path(cfg.output) if cfg.output else Path(cfg.ckpt_path).with_suffix(FORMATS[cfg.format])
    if path.suffix != FORMATS[cfg.format]:
        raise DepthlabError(f"output={path} should end in {FORMATS[cfg.format]} for format={cfg.format}")
    if path.exists() and not cfg.overwrite:
        raise DepthlabError(f"output={path} exists; pass overwrite=true or another output=")
    runner = checkpoint_runner(cfg.ckpt_path, cfg.get("trusted_targets") or ())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    try:
        partial.touch()  # a read-only or unwritable output fails now, not after the export's work
        diff = export(runner, cfg.format, partial, exporter=cfg.exporter, opset=int(cfg.opset))
        if diff > cfg.tolerance:
            raise DepthlabError(
                f"{cfg.format} output differs from PyTorch by {diff:.2e} > tolerance={cfg.tolerance:g}; "
                "try exporter=legacy or another opset="
            )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    shapes = ", ".join(f"{b}x3x{h}x{w}" for b, h, w in parity_shapes(runner.spec))
    print(f"exported {cfg.format} to {path}")
    if runner.spec.provenance_line():
        print(runner.spec.provenance_line())
    print(f"parity vs PyTorch on inputs {shapes}: max abs difference {diff:.3e} (tolerance {cfg.tolerance:g})")
    return {"path": str(path), "max_abs_diff": diff}


def main() -> None:
    """`python export.py ...`: the Hydra entry point (the run directory is claimed before Hydra writes to it)."""
    run("export", export_cli)
