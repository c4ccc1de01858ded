"""Predict depth for new images: `python predict.py ckpt_path=... input=<image, folder or glob> output=<dir>`."""

from depthlab.cli.app import run
from depthlab.cli.predict import predict_cli

if __name__ == "__main__":
    run("predict", predict_cli)
