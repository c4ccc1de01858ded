"""Evaluate a checkpoint: `python eval.py ckpt_path=outputs/.../checkpoints/last.ckpt split=test`."""

from depthlab.cli.evaluate import main

if __name__ == "__main__":
    main()
