"""One demo request: an uploaded image through predict.py's predictor, plus the 3D mesh and the numbers shown."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from depthlab.data.pixels import read_rgb
from depthlab.inference import io
from depthlab.inference.camera import Camera
from depthlab.inference.mesh import depth_mesh, write_glb
from depthlab.inference.predictor import RELATIVE_NOTE, PredictOptions, Runner, predict, valid_depth
from depthlab.inference.spec import ModelSpec
from depthlab.utils.errors import DepthlabError

# the intrinsics choices of the page: the checkpoint's dataset, a field-of-view guess, or typed values
INTRINSICS = ("dataset", "fov", "fx fy cx cy")


@dataclass(frozen=True)
class Limits:
    """What one request may cost: input pixels, and the 3D view's vertices and depth-edge cut."""

    max_pixels: int = 40_000_000
    mesh_max_vertices: int = 120_000
    mesh_edge_ratio: float = 0.1


@dataclass(frozen=True)
class Result:
    """Everything the page shows for one image (paths inside the request's folder)."""

    image: Path
    depth_color: Path
    depth: np.ndarray
    normals: Path | None
    mask: Path | None
    mesh: Path | None
    downloads: list[Path]
    summary: str


class DemoSession:
    """The model, its spec and the predict options, shared by every request; each request writes its own folder."""

    def __init__(
        self,
        runner: Runner,
        spec: ModelSpec,
        options: PredictOptions,
        workdir: Path,
        camera: str = "auto",
        limits: Limits = Limits(),
    ) -> None:
        metric = not spec.disparity
        self.runner, self.spec, self.workdir, self.camera_name, self.limits = runner, spec, workdir, camera, limits
        self.options = replace(options, normals=metric, point_cloud=metric, overwrite=False)
        self._dataset_camera: Camera | None = None
        self._ids, self._lock = itertools.count(), threading.Lock()

    def camera(self, source: str, fov_deg: float, fxfycxcy: Sequence[float | None] = ()) -> Camera | None:
        """The camera for normals and 3D (None for relative models); the dataset's is built once and reused."""
        if self.spec.disparity:
            return None
        if source == "dataset":
            if self._dataset_camera is None:
                self._dataset_camera = Camera("dataset", fov_deg, self.spec.config, self.camera_name)
            return self._dataset_camera
        if source == "fov":
            return Camera("fov", fov_deg, self.spec.config, self.camera_name)
        if source == INTRINSICS[2]:
            values = [v for v in fxfycxcy if v is not None]
            if len(values) != 4 or not all(float(v) > 0 for v in values):
                raise DepthlabError(f"intrinsics fx, fy, cx, cy must be 4 positive numbers in pixels, got {fxfycxcy}")
            return Camera([float(v) for v in values], fov_deg, self.spec.config, self.camera_name)
        raise DepthlabError(f"intrinsics source {source!r} is not one of {', '.join(INTRINSICS)}")

    def check_upload(self, image: str | Path | None) -> Path:
        """An uploaded file that is an image of a size the demo takes, or one line saying what is wrong."""
        if image in (None, ""):
            raise DepthlabError("no image given: upload a photo or pick one of the examples")
        path = Path(image)
        if not path.is_file():
            raise DepthlabError(f"the upload {path.name} did not arrive; upload it again")
        try:
            with Image.open(path) as opened:
                width, height = opened.size
        except Image.DecompressionBombError:
            raise DepthlabError(f"{path.name} is too large to decode safely; downscale it") from None
        except Exception:  # noqa: BLE001 - PIL raises many kinds for a file that is no image
            raise DepthlabError(
                f"{path.name} is not an image PIL can read; upload a PNG, JPEG, BMP, TIFF or WebP photo"
            ) from None
        if height * width > self.limits.max_pixels:
            raise DepthlabError(
                f"{path.name} is {width}x{height} ({height * width / 1e6:.3g} Mpx); the demo takes up to "
                f"{self.limits.max_pixels / 1e6:.3g} Mpx (demo.max_pixels): downscale it"
            )
        if path.suffix.lower() not in io.IMAGE_SUFFIXES:  # a readable image saved under another name
            named = path.with_name(f"{path.stem}.png")
            Image.open(path).convert("RGB").save(named)
            return named
        return path

    def run(
        self,
        image: str | Path | None,
        source: str = "dataset",
        fov_deg: float = 60.0,
        fxfycxcy: Sequence[float | None] = (),
        background: str | Path | None = None,
    ) -> Result:
        """Predict one image with predict.py's code path, then build the mesh and the summary."""
        camera = self.camera(source, fov_deg, fxfycxcy)
        path = self.check_upload(image)
        bg = self.check_upload(background) if "background" in self.spec.inputs else None
        with self._lock:
            folder = self.workdir / f"request{next(self._ids):05d}"
        files = predict(self.runner, self.spec, [path], folder, self.options, camera, bg)[0]
        depth = np.load(files["disp_npy" if self.spec.disparity else "npy"])
        mesh, K = None, None
        if camera is not None:
            K = camera(*depth.shape)
            tensor = torch.from_numpy(depth)
            rgb = io.to_uint8(read_rgb(path))
            built = depth_mesh(
                tensor, K, valid_depth(tensor, self.spec), rgb, camera.model,
                self.limits.mesh_max_vertices, self.limits.mesh_edge_ratio,
            )  # fmt: skip
            mesh = write_glb(folder / f"{path.stem}_mesh.glb", built)
        downloads = [files[k] for k in ("png16", "npy", "ply", "disp_npy", "disp_color") if k in files]
        return Result(
            image=path,
            depth_color=files["disp_color" if self.spec.disparity else "color"],
            depth=depth,
            normals=files.get("normals"),
            mask=files.get("mask"),
            mesh=mesh,
            downloads=downloads + ([mesh] if mesh else []),
            summary=self.describe(depth, camera, K),
        )

    def describe(self, depth: np.ndarray, camera: Camera | None, K: torch.Tensor | None) -> str:
        """The range and units (or 'relative'), the intrinsics and where they came from, as page markdown."""
        lines = []
        if self.spec.disparity:
            lines.append(
                f"**Relative depth** (no metric scale): {RELATIVE_NOTE}. Normals, the 3D view and the 16-bit PNG "
                "need metric depth, so this model shows none."
            )
        else:
            valid = valid_depth(torch.from_numpy(depth), self.spec).numpy()
            values = depth[valid] if valid.any() else np.array([np.nan])
            low, median, high, p2, p98 = np.percentile(values, [0, 50, 100, 2, 98])
            lines.append(
                f"**Metric depth in metres**: {low:.2f} – {high:.2f} m, median {median:.2f} m, over "
                f"{valid.mean():.0%} of the pixels (colours: {p2:.2f} m bright to {p98:.2f} m dark)."
            )
            lines.append(
                f"16-bit PNG: value / {self.options.depth_png_scale:g} = metres; .npy: float32 metres; "
                ".ply / .glb: metres, camera frame."
            )
        if camera is not None and camera.model == "equirect":
            lines.append(f"Camera: {camera.source}.")
        elif K is not None:
            fx, fy, cx, cy = (float(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
            lines.append(f"Intrinsics: fx {fx:.1f}, fy {fy:.1f}, cx {cx:.1f}, cy {cy:.1f} px ({camera.source}).")
        height, width = depth.shape
        lines.append(f"Image {width}x{height}; {getattr(self.runner, 'backend', 'pytorch')} backend.")
        return "\n\n".join(lines)
