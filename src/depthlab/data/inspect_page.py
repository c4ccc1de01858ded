"""The HTML page of `python -m depthlab.data.inspect`: warnings, the summary table, per split a sample grid.

Grid rows are RGB | colour-mapped depth | valid mask | foreground mask (when the data has masks), captioned with the
sample's name and depth stats. One colour range per split (its 1st to 99th percentile of valid depth, printed under
the grid), so a sample stored in other units than its neighbours stands out. PNGs sit beside index.html with
relative links; the page loads no scripts, fonts or styles from the network, so it opens offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from depthlab.viz import colorize

MAX_WIDTH = 320  # px of each PNG (KITTI frames are 1242 wide)
STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:2px 6px;font-size:13px;vertical-align:top}img{display:block;image-rendering:pixelated}"
    ".warn{color:#a40000}figure{margin:0}"
)


def save_png(path: Path, rgb: np.ndarray, nearest: bool) -> None:
    """An HWC [0, 1] image as an 8-bit PNG at most MAX_WIDTH wide."""
    height, width = rgb.shape[:2]
    if width > MAX_WIDTH:
        size = (MAX_WIDTH, max(1, round(height * MAX_WIDTH / width)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    codes = np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(codes, cv2.COLOR_RGB2BGR))


def columns(row: dict[str, Any], vmin: float, vmax: float, cmap: str) -> dict[str, np.ndarray]:
    """The images of one grid row: rgb, colour-mapped depth (invalid black), valid mask, foreground mask."""
    depth = torch.from_numpy(row["depth"])[None, None]
    valid = torch.from_numpy(row["valid"])[None, None]
    coloured = colorize(torch.where(valid, depth, 0), vmin, vmax, cmap, valid)[0].permute(1, 2, 0).numpy()
    images = {"rgb": row["rgb"], "depth": coloured, "valid": np.repeat(row["valid"][..., None], 3, -1)}
    if row["mask"] is not None:
        images["mask"] = np.repeat(row["mask"][..., None], 3, -1)
    return {key: np.asarray(value, dtype=np.float32) for key, value in images.items()}


def caption(row: dict[str, Any], unit: str) -> str:
    stats = row["stats"]
    if stats is None:
        return f"{row['name']} (#{row['index']}): no valid depth"
    return (
        f"{row['name']} (#{row['index']}): {stats['min']:.3g} / {stats['p50']:.3g} / {stats['max']:.3g} {unit} "
        f"(min / median / max), valid {100 * row['valid_fraction']:.1f} %"
    )


def grid_html(folder: Path, split: str, rows: list[dict], depth: dict | None, unit: str, cmap: str) -> tuple[str, int]:
    """The grid of one split's shown samples (PNGs written to `folder`) and how many images it holds."""
    if not rows:
        return "", 0
    vmin, vmax = (depth["p1"], depth["p99"]) if depth else (0.0, 1.0)
    vmax = vmax if vmax > vmin else vmin + 1e-6
    has_mask = any(row["mask"] is not None for row in rows)
    head = ["RGB", f"depth ({vmin:.3g} to {vmax:.3g} {unit})", "valid", *(["foreground mask"] if has_mask else [])]
    parts, count = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"], 0
    for number, row in enumerate(rows):
        cells = []
        for kind, image in columns(row, vmin, vmax, cmap).items():
            name = f"{split}_{number:03d}_{kind}.png"
            save_png(folder / name, image, nearest=kind != "rgb")
            cells.append(f'<td><img src="{name}" alt="{kind} of {html.escape(row["name"])}"></td>')
            count += 1
        if has_mask and row["mask"] is None:
            cells.append("<td>none</td>")
        text = html.escape(caption(row, unit))
        parts.append(f"<tr>{''.join(cells)}</tr><tr><td colspan={len(head)}>{text}</td></tr>")
    parts.append(
        f"</table><p>depth colours ({html.escape(cmap)}, invalid black): {vmin:.4g} {unit} to {vmax:.4g} {unit} "
        "(this split's 1st to 99th percentile of valid depth; values beyond are clipped)</p>"
    )
    return "\n".join(parts), count


def table_html(report: dict[str, Any]) -> str:
    """The summary numbers of every split as one table (the same numbers the terminal shows)."""
    head = ["split", "samples", "inspected", "sizes", "min", "p1", "p5", "p50", "p95", "p99", "max", "valid %"]
    head += ["<= min_depth", ">= max_depth", "intrinsics", "fx fy cx cy", "camera", "masks", "sparse"]
    lines = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for split, n in report["splits"].items():
        if n.get("empty"):
            lines.append(f"<tr><td>{split}</td><td colspan={len(head) - 1}>empty</td></tr>")
            continue
        d = n["depth"] or {}
        k = n["intrinsics"]
        cells = [split, n["samples"], n["inspected"], ", ".join(f"{s} ({c})" for s, c in n["sizes"].items())]
        cells += [f"{d[key]:.4g}" if key in d else "-" for key in ("min", "p1", "p5", "p50", "p95", "p99", "max")]
        cells += [f"{100 * n['valid_fraction']:.2f}", n["below_min_depth"], n["above_max_depth"]]
        cells += [f"{n['with_intrinsics']}/{n['inspected']}", " ".join(f"{v:.5g}" for v in k.values()) if k else "-"]
        fg = n["foreground_fraction"]
        cells += [n["camera"], f"{n['with_mask']} ({100 * fg:.1f} % fg)" if fg is not None else "none", n["sparse"]]
        lines.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "\n".join(lines) + "</table>"


def write_page(folder: Path, page: str, report: dict[str, Any], rows: dict[str, list], cmap: str) -> dict:
    """Write the PNGs and `page` into `folder`; returns {split: images shown}."""
    unit = "units" if report["relative"] else "m"
    title = f"depthlab inspect: data={report['data']}"
    about = (
        f"{report['target']}, root {report['root']}, depth_scale {report['depth_scale']}, data.min_depth "
        f"{report['min_depth']:g}, data.max_depth {report['max_depth']:g} {unit}, relative {report['relative']}"
    )
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(about)}</p>"]
    warnings = report["warnings"]
    body.append(
        "<h2>Warnings</h2>"
        + (
            "<ul>" + "".join(f'<li class="warn">{html.escape(w)}</li>' for w in warnings) + "</ul>"
            if warnings
            else "<p>none</p>"
        )
    )
    body.append("<h2>Summary</h2>" + table_html(report))
    images = {}
    for split, n in report["splits"].items():
        block, images[split] = grid_html(folder, split, rows[split], n.get("depth"), unit, cmap)
        if block:
            body.append(f"<h2>{split}</h2>{block}")
    document = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    (folder / page).write_text(document)
    return images
