"""Data robustness: entries stay in data.root, one-line worker errors, data.check, 8-bit depth, quoted lists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cli_env, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.check import CheckDataCallback, check_data
from depthlab.data.folder import FolderDataModule
from depthlab.data.io import decode_depth, read_lines
from depthlab.data.kitti import KITTIDataModule
from depthlab.data.nyuv2 import NYUv2DataModule
from depthlab.utils.errors import DepthlabError, original_message

RAW = {"height": None, "width": None, "augment": None}
# synthetic renders, pseudo reads a label cache (data.labels; its safety: test_distill.py), mix composes others,
# stream reads shards (test_stream.py)
NOT_FILES = ("synthetic", "pseudo", "mix", "stream")
FILE_CONFIGS = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml") if p.stem not in NOT_FILES)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, to show an error path changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(match: str, call) -> str:
    """Run `call`, expect one DepthlabError line containing `match` (literally), return it."""
    with pytest.raises(DepthlabError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


def compose_train(overrides: list[str]):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*overrides, "paths.root_dir=."])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder dataset at tmp/root, with a decodable RGB-D pair outside it at tmp/outside."""
    root = tmp_path / "root"
    fixtures.write_folder(root, n=3)
    fixtures.write_folder(tmp_path / "outside", n=1)
    return root


# A. list entries stay inside data.root


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "symlink_stem"])
def test_folder_list_entries_outside_root_are_refused_unless_allowed(folder, kind):
    outside = folder.parent / "outside" / "rgb" / "frame_000.png"
    if kind.startswith("symlink"):
        (folder / "rgb" / "link.png").symlink_to(outside)
        (folder / "depth" / "link.png").symlink_to(folder / "depth" / "frame_000.png")
    entry = {"dotdot": "../outside/rgb/frame_000.png", "absolute": str(outside)}.get(kind, "rgb/link.png")
    entry = "link" if kind == "symlink_stem" else entry
    (folder / "train.txt").write_text(f"frame_001\n{entry}\n")
    before = snapshot(folder.parent)
    refused = FolderDataModule(root=str(folder), train_list="train.txt", val_fraction=0, **RAW)
    message = one_line_error("data.allow_outside_root=true", lambda: refused.setup("fit"))
    assert message == (
        f"list entry '{entry}' in {folder / 'train.txt'} resolves to {outside}, outside data.root={folder}; "
        "fix the entry or set data.allow_outside_root=true"
    )
    assert snapshot(folder.parent) == before
    allowed = FolderDataModule(root=str(folder), train_list="train.txt", val_fraction=0, allow_outside_root=True, **RAW)
    paths = [Path(allowed.dataset("train")[i]["meta"]["path"]).resolve() for i in range(2)]
    assert paths == [folder / "rgb" / "frame_001.png", outside]


def test_entries_inside_root_absolute_or_root_relative_still_load(folder):
    inside = folder / "rgb" / "frame_000.png"
    (folder / "train.txt").write_text(f"{inside}\n/rgb/frame_001.png\nrgb/../rgb/frame_002.png\n")
    dm = FolderDataModule(root=str(folder), train_list="train.txt", val_fraction=0, **RAW)
    assert [r.rgb.resolve().name for r in dm.splits()["train"]] == ["frame_000.png", "frame_001.png", "frame_002.png"]
    assert dm.dataset("train")[1]["meta"]["path"] == str(folder / "rgb" / "frame_001.png")


def test_nyu_and_kitti_list_entries_outside_root_are_refused(tmp_path):
    nyu, kitti = tmp_path / "nyu", tmp_path / "kitti"
    fixtures.write_nyu_sync(nyu)
    fixtures.write_kitti(kitti)
    with (nyu / "train.txt").open("a") as f:
        f.write("/scene_0000/rgb_00000.jpg ../../etc/passwd 518.8\n")
    line = (kitti / "eigen_train_files.txt").read_text().splitlines()[0].split()
    (kitti / "eigen_train_files.txt").write_text(f"{line[0]} {tmp_path / 'nyu/scene_0000/sync_depth_00000.png'} 1\n")
    before = snapshot(tmp_path)
    nyu_dm = NYUv2DataModule(root=str(nyu), train_list="train.txt", test_list="test.txt", **RAW)
    one_line_error(f"list entry '../../etc/passwd' in {nyu / 'train.txt'} resolves to", lambda: nyu_dm.setup("fit"))
    kitti_dm = KITTIDataModule(root=str(kitti), train_list="eigen_train_files.txt", kb_crop=False, **RAW)
    one_line_error("sync_depth_00000.png' in ", lambda: kitti_dm.setup("fit"))
    assert snapshot(tmp_path) == before


def test_every_file_config_exposes_allow_outside_root_and_depth_scale(tmp_path):
    for name in FILE_CONFIGS:
        cfg = compose_train([f"data={name}", f"data.root={tmp_path}"])
        assert cfg.data.allow_outside_root is False and cfg.data.depth_scale is None, name
        overrides = [f"data={name}", f"data.root={tmp_path}", "data.depth_scale=2", "data.allow_outside_root=true"]
        dm = instantiate(compose_train(overrides).data)
        assert dm.depth_scale == 2 and dm.allow_outside_root is True, name
    one_line_error("data.depth_scale=-1 must be positive", lambda: KITTIDataModule(root=str(tmp_path), depth_scale=-1))


# B. loader worker errors reach the user as the original line


class Corrupt(Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise DepthlabError("/data/rgb/a b.png is not a readable image; remove it")


def test_original_message_unwraps_a_worker_traceback():
    with pytest.raises(DepthlabError) as info:
        next(iter(DataLoader(Corrupt(), num_workers=1)))
    assert "worker process 0" in str(info.value) and "Traceback" in str(info.value)
    assert original_message(str(info.value)) == "/data/rgb/a b.png is not a readable image; remove it"
    assert original_message("data.root=x is not a directory; pass it") == "data.root=x is not a directory; pass it"


@pytest.mark.slow
def test_train_prints_a_worker_error_as_its_one_line(tmp_path):
    root = tmp_path / "data"
    fixtures.write_folder(root, n=6)
    (root / "train.txt").write_text("frame_000\nframe_001\nframe_002\nframe_003\n")
    (root / "val.txt").write_text("frame_004\nframe_005\n")  # the sanity check reads val in the worker
    (root / "rgb" / "frame_005.png").write_bytes(b"truncated")
    before = snapshot(root)
    result = run_cli(
        "train.py",
        "data=folder",
        f"data.root={root}",
        "data.train_list=train.txt",
        "data.val_list=val.txt",
        "data.num_workers=1",
        "data.height=32",
        "data.width=32",
        "data.batch_size=2",
        "data.eval_batch_size=2",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        "logger=csv",
        "baseline=false",
        "model.arch_kwargs.decoder_channels=[16,16,16,8,8]",
        tmp_path=tmp_path,
        run_dir=tmp_path / "run",
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("depthlab: error:")]
    assert result.returncode == 2 and errors == [
        f"depthlab: error: {root / 'rgb/frame_005.png'} is not a readable image (corrupt or truncated?); "
        "re-extract or remove it"
    ], result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "worker process" not in result.stderr
    assert snapshot(root) == before


# C. depthlab-check-data (python -m depthlab.cli.check_data) and debug=check_data


def bad_folder(root: Path) -> list[str]:
    """A folder dataset with a corrupt RGB, a corrupt .npy depth and an 8-bit depth map; their expected lines."""
    fixtures.write_folder(root, n=6)
    (root / "rgb" / "frame_000.png").write_bytes(b"junk")
    (root / "depth" / "frame_001.npy").write_bytes(b"junk")
    (root / "depth" / "frame_003.png").unlink()
    cv2.imwrite(str(root / "depth" / "frame_003.png"), np.full((48, 64), 40, np.uint8))
    return [
        f"{root}/depth/frame_001.npy is not a readable .npy array (ValueError); re-extract it",
        f"{root}/rgb/frame_000.png is not a readable image (corrupt or truncated?); re-extract or remove it",
        f"{root}/depth/frame_003.png is an 8-bit depth map whose scale is ambiguous; "
        "pass data.depth_scale=<units per metre> (e.g. 25.5 when 255 = 10 m)",
    ]


@pytest.mark.slow
def test_check_module_lists_every_bad_file_and_exits_2(tmp_path):
    root, cwd = tmp_path / "data", tmp_path / "cwd"
    expected = bad_folder(root)
    cwd.mkdir()
    before = snapshot(root)
    result = subprocess.run(
        [sys.executable, "-m", "depthlab.cli.check_data", "data=folder", f"data.root={root}", "data.num_workers=1"],
        cwd=cwd,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert sorted(result.stdout.splitlines()) == sorted(expected)
    assert result.stderr.splitlines() == [
        "depthlab: error: 18 files checked in train/val/test, 3 bad (listed above); "
        "re-extract or remove them, or drop them from the split lists"
    ]
    assert snapshot(root) == before and not list(cwd.iterdir())  # nothing rewritten, no run dir or log file


def test_check_passes_a_clean_dataset_and_skips_synthetic(tmp_path, capsys):
    fixtures.write_folder(tmp_path, n=4)
    (tmp_path / "depth" / "frame_000.png").unlink()
    cv2.imwrite(str(tmp_path / "depth" / "frame_000.png"), np.full((48, 64), 40, np.uint8))
    check_data(compose_train(["data=folder", f"data.root={tmp_path}", "data.depth_scale=25.5", "data.num_workers=0"]))
    check_data(compose_train(["data=synthetic"]))
    assert capsys.readouterr().out.splitlines() == [
        "12 files checked in train/val/test, 0 bad",
        "data=synthetic has no files to check: its samples are generated",
    ]


def test_check_data_debug_mode_lets_a_clean_dataset_train(tmp_path, capsys):
    fixtures.write_folder(tmp_path, n=3)
    cfg = compose_train(["debug=check_data", "data=folder", f"data.root={tmp_path}", "data.num_workers=0"])
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        hydra_cfg = compose("train", overrides=["debug=check_data"], return_hydra_config=True)
    assert OmegaConf.to_container(hydra_cfg.hydra.callbacks) == {
        "check_data": {"_target_": "depthlab.data.check.CheckDataCallback"}
    }
    CheckDataCallback().on_job_start(config=cfg, task_function=print)  # returns: training would proceed
    assert capsys.readouterr().out.splitlines() == ["9 files checked in train/val/test, 0 bad"]


@pytest.mark.slow
def test_train_with_debug_check_data_stops_before_training_on_a_bad_file(tmp_path):
    root = tmp_path / "data"
    expected = bad_folder(root)
    before = snapshot(root)
    overrides = ["debug=check_data", "data=folder", f"data.root={root}", "logger=csv"]
    result = run_cli("train.py", *overrides, tmp_path=tmp_path, run_dir=tmp_path / "run")
    assert result.returncode == 2, result.stderr[-3000:]
    assert sorted(result.stdout.splitlines()) == sorted(expected)
    assert [line for line in result.stderr.splitlines() if line.startswith("depthlab: error:")] == [
        "depthlab: error: 18 files checked in train/val/test, 3 bad (listed above); "
        "re-extract or remove them, or drop them from the split lists"
    ]
    assert not list((tmp_path / "run").rglob("*.ckpt")) and not (tmp_path / "run" / "metrics.json").exists()
    assert snapshot(root) == before


# D. 8-bit depth needs data.depth_scale


def test_eight_bit_depth_is_refused_without_a_scale(tmp_path):
    path = tmp_path / "d.png"
    cv2.imwrite(str(path), np.array([[0, 51, 255]], np.uint8))
    before = snapshot(tmp_path)
    message = one_line_error(f"{path} is an 8-bit depth map whose scale is ambiguous", lambda: decode_depth(path))
    assert message.endswith("pass data.depth_scale=<units per metre> (e.g. 25.5 when 255 = 10 m)")
    depth, valid = decode_depth(path, scale=25.5)
    np.testing.assert_allclose(depth, [[0, 2, 10]], rtol=1e-6)
    assert valid.tolist() == [[False, True, True]]
    assert snapshot(tmp_path) == before


def test_folder_with_eight_bit_depth_needs_data_depth_scale(tmp_path):
    fixtures.write_folder(tmp_path, n=1)
    (tmp_path / "depth" / "frame_000.png").unlink()
    cv2.imwrite(str(tmp_path / "depth" / "frame_000.png"), np.full((48, 64), 51, np.uint8))
    dm = FolderDataModule(root=str(tmp_path), val_fraction=0, test_fraction=0, **RAW)
    one_line_error("frame_000.png is an 8-bit depth map", lambda: dm.dataset("train")[0])
    scaled = FolderDataModule(root=str(tmp_path), val_fraction=0, test_fraction=0, depth_scale=25.5, **RAW)
    assert scaled.dataset("train")[0]["depth"].unique().tolist() == [2.0]


# E. split lists with spaces


def test_read_lines_splits_tabs_commas_quotes_and_words(tmp_path):
    lists = tmp_path / "list.txt"
    lists.write_text(
        "# comment\n"
        "a b.png\tc d.png\t518.8\n"
        '"a b.png" "c d.png" 518.8\n'
        "'a b.png' c.png\n"
        "a b.png, c d.png\n"
        '"x,y.png",z.png\n'
        "plain.png depth.png 1\n"
        "kid's.png depth.png\n"
    )
    assert read_lines(lists) == [
        ["a b.png", "c d.png", "518.8"],
        ["a b.png", "c d.png", "518.8"],
        ["a b.png", "c.png"],
        ["a b.png", "c d.png"],
        ["x,y.png", "z.png"],
        ["plain.png", "depth.png", "1"],
        ["kid's.png", "depth.png"],
    ]


def test_folder_lists_with_spaces_in_file_names(tmp_path):
    fixtures.write_folder(tmp_path, n=3)
    for path in [p for folder in ("rgb", "depth", "mask") for p in (tmp_path / folder).iterdir()]:
        path.rename(path.with_name(path.name.replace("_", " ")))
    (tmp_path / "train.txt").write_text('"frame 000"\n"rgb/frame 001.png"\n')
    (tmp_path / "test.txt").write_text("rgb/frame 002.png\tdepth/frame 002.pfm\n")
    dm = FolderDataModule(root=str(tmp_path), train_list="train.txt", test_list="test.txt", val_fraction=0, **RAW)
    names = [Path(dm.dataset(s)[i]["meta"]["path"]).name for s, n in (("train", 2), ("test", 1)) for i in range(n)]
    assert names == ["frame 000.png", "frame 001.png", "frame 002.png"]
    assert dm.dataset("train")[0]["mask"].sum() > 0
    (tmp_path / "test.txt").write_text("frame 002\n")
    before = snapshot(tmp_path)
    unquoted = FolderDataModule(root=str(tmp_path), train_list="train.txt", test_list="test.txt", **RAW)
    message = one_line_error("frame.png does not exist", lambda: unquoted.setup("test"))
    assert message.endswith('quote names with spaces ("a b.png") or separate fields with tabs')
    assert snapshot(tmp_path) == before
