"""`python report.py <multirun dir>`: leaderboard.md and index.html (with plots) for a sweep, no W&B server needed."""

from __future__ import annotations

import argparse
import sys

from depthlab.report import write_report
from depthlab.utils.errors import DepthlabError, fail


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, write the report, print the Markdown leaderboard and where the page is."""
    parser = argparse.ArgumentParser(prog="report.py", description=__doc__)
    parser.add_argument("sweep_dir", help="a multirun directory, e.g. outputs/train/multiruns/<time>")
    parser.add_argument("--out", default=None, help="output directory (default: <sweep_dir>/report)")
    parser.add_argument("--metric", default=None, help="rank by this key (default: the sweep's optimized_metric)")
    args = parser.parse_args(argv)
    try:
        page = write_report(args.sweep_dir, args.out, args.metric)
    except DepthlabError as err:
        fail(str(err))
    sys.stdout.write((page.parent / "leaderboard.md").read_text())
    print(f"\nreport written to {page}")
    return 0
