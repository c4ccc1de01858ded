"""Train a depth model: `python train.py model=unet loss=ssim_l1_edge` (see README)."""

from depthlab.cli.app import run
from depthlab.cli.train import train

if __name__ == "__main__":
    run("train", train)
