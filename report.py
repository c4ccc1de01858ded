"""Sweep leaderboard: `python report.py outputs/train/multiruns/<time>` (see README)."""

import sys

from depthlab.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
