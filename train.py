"""Train a depth model: `python train.py model=unet loss=ssim_l1_edge` (see README)."""

from depthlab.cli.train import main

if __name__ == "__main__":
    main()
