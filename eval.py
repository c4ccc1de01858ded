"""Evaluate a checkpoint: `python eval.py ckpt_path=outputs/.../checkpoints/last.ckpt split=test`."""

from depthlab.cli.app import run
from depthlab.cli.evaluate import evaluate

if __name__ == "__main__":
    run("eval", evaluate)
