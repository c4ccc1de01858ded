"""The table export.py prints for a device export: size before / after, parity, val metrics of both models."""

from __future__ import annotations

from depthlab.inference.mobile import METRICS, Report


def _value(scores: dict[str, float], key: str) -> str:
    return f"{scores[key]:.4f}" if key in scores else "n/a"


def report_lines(report: Report, bound: float | None) -> list[str]:
    """Header and row of the table, and what the parity line means (enforced or only reported)."""
    columns = ["format", "quantize", "MB before", "MB after", "max abs diff"]
    columns += [f"{m} {who}" for m in METRICS for who in ("pytorch", "exported")]
    values = [report.fmt, report.quantize, f"{report.size_before / 1e6:.1f}", f"{report.size_after / 1e6:.1f}"]
    values.append(f"{report.max_abs_diff:.3e}")
    values += [_value(scores, m) for m in METRICS for scores in (report.pytorch, report.exported)]
    widths = [max(len(c), len(v)) for c, v in zip(columns, values, strict=True)]
    row = " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
    rule = "parity enforced: tolerance " + f"{bound:g}" if bound is not None else "parity reported, not enforced (int8)"
    return [" | ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)), row, rule]


def print_report(report: Report, bound: float | None) -> None:
    """Print the table (val metrics: the checkpoint's val split, at the export size)."""
    for line in report_lines(report, bound):
        print(line)
