"""A .tflite written by export.py in the LiteRT interpreter, behind the same call as the PyTorch and ONNX runners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from depthlab.inference.litert import input_names, read_spec, require
from depthlab.utils.errors import DepthlabError


class TfliteRunner:
    """Runs image by image at the fixed size the file was exported at; int8 inputs / outputs are (de)quantised here."""

    backend = "litert"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        require("ai_edge_litert")
        from ai_edge_litert.interpreter import Interpreter

        content = Path(path).read_bytes()
        try:
            spec = read_spec(content)
            interpreter = Interpreter(model_content=content, num_threads=threads or torch.get_num_threads())
        except Exception as err:
            raise DepthlabError(
                f"{path} is not a readable TFLite model ({type(err).__name__}); re-run export.py"
            ) from None
        if spec is None:
            raise DepthlabError(f"{path} was not written by depthlab's export.py (no depthlab metadata)")
        self.spec, self.signature = spec, interpreter.get_signature_runner()
        self.inputs = self.signature.get_input_details()
        self.outputs = self.signature.get_output_details()
        self.size = tuple(int(v) for v in self.inputs[input_names(spec)[0]]["shape"][-2:])

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        images = [batch[name].float() for name in self.spec.inputs]
        if tuple(images[0].shape[-2:]) != self.size:
            h, w = self.size
            raise DepthlabError(
                f"this .tflite takes {h}x{w} images, got {tuple(images[0].shape[-2:])}; pass resolution=[{h},{w}] "
                "or re-export with height= width="
            )
        results: list[list[np.ndarray]] = []
        for index in range(images[0].shape[0]):
            feed = {
                name: self._encode(name, image[index : index + 1].numpy())
                for name, image in zip(input_names(self.spec), images, strict=True)
            }
            found = self.signature(**feed)
            results.append([self._decode(key, found[key]) for key in sorted(found, key=_position)])
        return {
            name: torch.from_numpy(np.concatenate([r[i] for r in results])) for i, name in enumerate(self.spec.outputs)
        }

    def _encode(self, name: str, value: np.ndarray) -> np.ndarray:
        """float32 as is; a fully int8 model's input quantised with its scale and zero point."""
        detail = self.inputs[name]
        if detail["dtype"] == np.float32:
            return value.astype(np.float32)
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(value / scale + zero), info.min, info.max).astype(detail["dtype"])

    def _decode(self, name: str, value: np.ndarray) -> np.ndarray:
        """An int8 output back to float32 with its scale and zero point."""
        detail = self.outputs[name]
        if detail["dtype"] == np.float32:
            return value
        scale, zero = detail["quantization"]
        return ((value.astype(np.float32) - zero) * scale).astype(np.float32)


def _position(key: str) -> int:
    """output_0, output_1, ... in the order the InferenceNet returned them."""
    return int(key.rsplit("_", 1)[-1])
