"""Predict depth for new images: `python predict.py ckpt_path=... input=<image, folder or glob> output=<dir>`."""

from depthlab.cli.predict import main

if __name__ == "__main__":
    main()
