"""Benchmarks that print numbers and ratios: `python benchmark.py {precision,archs} [--height 128 ...]`."""

import sys

from depthlab.benchmarks import archs, precision

BENCHMARKS = {"precision": precision.main, "archs": archs.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: python benchmark.py {{{','.join(BENCHMARKS)}}} [options]")
    BENCHMARKS[sys.argv[1]](sys.argv[2:])
