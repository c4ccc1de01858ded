"""TFLite (LiteRT) export through litert-torch, post-training fp16 / int8 quantisation, and the spec inside the file.

litert-torch is the optional `tflite` extra (~725 MB with jax): every import here is deferred, and a missing
package is one line naming the install command.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthlab.inference.runners import TorchRunner
from depthlab.inference.spec import METADATA_KEY, ModelSpec
from depthlab.utils.errors import DepthlabError

INSTALL = (
    "pip install -e '.[tflite]' && pip install --no-deps litert-torch==0.10.0 litert-converter==0.5.0 (or make install)"
)
SIGNATURE = "serving_default"


def require(*modules: str) -> None:
    """Refuse, in one line, when the optional LiteRT packages are missing (before any export work)."""
    missing = [m for m in modules if find_spec(m) is None]
    if missing:
        raise DepthlabError(f"format=tflite needs {', '.join(missing)} (the tflite extra); install it: {INSTALL}")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hold the converter's progress lines and bars, INFO logging and warnings back (errors still raise)."""
    loggers = [logging.getLogger(), logging.getLogger("absl")]  # Hydra sets the root logger to INFO
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:  # stderr too: the quantiser's tqdm bars (exceptions still propagate)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def convert(runner: TorchRunner, path: Path, height: int, width: int) -> None:
    """Convert the InferenceNet at a fixed 1 x 3 x height x width input (mobile runtimes want static shapes)."""
    require("litert_torch", "ai_edge_litert")
    import litert_torch

    images = tuple(
        torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) for _ in runner.spec.inputs
    )
    try:
        with quiet():
            model = litert_torch.convert(runner.module.eval(), images)
            model.export(str(path))
    except Exception as err:
        summary = next((line for line in str(err).splitlines() if line.strip()), "")[:200]
        raise DepthlabError(
            f"TFLite conversion failed ({type(err).__name__}: {summary}); try format=onnx, or another height= width="
        ) from None


def calibration_inputs(spec: ModelSpec, images: Sequence[torch.Tensor]) -> list[dict[str, np.ndarray]]:
    """One {input name: 1x3xHxW float32} per calibration image, the layout the LiteRT signature expects."""
    names = input_names(spec)
    return [{names[0]: image[None].numpy().astype(np.float32)} for image in images]


def input_names(spec: ModelSpec) -> list[str]:
    """litert-torch names positional inputs args_0, args_1, ... in the signature."""
    return [f"args_{i}" for i in range(len(spec.inputs))]


def quantize(source: Path, target: Path, mode: str, calibration: list[dict[str, np.ndarray]]) -> None:
    """fp16: weights cast to float16 (float compute); int8: static int8 weights and activations, calibrated."""
    require("ai_edge_quantizer")
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    with quiet():
        if mode == "fp16":
            job = quantizer.Quantizer(str(source))
            job.add_weight_only_config(
                regex=".*",
                operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                num_bits=16,
                algorithm_key=AlgorithmName.FLOAT_CASTING,
            )
            result = job.quantize(enable_progress_report=False)
        elif mode == "int8":
            if not calibration:
                raise DepthlabError("quantize=int8 needs calibration samples; set calibration_samples= above 0")
            job = quantizer.Quantizer(str(source), recipe.static_wi8_ai8())
            ranges = job.calibrate({SIGNATURE: calibration}, num_threads=max(1, torch.get_num_threads()))
            result = job.quantize(ranges, enable_progress_report=False)
        else:
            raise AssertionError(f"quantize={mode} reached the TFLite quantiser")
        target.write_bytes(bytes(result.quantized_model))


def embed_spec(path: Path, spec: ModelSpec) -> None:
    """Store the ModelSpec as TFLite metadata `depthlab`, so the file runs without the checkpoint's config."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    content = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    for stored in model.buffers:  # the quantiser appends weights after the flatbuffer: pull them inside again
        if stored.offset > 1:
            raw = content[stored.offset : stored.offset + stored.size]
            stored.data, stored.offset, stored.size = np.frombuffer(raw, dtype=np.uint8), 0, 0
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(spec.to_json().encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())


def read_spec(content: bytes) -> ModelSpec | None:
    """The ModelSpec embed_spec stored, or None for a .tflite depthlab did not write."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_KEY.encode():
            data: Any = model.Buffers(entry.Buffer()).DataAsNumpy()
            return ModelSpec.from_json(bytes(data).decode())
    return None
