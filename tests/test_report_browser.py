"""The sweep report (report.py's index.html) as Chromium shows it: no errors, every plot drawn, one row per job."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_sweep_parts import CSV
from test_sweep_parts import _job as fake_job

from depthlab.report import write_report

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/browser_shots")


def test_report_page_renders_its_tables_and_plots(browser_page, static_server, tmp_path):
    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, ["loss=l1", "seed=1"], {"val/rmse": 1.0, "val/delta1": 0.6, "test/rmse": 1.1}, CSV)
    fake_job(sweep, 1, ["loss=ssim", "seed=1"], None)
    better = CSV.replace("2.0,0.3", "1.8,0.4").replace("1.5,0.5", "1.2,0.7")
    fake_job(sweep, 2, ["loss=edge", "seed=1"], {"val/rmse": 0.9, "val/delta1": 0.8, "test/rmse": 0.95}, better)
    page = write_report(sweep, tmp_path / "report")
    base = static_server(page.parent)
    browser_page.goto(f"{base}/{page.name}")
    browser_page.assert_no_errors()
    # self-contained: it opens offline, from the report directory alone
    assert browser_page.requests and all(url.startswith(base) for url in browser_page.requests), browser_page.requests

    images = browser_page.page.locator("img")
    assert images.count() == 2  # curves.png and bars.png
    for i in range(images.count()):
        browser_page.assert_image_loaded(f"img >> nth={i}")

    headers = browser_page.page.locator("table th").all_inner_texts()
    assert headers == ["rank", "job", "overrides", "val/delta1", "val/rmse", "test/rmse", "status"]
    rows = browser_page.page.locator("table tr:has(td)")
    assert rows.count() == 3  # one per job, the failed one included
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert [(r[0], r[1], r[2], r[3], r[-1]) for r in cells] == [
        ("1", "2", "loss=edge", "0.8000", "ok"),
        ("2", "0", "loss=l1", "0.6000", "ok"),
        ("-", "1", "loss=ssim", "-", "failed"),
    ]
    # the best job is highlighted and the failed one coloured, as the stylesheet says
    best = rows.nth(0).evaluate("tr => getComputedStyle(tr).backgroundColor")
    failed = rows.nth(2).evaluate("tr => getComputedStyle(tr).color")
    assert best == "rgb(230, 244, 234)" and failed == "rgb(170, 0, 0)", (best, failed)

    shot = browser_page.screenshot("report")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / "report.png")
    print(f"report screenshot: {shot} (copied to {SHOTS / 'report.png'})")
