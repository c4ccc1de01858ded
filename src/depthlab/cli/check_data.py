"""`depthlab-check-data data=<name> data.root=<dir>`: decode every file of every split, list the bad ones, exit 2."""

from __future__ import annotations

import sys

from depthlab.cli.app import run
from depthlab.data.check import check_data

QUIET = ("hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout")  # a check writes no run dir


def main() -> None:
    """The train config's data group, checked under Hydra without a run directory or log file."""
    given = {arg.split("=", 1)[0] for arg in sys.argv[1:]}
    sys.argv += [override for override in QUIET if override.split("=", 1)[0] not in given]
    run("train", check_data, lock=False)


if __name__ == "__main__":
    main()
