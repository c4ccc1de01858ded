"""demo.py in a real browser: upload a real photo, read the depth back, see the 3D view, and a bad upload's message."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.browser import BrowserPage
from tests.conftest import REAL, REPO, TINY, cli_env
from tests.refusals import call

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NYU = REAL / "nyu_sync" / "rgb_00000.jpg"
TUM = REAL / "tum" / "fr2_desk_1.png"
SHOTS = Path("/tmp/browser_shots")
# babylon.js tries WebGPU first; a machine without a GPU adapter logs this error, then it renders with WebGL
ALLOW = [r"A fatal error occurred during WebGPU creation/initialization", r"gradio_api/queue/data.*ERR_ABORTED"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`python demo.py ckpt_path=...` serving on a free port (the checkpoint is untrained: max_epochs=0)."""
    tmp = tmp_path_factory.mktemp("demo")
    args = [*TINY, "trainer.max_epochs=0", "logger=csv", "test=false", "callbacks.image_panels=null"]
    assert call("train", [*args, f"hydra.run.dir={tmp / 'train'}"]).code == 0
    port, run = free_port(), tmp / "run"
    command = [sys.executable, str(REPO / "demo.py"), f"ckpt_path={tmp / 'train/checkpoints/last.ckpt'}"]
    command += [f"demo.port={port}", f"hydra.run.dir={run}", f"demo.examples=[{NYU},{TUM}]"]
    server = subprocess.Popen(command, cwd=REPO, env=cli_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        lines.append(server.stdout.readline().decode())
        if "Running on local URL" in lines[-1]:
            break
    assert "Running on local URL" in lines[-1], "".join(lines)[-3000:]
    assert f"http://127.0.0.1:{port}" in lines[-1]
    yield f"http://127.0.0.1:{port}/", run
    server.terminate()
    server.wait(30)


def keep(shot: Path, name: str) -> Path:
    """A copy of a screenshot where the closing note can point at it."""
    SHOTS.mkdir(exist_ok=True)
    return Path(shutil.copy(shot, SHOTS / name))


def drawn(browser_page: BrowserPage, selector: str, timeout: float = 90.0) -> np.ndarray:
    """The canvas once babylon.js has loaded the .glb and drawn it (a busy machine takes seconds), as pixels."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pixels = browser_page.pixels(selector)
        if pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 50:
            break
        time.sleep(1.0)
    return browser_page.assert_canvas_rendered(selector, min_colors=50)


def estimate(browser_page: BrowserPage, upload: Path | None) -> None:
    """Upload a file (or keep the example chosen) and press the button."""
    if upload is not None:
        browser_page.page.set_input_files("#input input[type=file]", str(upload))
        browser_page.page.wait_for_selector("#input img")
    browser_page.page.click("#run")


def test_a_real_photo_gives_depth_normals_3d_and_downloads(browser_page, demo_server):
    url, run = demo_server
    browser_page.goto(url)
    estimate(browser_page, NYU)
    browser_page.page.wait_for_selector("#summary :text('Metric depth in metres')", timeout=120_000)
    folder = max((run / "requests").glob("request*"), key=lambda p: p.stat().st_mtime)
    depth = np.load(folder / "rgb_00000_depth.npy")
    valid = (depth > 1e-3) & (depth < 10.0)
    low, median, high = np.percentile(depth[valid], [0, 50, 100])
    summary = browser_page.page.inner_text("#summary")
    assert f"{low:.2f} – {high:.2f} m, median {median:.2f} m" in summary
    assert re.search(r"fx [0-9.]+, fy [0-9.]+, cx 319\.5, cy 239\.5 px", summary)
    # the slider shows the photo and the depth colour map; the depth image read back is the file predict wrote
    images = browser_page.page.locator("#depth img")
    assert images.count() == 2
    shown = browser_page.page.request.get(browser_page.image_src("#depth img >> nth=1")).body()
    assert shown == (folder / "rgb_00000_depth_color.png").read_bytes()
    browser_page.assert_image_loaded("#depth img >> nth=1")
    browser_page.assert_image_loaded("#normals img")
    assert drawn(browser_page, "#view canvas").std() > 10  # the coloured mesh, drawn in WebGL
    links = browser_page.page.locator("#files a[href]").evaluate_all("links => links.map(a => a.href)")
    names = ["rgb_00000_depth.png", "rgb_00000_depth.npy", "rgb_00000_points.ply", "rgb_00000_mesh.glb"]
    assert sorted(link.rsplit("/", 1)[-1] for link in links) == sorted(names)
    npy = next(link for link in links if link.endswith(".npy"))  # the download is the metres predict wrote
    assert browser_page.page.request.get(npy).body() == (folder / "rgb_00000_depth.npy").read_bytes()
    shot = browser_page.screenshot("demo_nyu")
    print(f"screenshot: {shot} (copy: {keep(shot, 'demo_nyu.png')})")
    browser_page.assert_no_errors(allow=ALLOW)


def test_examples_and_bad_uploads_in_the_page(browser_page, demo_server, tmp_path):
    url, _ = demo_server
    browser_page.goto(url)
    browser_page.page.locator("button.gallery-item, .gallery button, [data-testid='examples'] button").nth(1).click()
    estimate(browser_page, None)
    browser_page.page.wait_for_selector("#summary :text('Image 640x480')", timeout=120_000)
    fake = tmp_path / "holiday.png"
    fake.write_bytes(b"these are words, not pixels")
    browser_page.page.set_input_files("#input input[type=file]", str(fake))
    browser_page.page.click("#run")
    message = browser_page.page.get_by_text("holiday.png is not an image PIL can read")
    message.first.wait_for(timeout=60_000)
    shot = browser_page.screenshot("demo_bad_upload")
    print(f"screenshot: {shot} (copy: {keep(shot, 'demo_bad_upload.png')})")
    browser_page.assert_no_errors(allow=[*ALLOW, r"holiday\.png", r"/gradio_api/file="])
