"""Sweep reports: a leaderboard (Markdown + HTML with plots) from a multirun directory, no W&B server needed."""

from depthlab.report.collect import Job, collect_jobs
from depthlab.report.render import write_report

__all__ = ["Job", "collect_jobs", "write_report"]
