"""One call signature for every backend: {input name: RGB [B, 3, H, W] in [0, 1]} -> {output name: tensor}."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor, nn

from depthlab.inference.spec import METADATA_KEY, ModelSpec
from depthlab.inference.wrapper import wrap
from depthlab.models.checkpoint import module_from_checkpoint
from depthlab.utils.errors import DepthlabError

ONNX_SUFFIXES = (".onnx",)
TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript")
TFLITE_SUFFIXES = (".tflite",)
EXTRA_FILE = f"{METADATA_KEY}.json"


class TorchRunner:
    """Eager PyTorch or a TorchScript module, without autograd."""

    def __init__(self, module: nn.Module, spec: ModelSpec, backend: str = "pytorch") -> None:
        self.module, self.spec, self.backend = module.eval(), spec, backend

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        with torch.inference_mode():
            outputs = self.module(*[batch[name] for name in self.spec.inputs])
        return dict(zip(self.spec.outputs, outputs, strict=True))


class OnnxRunner:
    """An exported ONNX model in onnxruntime on the CPU, with as many threads as torch uses."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise DepthlabError(
                f"{path} is not a readable ONNX model ({type(err).__name__}); re-run export.py"
            ) from None
        metadata = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if metadata is None:
            raise DepthlabError(f"{path} was not written by depthlab's export.py (no {METADATA_KEY} metadata)")
        self.spec = ModelSpec.from_json(metadata)

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        feed = {name: batch[name].float().numpy() for name in self.spec.inputs}
        outputs = self.session.run(list(self.spec.outputs), feed)
        return {name: torch.from_numpy(value) for name, value in zip(self.spec.outputs, outputs, strict=True)}


def checkpoint_runner(path: str | Path, trusted: Iterable[str] = ()) -> TorchRunner:
    """Eager runner from a depthlab checkpoint (the network and its config are rebuilt from it)."""
    module, _ = module_from_checkpoint(path, trusted)
    inference_net, spec = wrap(module.net, module.run_config or {})
    return TorchRunner(inference_net, spec)


def torchscript_runner(path: str | Path) -> TorchRunner:
    """Runner from a TorchScript file written by export.py (its spec travels as an extra file)."""
    extra = {EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as err:
        raise DepthlabError(f"{path} is not a readable TorchScript file ({type(err).__name__})") from None
    if not extra[EXTRA_FILE]:
        raise DepthlabError(f"{path} was not written by depthlab's export.py (no {EXTRA_FILE} inside)")
    return TorchRunner(module, ModelSpec.from_json(extra[EXTRA_FILE]), backend="torchscript")


def open_model(path: str | Path, threads: int | None = None, trusted: Iterable[str] = ()) -> TorchRunner | OnnxRunner:
    """A runner for a .ckpt (PyTorch eager), .onnx (onnxruntime), .pt (TorchScript) or .tflite (LiteRT) file."""
    path = Path(path)
    if not path.is_file():
        raise DepthlabError(
            f"ckpt_path={path} does not exist; pass a .ckpt from a run's checkpoints/ directory or a model "
            "written by export.py (.onnx, .pt, .tflite)"
        )
    if path.suffix in ONNX_SUFFIXES:
        return OnnxRunner(path, threads)
    if path.suffix in TORCHSCRIPT_SUFFIXES:
        return torchscript_runner(path)
    if path.suffix in TFLITE_SUFFIXES:
        from depthlab.inference.tflite_runner import TfliteRunner  # LiteRT is the optional tflite extra

        return TfliteRunner(path, threads)
    return checkpoint_runner(path, trusted)
