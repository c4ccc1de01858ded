"""`python demo.py ckpt_path=... | model=...`: open the model once, then serve the Gradio page on localhost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from depthlab.cli.app import run
from depthlab.cli.predict import _plain
from depthlab.inference.predictor import PredictOptions, network_size
from depthlab.inference.runners import TorchRunner, open_model
from depthlab.inference.wrapper import wrap
from depthlab.models.build import net_run_config
from depthlab.utils.errors import DepthlabError

CHOOSING_MODEL = ("model=", "model.", "experiment=", "+model.")


def configured_model(cfg: DictConfig) -> TorchRunner:
    """The network of model= (and data=) as train.py would build it, with whatever pretrained weights it names."""
    net = instantiate(cfg.model)  # no loss or optimizer: the demo only predicts
    inference_net, spec = wrap(net, net_run_config(cfg, net))
    return TorchRunner(inference_net, spec)


def open_demo_model(cfg: DictConfig, overrides: list[str]) -> tuple[Any, str]:
    """The runner and a line naming it: ckpt_path= (any model file), or a model= chosen on the command line."""
    threads, trusted = cfg.get("threads"), cfg.get("trusted_targets") or ()
    if cfg.get("ckpt_path"):
        runner = open_model(cfg.ckpt_path, threads=threads, trusted=trusted)
        return runner, f"`{Path(cfg.ckpt_path).name}` ({runner.backend})"
    if not any(o.startswith(CHOOSING_MODEL) for o in overrides):
        raise DepthlabError(
            "demo.py needs a model: ckpt_path=<.ckpt, .onnx, .pt or .tflite>, or model=<option> with its pretrained "
            "weights, e.g. model=depth_anything_v2 model.pretrained=<save_pretrained directory>"
        )
    runner = configured_model(cfg)
    weights = runner.spec.provenance_line() or "untrained weights (no checkpoint, no pretrained weights named)"
    return runner, f"`model={HydraConfig.get().runtime.choices.get('model')}`: {weights}"


def launch_options(cfg: DictConfig, output: Path) -> dict[str, Any]:
    """Gradio's launch() keys: loopback unless demo.host says otherwise, no public link unless demo.share=true."""
    demo = cfg.demo
    if not isinstance(demo.share, bool):
        raise DepthlabError(f"demo.share={demo.share} must be true or false")
    port = demo.get("port")
    if port is not None and not 0 < int(port) < 65536:
        raise DepthlabError(f"demo.port={port} must be a TCP port (1-65535), or null for the first free one")
    return {
        "server_name": str(demo.host),
        "server_port": None if port is None else int(port),
        "share": demo.share,
        "max_file_size": f"{int(demo.max_upload_mb)}mb",
        "allowed_paths": [str(output), *(str(Path(p).resolve().parent) for p in demo.examples or ())],
        "prevent_thread_lock": not demo.block,
        "show_error": True,
        "ssr_mode": False,
    }


def demo_cli(cfg: DictConfig) -> Any:
    """Open the model, build the page around one DemoSession, and serve it."""
    from depthlab.demo.app import THEME, build  # gradio is imported only by the demo
    from depthlab.demo.session import INTRINSICS, DemoSession, Limits

    intrinsics = _plain(cfg.intrinsics)
    if intrinsics not in INTRINSICS[:2] and not (isinstance(intrinsics, list) and len(intrinsics) == 4):
        raise DepthlabError(f"intrinsics={intrinsics} must be dataset, fov or [fx,fy,cx,cy] (the page's first choice)")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    output = Path(cfg.paths.output_dir)
    options = launch_options(cfg, output)
    runner, name = open_demo_model(cfg, list(HydraConfig.get().overrides.task))
    spec = runner.spec
    predict_options = PredictOptions(
        resolution=_plain(cfg.resolution),
        batch_size=1,
        flip_tta=bool(cfg.flip_tta),
        depth_png_scale=float(cfg.depth_png_scale),
        cmap=str(cfg.cmap),
    )
    if spec.height and spec.width:
        network_size(spec, predict_options.resolution, (spec.height, spec.width))  # a bad resolution= fails here
    limits = Limits(int(cfg.demo.max_pixels), int(cfg.demo.mesh_max_vertices), float(cfg.demo.mesh_edge_ratio))
    session = DemoSession(runner, spec, predict_options, output / "requests", str(cfg.camera), limits)
    kind = "relative depth (no metric scale)" if spec.disparity else "metric depth in metres"
    page = build(session, f"Model: {name}; predicts {kind}.", float(cfg.fov_deg), intrinsics, _plain(cfg.demo.examples))
    print(f"demo: {name}; requests are written to {output / 'requests'}")
    page.launch(theme=THEME, quiet=False, **options)
    return page


def main() -> None:
    """`python demo.py ...`: the Hydra entry point (the run directory, where requests are written, is claimed first)."""
    run("demo", demo_cli)
