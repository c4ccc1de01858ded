"""The Gradio page: image in; depth (slider against the photo), normals, a 3D view, the numbers and the files out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline cluster node

import gradio as gr  # noqa: E402

from depthlab.demo.session import INTRINSICS, DemoSession, Result  # noqa: E402
from depthlab.utils.errors import DepthlabError  # noqa: E402

# system fonts only: the default theme's Google Fonts would be fetched from the internet by every browser
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def existing(paths: Sequence[str | Path]) -> list[str]:
    """The example photos that are on this machine (demo.examples), as absolute paths."""
    return [str(Path(p).resolve()) for p in paths if Path(p).is_file()]


def upload_path(payload: Any) -> str | None:
    """The server-side path of an unprocessed Gradio file payload (a dict, a FileData or a plain path)."""
    if payload is None or isinstance(payload, str | Path):
        return payload
    return payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)


def outputs(result: Result) -> tuple[Any, ...]:
    """The values of the page's output components, in the order build() wires them."""
    color = str(result.depth_color)
    return (
        (str(result.image), color),
        result.summary,
        str(result.normals) if result.normals else None,
        str(result.mask) if result.mask else None,
        str(result.mesh) if result.mesh else None,
        [str(p) for p in result.downloads],
    )


def handler(session: DemoSession):
    """The click handler: a bad upload or bad intrinsics become a message in the page (gr.Error), not a crash."""

    def estimate(image, background, source, fov_deg, fx, fy, cx, cy):
        try:
            result = session.run(upload_path(image), source, fov_deg, (fx, fy, cx, cy), upload_path(background))
        except DepthlabError as err:
            raise gr.Error(str(err), print_exception=False) from None
        return outputs(result)

    return estimate


def build(
    session: DemoSession,
    title: str,
    fov_deg: float = 60.0,
    intrinsics: str | Sequence[float] = "dataset",
    examples: Sequence[str | Path] = (),
) -> gr.Blocks:
    """The page; the session holds the model, so every browser tab shares one copy."""
    spec = session.spec
    typed = [None] * 4 if isinstance(intrinsics, str) else [float(v) for v in intrinsics]
    with gr.Blocks(title="depthlab demo") as page:
        gr.Markdown(f"# depthlab depth demo\n{title}")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="filepath", label="Image", sources=["upload", "clipboard"], elem_id="input")
                background = gr.Image(
                    type="filepath", label="Background (two-input model)", visible="background" in spec.inputs
                )
                with gr.Accordion("Camera intrinsics (normals and 3D)", open=False, visible=not spec.disparity):
                    source = gr.Radio(
                        list(INTRINSICS),
                        value=intrinsics if isinstance(intrinsics, str) else INTRINSICS[2],
                        label="from",
                        elem_id="intrinsics",
                    )
                    fov = gr.Slider(20, 150, value=fov_deg, step=1, label="horizontal field of view (deg), for fov")
                    with gr.Row():
                        names = ("fx", "fy", "cx", "cy")
                        fx, fy, cx, cy = (gr.Number(label=k, value=v) for k, v in zip(names, typed, strict=True))
                run = gr.Button("Estimate depth", variant="primary", elem_id="run")
                if existing(examples):
                    gr.Examples(existing(examples), inputs=image, label="Examples (real NYU, KITTI, TUM frames)")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="Photo | depth (drag the slider)", type="filepath", elem_id="depth")
                summary = gr.Markdown(elem_id="summary")
        with gr.Row():
            normals = gr.Image(label="Surface normals", type="filepath", visible=not spec.disparity, elem_id="normals")
            mask = gr.Image(label="Mask", type="filepath", visible="mask_logits" in spec.outputs)
            view = gr.Model3D(
                label="3D (drag to rotate, scroll to zoom)", visible=not spec.disparity, elem_id="view", height=420
            )
        files = gr.File(label="Downloads: 16-bit PNG, .npy, .ply, .glb", file_count="multiple", elem_id="files")
        run.click(
            handler(session),
            inputs=[image, background, source, fov, fx, fy, cx, cy],
            outputs=[slider, summary, normals, mask, view, files],
            preprocess=False,  # the session checks uploads itself, so a bad file gets its own message
        )
    return page
