"""`python demo.py ckpt_path=...`: the interactive depth demo in a browser (src/depthlab/cli/demo.py)."""

from depthlab.cli.demo import main

if __name__ == "__main__":
    main()
