r"""Real-browser checks: Debian's Chromium driven by Playwright, a static HTTP server, pixel-level assertions.

Fixtures `browser_page` (a `BrowserPage`, one fresh Chromium per test) and `static_server` (serve a directory
over http://127.0.0.1) are made available to every test by tests/conftest.py. Mark browser tests with
`pytestmark = pytest.mark.browser` so that `make test-fast` skips them. A Gradio page, for instance:

    browser_page.goto(app_url)                       # the URL demo.launch(prevent_thread_lock=True) printed
    browser_page.page.set_input_files("input[type=file]", "photo.png")
    browser_page.assert_image_loaded("#depth img")   # waits for the output, checks it decoded and is not flat
    browser_page.assert_canvas_rendered("canvas")    # Model3D's babylon.js view (WebGL, see ARGS)
    browser_page.assert_no_errors(allow=[r"fonts\.(googleapis|gstatic)\.com"])  # offline: no web fonts
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
# Chromium 150 headless with --disable-gpu still renders WebGL through ANGLE on SwiftShader (software Vulkan);
# without --enable-unsafe-swiftshader it warns that this automatic fallback is deprecated (and may stop working).
# Playwright adds that flag by default too; it is listed here so the launch does not depend on Playwright's choice.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
TIMEOUT_MS = 20_000
# what Chromium asks for by itself, not the page: a static server without a favicon answers 404
BROWSER_OWN = (r"/favicon\.ico\b",)


@dataclass
class BrowserPage:
    """A Playwright page with everything the page complained about collected, and screenshots under `shots`."""

    page: Any  # playwright.sync_api.Page (imported lazily: Playwright costs 0.6 s to import)
    shots: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def __post_init__(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(_console_text(m)))
        self.page.on("pageerror", lambda e: self.page_errors.append(f"{e.name}: {e.message}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed_requests.append(f"{r.url} ({r.status})"))

    def goto(self, url: str, wait_until: str = "load") -> None:
        """Open `url` and fail on an HTTP error status of the page itself."""
        response = self.page.goto(url, wait_until=wait_until)
        assert response is None or response.ok, f"{url}: HTTP {response.status}"

    def errors(self, allow: Sequence[str] = ()) -> list[str]:
        """Console errors, uncaught exceptions and failed requests that match none of the `allow` regexes."""
        patterns = [re.compile(p) for p in (*allow, *BROWSER_OWN)]
        found = [f"console: {t}" for t in self.console_errors] + [f"pageerror: {t}" for t in self.page_errors]
        found += [f"request: {t}" for t in self.failed_requests]
        return [f for f in found if not any(p.search(f) for p in patterns)]

    def assert_no_errors(self, allow: Sequence[str] = ()) -> None:
        """Fail listing every error the page produced, except those matching an `allow` regex (e.g. offline fonts)."""
        errors = self.errors(allow)
        assert not errors, "the page reported errors:\n" + "\n".join(errors)

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """Save a PNG of the page as <tmp>/shots/<name>.png and return its path."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def pixels(self, selector: str) -> np.ndarray:
        """The element as rendered on screen, HxWx3 uint8 (scrolled into view first)."""
        png = self.page.locator(selector).screenshot(animations="disabled")
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def image_src(self, selector: str) -> str:
        """The URL an <img> actually loaded (currentSrc; a data: or blob: URL for Gradio outputs)."""
        return self.page.locator(selector).evaluate("img => img.currentSrc || img.src")

    def assert_image_loaded(self, selector: str) -> np.ndarray:
        """The <img> finished loading a decodable image (naturalWidth > 0) and shows more than one colour."""
        img = self.page.locator(selector)
        img.scroll_into_view_if_needed()
        self.page.wait_for_function("img => img.complete", arg=img.element_handle())
        size = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size[0] > 0 and size[1] > 0, f"{selector} ({self.image_src(selector)}) did not load: {size}"
        pixels = self.pixels(selector)
        assert pixels.std() > 0, f"{selector} ({self.image_src(selector)}) renders as one flat colour"
        return pixels

    def assert_canvas_rendered(self, selector: str, min_colors: int = 3) -> np.ndarray:
        """The <canvas> on screen has at least `min_colors` distinct colours (a blank one has one)."""
        pixels = self.pixels(selector)
        colors = len(np.unique(pixels.reshape(-1, 3), axis=0))
        assert colors >= min_colors, f"{selector} shows {colors} colour(s), expected >= {min_colors}"
        return pixels


def _console_text(message: Any) -> str:
    """A console message with where it came from (a 404 names no URL in its text)."""
    url = (message.location or {}).get("url")
    return f"{message.text} [{url}]" if url else message.text


def require_chromium() -> None:
    """Fail (not skip: CI installs it through `make`, a skip would hide a broken setup) without Chromium."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium chromium-driver)")


@contextlib.contextmanager
def chromium_page(tmp_dir: Path) -> Iterator[BrowserPage]:
    """A fresh headless Chromium (its profile under tmp_dir) with one page; closed on exit."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    shots = tmp_dir / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_dir / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield BrowserPage(page, shots)
        finally:
            context.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not test output."""


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on a free 127.0.0.1 port in a thread; yields the base URL (no trailing /)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[BrowserPage]:
    """One Chromium per test; screenshots go to <tmp_path>/shots."""
    with chromium_page(tmp_path) as page:
        yield page


@pytest.fixture
def static_server() -> Iterator[Any]:
    """`static_server(directory)` -> base URL of an HTTP server for that directory, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda directory: stack.enter_context(serve(Path(directory)))
