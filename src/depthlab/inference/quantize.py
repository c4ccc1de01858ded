"""Post-training quantisation of an exported ONNX model: fp16 (onnxconverter-common) or static int8 (onnxruntime).

int8 is static QDQ with per-channel weights, calibrated on real samples: dynamic quantisation only rewrites
MatMul / Conv weights into ConvInteger, which onnxruntime's CPU provider runs slower than float for conv nets,
while QDQ convolutions fuse into its int8 QLinearConv kernels.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from depthlab.inference.spec import METADATA_KEY, ModelSpec
from depthlab.utils.errors import DepthlabError

QUANTIZE = ("none", "fp16", "int8")


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over prepared {input name: array} feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def quantize_onnx(source: Path, target: Path, mode: str, spec: ModelSpec, feeds: list[dict[str, np.ndarray]]) -> None:
    """Write the fp16 or int8 version of `source` to `target`, the ModelSpec metadata carried over."""
    if mode == "fp16":
        try:
            from onnxconverter_common import float16
        except ImportError:
            raise DepthlabError(
                "quantize=fp16 for ONNX needs onnxconverter-common (the tflite extra); pip install -e '.[tflite]'"
            ) from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a note per weight rounded to float16's smallest normal
            model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
        onnx.save(model, str(target))
    elif mode == "int8":
        if not feeds:
            raise DepthlabError("quantize=int8 needs calibration samples; set calibration_samples= above 0")
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with tempfile.TemporaryDirectory() as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(target),
                _Reader(feeds),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    else:
        raise AssertionError(f"quantize={mode} reached the ONNX quantiser")
    model = onnx.load(str(target))
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    onnx.save(model, str(target))
