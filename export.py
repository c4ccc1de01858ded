"""Export a checkpoint: `python export.py ckpt_path=... format=onnx|torchscript` (parity-checked against PyTorch)."""

from depthlab.cli.app import run
from depthlab.cli.export import export_cli

if __name__ == "__main__":
    run("export", export_cli)
