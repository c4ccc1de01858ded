"""ONNX (dynamic batch, height and width) and TorchScript export, and their parity check against PyTorch."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn
from torch.export import Dim

from depthlab.inference.runners import EXTRA_FILE, OnnxRunner, TorchRunner, torchscript_runner
from depthlab.inference.spec import METADATA_KEY, ModelSpec
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "tflite": ".tflite"}  # tflite: inference/mobile.py
EXPORTERS = ("dynamo", "legacy")
ROUTES = ("onnx/dynamo", "onnx/legacy", "torchscript")  # what a network survives unless it declares export_routes


def network(runner: TorchRunner) -> nn.Module:
    """The depthlab network inside a runner's InferenceNet."""
    return getattr(runner.module, "net", runner.module)


def check_exportable(runner: TorchRunner, fmt: str, exporter: str) -> None:
    """Refuse, in one line, a format / exporter the network is known not to survive (before any export work)."""
    net = network(runner)
    route = "torchscript" if fmt == "torchscript" else f"onnx/{exporter}"
    supported = tuple(getattr(net, "export_routes", ROUTES))
    if route in supported:
        return
    name, why = getattr(net, "name", type(net).__name__), getattr(net, "export_note", "")
    fix = "use format=onnx exporter=dynamo" if "onnx/dynamo" in supported else "run the checkpoint itself (.ckpt)"
    raise DepthlabError(f"{name} cannot be exported as {route} ({why}); {fix}")


def example_inputs(spec: ModelSpec, batch: int = 2, net: nn.Module | None = None) -> tuple[Tensor, ...]:
    """Inputs to trace with: batch 2 (a size-1 axis would be specialised) at the training size (or the net's pick)."""
    height, width = spec.height or 2 * spec.stride, spec.width or 2 * spec.stride
    if net is not None and hasattr(net, "trace_size"):
        height, width = net.trace_size(height, width)
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.rand(batch, 3, height, width, generator=generator) for _ in spec.inputs)


def export_torchscript(runner: TorchRunner, path: Path) -> None:
    """Trace the network (shape arithmetic stays symbolic for conv nets; the parity check at other sizes proves it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notice
        traced = torch.jit.trace(runner.module, example_inputs(runner.spec, net=network(runner)), check_trace=False)
        buffer = io.BytesIO()  # torch's C++ file writer aborts the process on a full disk; Python's write raises
        torch.jit.save(traced, buffer, _extra_files={EXTRA_FILE: runner.spec.to_json()})
    path.write_bytes(buffer.getvalue())


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Hold the exporter's per-pass INFO chatter (Hydra sets the root logger to INFO) at WARNING."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(runner: TorchRunner, path: Path, exporter: str = "dynamo", opset: int = 18) -> None:
    """Export with dynamic batch, height and width, one self-contained file, the ModelSpec in its metadata."""
    spec = runner.spec
    kwargs: dict = {"input_names": list(spec.inputs), "output_names": list(spec.outputs), "opset_version": opset}
    with warnings.catch_warnings(), _quiet_loggers("onnx_ir", "onnxscript", "torch.onnx", "torch.export"):
        warnings.simplefilter("ignore")  # exporter deprecation and tracer notices
        if exporter == "dynamo":
            axes = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}
            varargs = tuple(axes for _ in spec.inputs)  # InferenceNet.forward(*images): one entry for the *images tuple
            kwargs |= {"dynamic_shapes": (varargs,), "external_data": False}
        elif exporter == "legacy":
            names = (*spec.inputs, *spec.outputs)
            kwargs["dynamic_axes"] = {name: {0: "batch", 2: "height", 3: "width"} for name in names}
        else:
            check_choice("exporter", exporter, EXPORTERS)
        try:
            torch.onnx.export(
                runner.module,
                example_inputs(spec, net=network(runner)),
                str(path),
                dynamo=exporter == "dynamo",
                verbose=False,
                **kwargs,
            )
        except Exception as err:
            summary = next((line for line in str(err).splitlines() if line.strip()), "")[:200]
            other = "legacy" if exporter == "dynamo" else "dynamo"
            raise DepthlabError(
                f"ONNX export with exporter={exporter} failed ({type(err).__name__}: {summary}); try exporter={other}"
            ) from None
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    onnx.save(model, str(path))


def parity_shapes(spec: ModelSpec) -> list[tuple[int, int, int]]:
    """(batch, height, width) to compare at: the training size, and another batch and size (dynamic axes)."""
    height, width = spec.height or 2 * spec.stride, spec.width or 2 * spec.stride
    return [(1, height, width), (3, height + spec.stride, width + 2 * spec.stride)]


def max_abs_difference(reference: TorchRunner, candidate: TorchRunner | OnnxRunner) -> float:
    """Largest |reference - candidate| over every output on seeded random images of each parity shape."""
    generator, worst = torch.Generator().manual_seed(1), 0.0
    for batch, height, width in parity_shapes(reference.spec):
        images = {n: torch.rand(batch, 3, height, width, generator=generator) for n in reference.spec.inputs}
        expected, actual = reference(images), candidate(images)
        for name, value in expected.items():
            if actual[name].shape != value.shape:
                raise DepthlabError(
                    f"exported {name} has shape {tuple(actual[name].shape)}, PyTorch {tuple(value.shape)}"
                )
            worst = max(worst, float((actual[name].float() - value).abs().max()))
    return worst


def export(runner: TorchRunner, fmt: str, path: Path, exporter: str = "dynamo", opset: int = 18) -> float:
    """Write the model in `fmt` to `path` and return its max abs difference to PyTorch (file kept either way)."""
    check_exportable(runner, fmt, exporter)
    if fmt == "onnx":
        export_onnx(runner, path, exporter, opset)
        return max_abs_difference(runner, OnnxRunner(path))
    if fmt == "torchscript":
        export_torchscript(runner, path)
        return max_abs_difference(runner, torchscript_runner(path))
    check_choice("format", fmt, FORMATS)
    raise AssertionError(f"format {fmt} is listed in FORMATS but has no exporter")
