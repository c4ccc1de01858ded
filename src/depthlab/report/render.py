"""Write leaderboard.md and index.html (with curves.png and bars.png beside it) for a sweep."""

from __future__ import annotations

import html
from pathlib import Path

import yaml

from depthlab.metrics.direction import metric_direction
from depthlab.report import plots
from depthlab.report.collect import collect_jobs
from depthlab.report.table import columns, label, markdown, rank, ranking_metric, rows, split_overrides

STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:14px}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),td:nth-child(3){text-align:left}"
    "tr.best{background:#e6f4ea}tr.failed{color:#a00}img{max-width:100%;margin:1em 0}code{background:#f4f4f4}"
)


def write_report(sweep_dir: str | Path, out_dir: str | Path | None = None, metric: str | None = None) -> Path:
    """Collect the sweep's jobs, rank them and write the report files; returns the HTML page's path."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_jobs(sweep_dir)
    metric = ranking_metric(jobs, metric)
    out = Path(out_dir) if out_dir else sweep_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    header, body = rows(jobs, metric)
    table = markdown(header, body)
    varied, shared = split_overrides(jobs)
    ranked = rank(jobs, metric)
    labels = [label(j, varied) for j in ranked]
    curves = plots.curves_figure(ranked, labels, out / "curves.png")
    bars = plots.bars_figure(ranked, labels, columns(jobs, metric), out / "bars.png")
    summary = _summary(sweep_dir, jobs, metric, shared)
    (out / "leaderboard.md").write_text(f"# Sweep {sweep_dir.name}\n\n{summary}\n\n{table}")
    page = out / "index.html"
    page.write_text(_html(sweep_dir, summary, header, body, [p for p in (curves, bars) if p]))
    return page


def _summary(sweep_dir: Path, jobs: list, metric: str, shared: list[str]) -> str:
    done = sum(j.ok for j in jobs)
    lines = [
        f"{len(jobs)} jobs ({done} finished, {len(jobs) - done} failed), ranked by `{metric}` "
        f"({metric_direction(metric)}d).",
    ]
    if shared:
        lines.append("Shared overrides: `" + " ".join(shared) + "`.")
    optuna = sweep_dir / "optimization_results.yaml"
    if optuna.is_file():
        result = yaml.safe_load(optuna.read_text()) or {}
        params = " ".join(f"{k}={v}" for k, v in (result.get("best_params") or {}).items())
        lines.append(f"Optuna best value {result.get('best_value')} with `{params}`.")
    return "\n".join(lines)


def _html(sweep_dir: Path, summary: str, header: list[str], body: list[list[str]], images: list[Path]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = []
    for i, row in enumerate(body):
        css = "failed" if row[-1] != "ok" else ("best" if i == 0 else "")
        trs.append(f'<tr class="{css}">' + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    paragraphs = "".join(f"<p>{_code(html.escape(line))}</p>" for line in summary.splitlines())
    figures = "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in images)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {html.escape(sweep_dir.name)}</title>"
        f"<style>{STYLE}</style></head><body><h1>Sweep {html.escape(sweep_dir.name)}</h1>"
        f"<p><code>{html.escape(str(sweep_dir.resolve()))}</code></p>{paragraphs}"
        f"<h2>Leaderboard</h2><table><tr>{head}</tr>{''.join(trs)}</table>"
        f"<h2>Validation curves and metrics per job</h2>{figures}</body></html>\n"
    )


def _code(text: str) -> str:
    """`x` -> <code>x</code> (the summary's Markdown backticks)."""
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
