"""inspect's page (index.html) in Chromium: offline, every RGB / depth / mask image drawn, the summary table filled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REAL
from test_inspect import run_inspect

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/browser_shots")


def test_inspect_page_of_the_real_kinect_pairs_renders(browser_page, static_server, tmp_path):
    overrides = ["data=folder", f"data.root={REAL / 'kinect'}", "data.rgb_dir=.", "data.depth_dir=."]
    overrides += ["data.depth_suffix=_depth", "data.intrinsics=[518.0,519.0,325.5,253.5]", "grid=2"]
    report = run_inspect(tmp_path, *overrides, output="page")
    base = static_server(tmp_path / "page")
    browser_page.goto(f"{base}/index.html")
    assert browser_page.requests and all(url.startswith(base) for url in browser_page.requests)
    images = browser_page.page.locator("img")
    shown = sum(min(2, split["inspected"]) for split in report["splits"].values())
    assert images.count() == 3 * shown  # RGB | depth | valid mask per shown sample (no foreground masks here)
    for i in range(images.count()):
        browser_page.assert_image_loaded(f"img >> nth={i}")
    assert report["warnings"] == []
    rows = browser_page.page.locator("table").first.locator("tr:has(td)")
    cells = {
        rows.nth(i).locator("td").first.inner_text(): rows.nth(i).locator("td").all_inner_texts() for i in range(3)
    }
    assert sorted(cells) == ["test", "train", "val"]  # the summary table: one row per split, its sample count
    assert all(cells[name][1] == str(report["splits"][name]["samples"]) for name in cells)
    shot = browser_page.screenshot("inspect_kinect")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / "inspect_kinect.png")
    print(f"inspect screenshot: {shot} (copied to {SHOTS / 'inspect_kinect.png'})")
    browser_page.assert_no_errors()
