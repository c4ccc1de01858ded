"""Export a checkpoint: `python export.py ckpt_path=... format=onnx|torchscript` (parity-checked against PyTorch)."""

from depthlab.cli.export import main

if __name__ == "__main__":
    main()
