"""The browser harness itself: Chromium starts with our flags, WebGL renders, and broken pages are caught."""

from __future__ import annotations

import browser
import pytest

pytestmark = pytest.mark.browser

# A triangle with per-vertex colours on grey: a working WebGL draws a gradient, a blank canvas is one colour.
WEBGL_PAGE = """<!doctype html><html><body style="margin:0">
<canvas id="gl" width="128" height="128"></canvas>
<script>
const gl = document.getElementById("gl").getContext("webgl");
if (!gl) throw new Error("no WebGL context");
const shader = (type, src) => {
  const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s;
};
const prog = gl.createProgram();
gl.attachShader(prog, shader(gl.VERTEX_SHADER,
  "attribute vec2 p; attribute vec3 c; varying vec3 v; void main() { v = c; gl_Position = vec4(p, 0.0, 1.0); }"));
gl.attachShader(prog, shader(gl.FRAGMENT_SHADER,
  "precision mediump float; varying vec3 v; void main() { gl_FragColor = vec4(v, 1.0); }"));
gl.linkProgram(prog);
gl.useProgram(prog);
const buf = gl.createBuffer();
gl.bindBuffer(gl.ARRAY_BUFFER, buf);
gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-0.9,-0.9, 1,0,0,  0.9,-0.9, 0,1,0,  0,0.9, 0,0,1]), gl.STATIC_DRAW);
for (const [name, size, offset] of [["p", 2, 0], ["c", 3, 8]]) {
  const loc = gl.getAttribLocation(prog, name);
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 20, offset);
}
gl.clearColor(0.5, 0.5, 0.5, 1);
gl.clear(gl.COLOR_BUFFER_BIT);
gl.drawArrays(gl.TRIANGLES, 0, 3);
const info = gl.getExtension("WEBGL_debug_renderer_info");
window.renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
</script></body></html>"""

BROKEN_PAGE = """<!doctype html><html><body>
<img id="missing" src="missing.png" alt="missing">
<script>undefinedFunction();</script></body></html>"""


def test_webgl_canvas_renders_with_our_launch_flags(browser_page, static_server, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "webgl.html").write_text(WEBGL_PAGE)
    browser_page.goto(static_server(tmp_path / "site") + "/webgl.html")
    browser_page.assert_no_errors()
    pixels = browser_page.assert_canvas_rendered("#gl", min_colors=50)
    # the corner is the clear colour, the centre lies inside the interpolated triangle
    assert tuple(pixels[2, 2]) in {(127, 127, 127), (128, 128, 128)}, pixels[2, 2]
    assert tuple(pixels[64, 64]) not in {(127, 127, 127), (128, 128, 128)}, pixels[64, 64]
    renderer = browser_page.page.evaluate("window.renderer")
    print("WebGL renderer:", renderer, "screenshot:", browser_page.screenshot("webgl"))
    assert "SwiftShader" in renderer


def test_broken_page_is_reported_and_allow_list_filters(browser_page, static_server, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "broken.html").write_text(BROKEN_PAGE)
    browser_page.goto(static_server(tmp_path / "site") + "/broken.html")
    errors = browser_page.errors()
    assert any("pageerror" in e and "undefinedFunction" in e for e in errors), errors
    assert any("missing.png (404)" in e for e in errors), errors
    with pytest.raises(AssertionError, match="undefinedFunction"):
        browser_page.assert_no_errors()
    with pytest.raises(AssertionError, match="did not load"):
        browser_page.assert_image_loaded("#missing")
    browser_page.assert_no_errors(allow=["undefinedFunction", "missing.png", "404"])
    blank = tmp_path / "site" / "blank.html"
    blank.write_text('<canvas id="c" width="50" height="50"></canvas>')
    browser_page.goto(static_server(tmp_path / "site") + "/blank.html")
    with pytest.raises(AssertionError, match="1 colour"):
        browser_page.assert_canvas_rendered("#c")
    shot = browser_page.screenshot("blank")
    assert shot.parent == tmp_path / "shots" and shot.stat().st_size > 0


def test_missing_chromium_fails_and_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="run `make browser`"), browser.chromium_page(tmp_path):
        pass
