"""Benchmarks that print numbers and ratios: `python benchmark.py precision|loaders|stream|inference|archs [opts]`."""

import sys

from depthlab.benchmarks import archs, inference, loaders, precision, stream

BENCHMARKS = {
    "precision": precision.main,
    "loaders": loaders.main,
    "stream": stream.main,
    "inference": inference.main,
    "archs": archs.main,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: python benchmark.py {{{','.join(BENCHMARKS)}}} [options]")
    BENCHMARKS[sys.argv[1]](sys.argv[2:])
