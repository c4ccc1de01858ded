"""Export for devices: float file, optional fp16 / int8 quantisation, parity and val metrics against PyTorch."""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from depthlab.inference import litert
from depthlab.inference.calibration import Batch, dataset_batches
from depthlab.inference.exporters import export_onnx
from depthlab.inference.quantize import quantize_onnx
from depthlab.inference.runners import OnnxRunner, TorchRunner
from depthlab.inference.tflite_runner import TfliteRunner
from depthlab.metrics.functional import depth_metrics
from depthlab.utils.errors import DepthlabError

METRICS = ("abs_rel", "delta1")


@dataclass(frozen=True)
class Settings:
    """What export.py passes down: the fixed size, samples to calibrate and score on, and the ONNX exporter."""

    height: int
    width: int
    calibration_samples: int = 32
    eval_samples: int = 16
    exporter: str = "dynamo"
    opset: int = 18


@dataclass(frozen=True)
class Report:
    """One row of the printed table: sizes before / after quantisation, parity, and val metrics of both."""

    fmt: str
    quantize: str
    size_before: int
    size_after: int
    max_abs_diff: float
    pytorch: dict[str, float]
    exported: dict[str, float]


def write_float(runner: TorchRunner, fmt: str, path: Path, settings: Settings) -> None:
    """The unquantised file: TFLite at the fixed size, ONNX with dynamic axes as usual."""
    if fmt == "tflite":
        litert.convert(runner, path, settings.height, settings.width)
    else:
        export_onnx(runner, path, settings.exporter, settings.opset)


def open_exported(fmt: str, path: Path) -> TfliteRunner | OnnxRunner:
    """The runner predict.py would use on the file."""
    return TfliteRunner(path) if fmt == "tflite" else OnnxRunner(path)


def calibration_feeds(runner: TorchRunner, fmt: str, settings: Settings) -> list[dict[str, np.ndarray]]:
    """Train-split images of the checkpoint's dataset, one per feed, as the quantiser's representative data."""
    batches = dataset_batches(
        runner.spec.config, "train", settings.calibration_samples, settings.height, settings.width
    )
    images = [image for batch in batches for image in batch.image]
    if fmt == "tflite":
        return litert.calibration_inputs(runner.spec, images)
    return [{runner.spec.inputs[0]: image[None].numpy()} for image in images]


def compare(reference: TorchRunner, candidate: TfliteRunner | OnnxRunner, batches: list[Batch]) -> tuple:
    """Max |exported - PyTorch| over every output, and abs_rel / delta1 of each against the ground truth."""
    spec, worst = reference.spec, 0.0
    predictions: dict[str, list[torch.Tensor]] = {"pytorch": [], "exported": []}
    for batch in batches:
        feed = {name: batch.image for name in spec.inputs}
        expected, actual = reference(feed), candidate(feed)
        for name, value in expected.items():
            worst = max(worst, float((actual[name].float() - value).abs().max()))
        predictions["pytorch"].append(expected["depth"])
        predictions["exported"].append(actual["depth"].float())
    if spec.disparity or not batches:  # relative outputs have no metres to score against the ground truth
        return worst, {}, {}
    depth, valid = torch.cat([b.depth for b in batches]), torch.cat([b.valid for b in batches])
    scores = []
    for key in ("pytorch", "exported"):
        found = depth_metrics(torch.cat(predictions[key]), depth, valid, spec.min_depth, spec.max_depth)
        scores.append({name: found[name] for name in METRICS})
    return worst, scores[0], scores[1]


def ship(runner: TorchRunner, fmt: str, quantize: str, target: Path, settings: Settings) -> Report:
    """Write `target` (float, or quantised from the float file) and report it against PyTorch."""
    spec = dataclasses.replace(runner.spec, height=settings.height, width=settings.width)
    runner = TorchRunner(runner.module, spec)
    suffix = target.suffix
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converters' truncation and deprecation notices
        float_path, quant_path = Path(tmp) / f"float{suffix}", Path(tmp) / f"quantized{suffix}"
        write_float(runner, fmt, float_path, settings)
        final = float_path
        if quantize != "none":
            feeds = calibration_feeds(runner, fmt, settings) if quantize == "int8" else []
            with litert.quiet():  # converters' INFO logging and progress bars
                if fmt == "tflite":
                    litert.quantize(float_path, quant_path, quantize, feeds)
                else:
                    quantize_onnx(float_path, quant_path, quantize, spec, feeds)
            final = quant_path
        if fmt == "tflite":
            litert.embed_spec(final, spec)
        batches = dataset_batches(spec.config, "val", settings.eval_samples, settings.height, settings.width)
        worst, pytorch, exported = compare(runner, open_exported(fmt, final), batches)
        before, after = float_path.stat().st_size, final.stat().st_size
        final.replace(target)
    return Report(fmt, quantize, before, after, worst, pytorch, exported)


def check_size(height: int, width: int, stride: int) -> None:
    """Refuse a size the network cannot take (positive multiples of its stride)."""
    if height <= 0 or width <= 0 or height % stride or width % stride:
        raise DepthlabError(
            f"height={height} width={width} must be positive multiples of {stride}, the network's stride"
        )
