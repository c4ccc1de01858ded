"""Benchmarks that print numbers and ratios: `python benchmark.py precision|inference [--height 128 ...]`."""

import sys

from depthlab.benchmarks import inference, precision

BENCHMARKS = {"precision": precision.main, "inference": inference.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: python benchmark.py {{{','.join(BENCHMARKS)}}} [options]")
    BENCHMARKS[sys.argv[1]](sys.argv[2:])
