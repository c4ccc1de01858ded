"""`python -m depthlab.data.inspect`: its numbers equal NumPy on the files, its warnings catch unit mistakes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL, REPO, assert_one_line_error, cli_env
from hydra import compose, initialize_config_dir
from PIL import Image

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.inspect import inspect, main
from depthlab.utils.errors import DepthlabError

PCT = (1, 5, 50, 95, 99)
NYU_K = (fixtures.NYU_FOCAL, fixtures.NYU_FOCAL, 32.558245, 25.373617)  # split-file focal, centre at 64x48


def run_inspect(tmp_path: Path, *overrides: str, output: str = "out") -> dict:
    """inspect() in this process on a composed config; returns the inspect.json it wrote."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("inspect", overrides=[f"output={tmp_path / output}", "paths.root_dir=.", *overrides])
    report = inspect(cfg)
    written = json.loads((tmp_path / output / "inspect.json").read_text())
    assert written["splits"] == json.loads(json.dumps(report["splits"]))
    return written


@pytest.fixture
def nyu(tmp_path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The NYU sync fixture (millimetre PNGs) with its split files: overrides and {rgb path: metres}."""
    truth = fixtures.write_nyu_sync(tmp_path / "nyu")
    overrides = ["data=nyuv2", f"data.root={tmp_path / 'nyu'}", "data.train_list=train.txt"]
    overrides += ["data.test_list=test.txt", "data.val_fraction=0", "data.intrinsics=[51.9,51.9,32.558245,25.373617]"]
    return overrides, truth


def expected(truth: dict[str, np.ndarray], stems: list[str]) -> tuple[np.ndarray, int]:
    """(valid metres of the listed files, their pixel count) straight from the encoding."""
    maps = [truth[path] for path in truth if Path(path).stem in stems]
    return np.concatenate([m[m > 0] for m in maps]), sum(m.size for m in maps)


def test_numbers_equal_numpy_on_the_files(tmp_path, nyu):
    overrides, truth = nyu
    report = run_inspect(tmp_path, *overrides, "samples=all")
    lists = {s: (tmp_path / "nyu" / f"{s}.txt").read_text().split() for s in ("train", "test")}
    for split, listed in (("train", lists["train"]), ("val", lists["test"]), ("test", lists["test"])):
        stems = [Path(entry).stem for entry in listed if entry.endswith(".jpg")]
        values, pixels = expected(truth, stems)
        n = report["splits"][split]
        assert n["samples"] == n["inspected"] == len(stems) and n["sizes"] == {"64x48": len(stems)}
        assert n["depth"]["min"] == pytest.approx(values.min()) and n["depth"]["max"] == pytest.approx(values.max())
        for p in PCT:
            assert n["depth"][f"p{p}"] == pytest.approx(np.percentile(values, p), rel=1e-6)
        assert n["valid_pixels"] == values.size and n["valid_fraction"] == pytest.approx(values.size / pixels)
        assert n["below_min_depth"] == n["above_max_depth"] == 0 and n["with_intrinsics"] == len(stems)
        assert [n["intrinsics"][k] for k in ("fx", "fy", "cx", "cy")] == pytest.approx(NYU_K)
        assert n["camera"] == {"pinhole": len(stems)} and n["with_mask"] == 0 and n["sparse"] == 0
    assert report["warnings"] == [] and report["depth_scale"] is None and report["max_depth"] == 10.0


def test_intrinsics_of_another_resolution_warn(tmp_path, nyu):
    overrides, _ = nyu
    report = run_inspect(tmp_path, *overrides[:-1])  # conf/data/nyuv2.yaml's 640x480 intrinsics on 64x48 images
    assert [n["principal_point_outside"] for n in report["splits"].values()] == [4, 2, 2]
    assert report["warnings"] == [
        "principal point outside the image (train 4 of 4, val 2 of 2, test 2 of 2; train: mean cx=325.6 cy=253.7 "
        "for 64x48 images): intrinsics of another resolution? give data.intrinsics in pixels of the stored images "
        "(they follow every resize and crop from there)"
    ]


def test_samples_are_bounded_and_evenly_spaced(tmp_path, nyu):
    overrides, _ = nyu
    report = run_inspect(tmp_path, *overrides, "samples=2", "grid=1")
    train = report["splits"]["train"]
    assert (train["samples"], train["inspected"], sum(train["sizes"].values())) == (4, 2, 2)
    listed = [line.split()[0] for line in (tmp_path / "nyu" / "train.txt").read_text().splitlines()]
    assert [Path(p).name for p in train["paths"]] == [Path(listed[0]).name, Path(listed[3]).name]  # first, last
    assert report["grid"] == {"train": 3, "val": 3, "test": 3}  # rgb | depth | valid, no masks


def test_millimetres_read_as_metres_warn_and_name_the_fix(tmp_path, nyu):
    overrides, _ = nyu
    wrong = run_inspect(tmp_path, *overrides, "data.depth_scale=1", output="wrong")
    mm = [w for w in wrong["warnings"] if "millimetres" in w]
    assert len(mm) == 3 and all("data.depth_scale (now 1)" in w and "data.depth_scale=1000" in w for w in mm)
    assert len(wrong["warnings"]) == 3 and wrong["splits"]["train"]["depth"]["p50"] > 1000  # not: raise max_depth
    assert wrong["splits"]["train"]["above_max_depth"] == wrong["splits"]["train"]["valid_pixels"]
    right = run_inspect(tmp_path, *overrides, "data.depth_scale=1000", output="right")
    assert right["warnings"] == [] and right["splits"]["train"]["depth"]["p50"] < 10
    near = run_inspect(tmp_path, *overrides, "data.max_depth=5", output="near")
    train = near["splits"]["train"]
    beyond = [w for w in near["warnings"] if "beyond data.max_depth=5 and will be masked" in w]
    assert len(beyond) == 3 and f"{100 * train['above_max_depth'] / train['valid_pixels']:.1f} %" in beyond[0]
    assert "raise data.max_depth, or check data.depth_scale (now null: the data=nyuv2 default)" in beyond[0]
    tiny = run_inspect(tmp_path, *overrides, "data.depth_scale=100000", output="tiny")
    assert sum("normalised or inverse depth" in w for w in tiny["warnings"]) == 3


def test_folder_masks_missing_intrinsics_empty_split_and_the_page(tmp_path):
    truth = fixtures.write_folder(tmp_path / "f")
    (tmp_path / "f" / "empty.txt").write_text("# no images\n")
    (tmp_path / "f" / "all.txt").write_text("".join(f"{Path(p).stem}\n" for p in truth))
    overrides = ["data=folder", f"data.root={tmp_path / 'f'}", "data.val_list=empty.txt"]
    overrides += ["data.train_list=all.txt", "data.test_list=all.txt"]
    report = run_inspect(tmp_path, *overrides, "grid=4")
    train, val = report["splits"]["train"], report["splits"]["val"]
    assert train["samples"] == 6 and val["samples"] == 0 and "empty.txt lists no images" in val["empty"]
    masks = [cv2_mask(tmp_path / "f" / "mask" / f"{Path(p).stem}.png") for p in sorted(truth)]
    assert train["with_mask"] == 6 and train["foreground_fraction"] == pytest.approx(np.mean(masks))
    values = np.concatenate([m[m > 0] for m in truth.values()])  # 16-bit mm PNG, .npy and .pfm metres alike
    assert train["depth"]["p50"] == pytest.approx(np.percentile(values, 50), rel=1e-6)
    assert train["with_intrinsics"] == 0 and train["intrinsics"] is None
    assert any(
        w.startswith("pinhole samples without intrinsics (train 6 of 6, test 6 of 6): normals")
        for w in report["warnings"]
    )
    assert any(
        w.startswith("val: empty split (the val split of data=folder is empty: data.val_list=empty.txt")
        for w in report["warnings"]
    )
    page = (tmp_path / "out" / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == report["grid"]["train"] + report["grid"]["test"] == 2 * 4 * 4  # train + test (= train)
    assert all((tmp_path / "out" / s).is_file() and "/" not in s for s in sources)
    assert "http" not in page and "<script" not in page
    assert Image.open(tmp_path / "out" / sources[1]).size == (64, 48)


def cv2_mask(path: Path) -> float:
    return float((np.asarray(Image.open(path)) > 127).mean())


def test_few_valid_pixels_warn(tmp_path):
    fixtures.write_rgb(tmp_path / "d" / "rgb" / "a.png", np.zeros((20, 20, 3), np.uint8))
    depth = np.zeros((20, 20), np.float32)
    depth[3, 4] = 2.5
    (tmp_path / "d" / "depth").mkdir()
    np.save(tmp_path / "d" / "depth" / "a.npy", depth)
    overrides = ["data=folder", f"data.root={tmp_path / 'd'}", "data.val_fraction=0", "data.test_fraction=0"]
    report = run_inspect(tmp_path, *overrides, "data.intrinsics=[20,20,10,10]")
    train = report["splits"]["train"]
    assert train["valid_pixels"] == 1 and train["valid_fraction"] == 1 / 400 and train["depth"]["p50"] == 2.5
    assert [w for w in report["warnings"] if w.startswith("train")] == [
        "train: only 0.25 % of pixels hold valid depth: a wrong depth scale, data.invalid_value or the wrong files "
        "(e.g. RGB in the depth folder)?"
    ]


def test_a_used_output_is_refused_unless_overwrite(tmp_path, nyu):
    overrides, _ = nyu
    run_inspect(tmp_path, *overrides, "grid=2")
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(DepthlabError, match="output=.*out is not empty; pass another output= or overwrite=true"):
        run_inspect(tmp_path, *overrides, "grid=2")
    run_inspect(tmp_path, *overrides, "grid=1", "overwrite=true")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "notes.txt" in files and len([f for f in files if f.endswith(".png")]) == 9  # 3 splits x 1 x 3


@pytest.mark.skipif(not (REAL / "manifest.csv").is_file(), reason="needs ../shared/data/real")
@pytest.mark.parametrize(("name", "scale"), [("tum", 5000), ("kinect", 1000)])
def test_real_pairs_as_a_folder_dataset_report_metres(tmp_path, name, scale):
    folder = ["data=folder", f"data.root={REAL / name}", "data.rgb_dir=.", "data.depth_dir=."]
    folder += ["data.depth_suffix=_depth", "samples=all"]
    report = run_inspect(tmp_path, *folder, f"data.depth_scale={scale}", output=name)
    depth_files = {p.name.split("_depth")[0]: p for p in (REAL / name).glob("*_depth.*")}
    splits = report["splits"]
    assert sum(n["samples"] for n in splits.values()) == len(depth_files) and splits["val"]["samples"] == 1
    for n in splits.values():
        raw = [np.asarray(Image.open(depth_files[Path(p).stem])).astype(np.float32) for p in n["paths"]]
        values = np.concatenate([r[r > 0] for r in raw]) / np.float32(scale)
        assert n["sizes"] == {"640x480": n["samples"]} and n["valid_pixels"] == values.size
        want = {"min": values.min(), "max": values.max()} | {f"p{p}": np.percentile(values, p) for p in PCT}
        assert n["depth"] == pytest.approx(want, rel=1e-6)
        assert 0.3 < n["depth"]["min"] < n["depth"]["p50"] < 5 and n["depth"]["max"] < 15  # indoor metres
    assert not any("millimetres" in w or "normalised" in w for w in report["warnings"])
    wrong = run_inspect(tmp_path, *folder, "data.depth_scale=1", output=f"{name}_wrong")
    assert any(w.startswith("train: median valid depth") and "millimetres" in w for w in wrong["warnings"])


def main_inline(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    """The console script in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["depthlab-inspect", *argv])
    try:
        main()
        code = 0
    except SystemExit as err:
        code = err.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_through_the_entry_point_plumbing(tmp_path, nyu, monkeypatch, capsys):
    """run() as the console script calls it: the run dir gets inspect/, bad values are one line and exit 2."""
    overrides, _ = nyu
    monkeypatch.chdir(tmp_path)
    code, out, _ = main_inline(monkeypatch, capsys, *overrides, "samples=all", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0 and "test: 2 samples, 2 inspected" in out and "no warnings" in out
    report = json.loads((tmp_path / "run" / "inspect" / "inspect.json").read_text())
    assert report["data"] == "nyuv2" and (tmp_path / "run" / "inspect" / "index.html").is_file()
    for bad, needle in (("samples=0", "samples=0 must be a positive integer or all"), ("grid=-1", "grid=-1 must")):
        code, _, err = main_inline(monkeypatch, capsys, *overrides, bad, f"hydra.run.dir={tmp_path / 'bad'}")
        assert code == 2 and err.startswith("depthlab: error: ") and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_cli_bad_root_is_one_line_and_writes_nothing(tmp_path):
    args = ["data=nyuv2", f"data.root={tmp_path / 'nope'}"]
    env = cli_env(tmp_path) | {"PYTHONPATH": str(REPO / "src")}  # this checkout's sources, run from elsewhere
    result = subprocess.run(
        [sys.executable, "-m", "depthlab.data.inspect", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_one_line_error(result, "data.root=", "nope is not a directory; data=nyuv2 expects")
    assert result.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []  # no run dir, no page
