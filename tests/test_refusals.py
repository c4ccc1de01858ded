"""What depthlab refuses: every bad input gives one `depthlab: error:` line, its exit code, and changes no file.

Each case runs an entry point in this process (train / eval / predict / export `main()`), after snapshotting the
shared fixture world and the case's own directory; crafted checkpoints must never create their marker file.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REAL, TINY, run_cli
from refusals import call, changed, hostile_checkpoint, snapshot, tmpfs, with_config_change

from depthlab.data import fixtures

pytestmark = pytest.mark.slow
FAULT = ["+loss.terms.fault={_target_:faults.NaNAfter,steps:2}", "+loss.weights.fault=1"]
TRAIN = [*TINY, "logger=csv", "data.num_train=24"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """One trained checkpoint, a run directory with results, hostile checkpoints, images (shared, read-only)."""
    w = tmp_path_factory.mktemp("world")
    small = ["model.encoder=mobilenet_v2", "model.arch_kwargs.decoder_channels=[32,16,16,8,8]"]
    result = run_cli("train.py", *TINY, *small, "logger=csv", tmp_path=w, run_dir=w / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = w / "run" / "checkpoints" / "last.ckpt"
    marker = w / "PWNED"
    hostile_checkpoint(w / "evil_system.ckpt", marker, "os.system")
    hostile_checkpoint(w / "evil_subprocess.ckpt", marker, "subprocess")
    hostile_checkpoint(w / "evil_exec.ckpt", marker, "exec")
    with_config_change(ckpt, w / "open_target.ckpt", "model._target_", "builtins.open")
    with_config_change(ckpt, w / "rmtree_target.ckpt", "loss._target_", "shutil.rmtree")
    with_config_change(ckpt, w / "remove_target.ckpt", "optimizer._target_", "os.remove")
    with_config_change(ckpt, w / "interpolation.ckpt", "data.root", "${oc.env:HOME}")
    with_config_change(ckpt, w / "own_loss.ckpt", "loss._target_", "faults.TrustedLoss")
    (w / "corrupt.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    torch.save({"state_dict": {}}, w / "foreign.ckpt")
    (w / "images").mkdir()
    shutil.copy(REAL / "nyu_sync" / "rgb_00000.jpg", w / "images" / "a.jpg")
    (w / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    write_bad_datasets(w / "data")
    (w / "model.onnx").write_bytes(b"not onnx")
    (w / "exported.onnx").write_bytes(b"an existing export")
    return w


def write_bad_datasets(root: Path) -> None:
    """Folder datasets with one defect each: an entry outside the root, 8-bit depth, a corrupt image, a spaced name."""
    for name in ("outside", "eight_bit", "corrupt", "spaces", "elsewhere"):
        fixtures.write_folder(root / name, n=4, height=32, width=32)
    (root / "outside" / "train.txt").write_text("frame_000\nframe_001\n../elsewhere/rgb/frame_000.png\n")
    for depth in (root / "eight_bit" / "depth").iterdir():
        depth.unlink()
        cv2.imwrite(str(depth.with_suffix(".png")), np.full((32, 32), 100, np.uint8))
    (root / "corrupt" / "rgb" / "frame_002.png").write_bytes(b"\x89PNG truncated")
    (root / "spaces" / "train.txt").write_text("frame_000\nframe 001\n")


DATA = ["data=folder", "data.height=32", "data.width=32", "data.batch_size=2", "data.eval_batch_size=2", "logger=csv"]
# (id, entry, arguments with {w} = world and {t} = this case's directory, substrings of the line, exit code)
CASES = [
    # 1. checkpoints load without executing code, in every entry point
    ("eval-pickle-system", "eval", ["ckpt_path={w}/evil_system.ckpt"], ["holds pickled code", "system"], 2),
    ("eval-pickle-subprocess", "eval", ["ckpt_path={w}/evil_subprocess.ckpt"], ["holds pickled code"], 2),
    ("eval-pickle-exec", "eval", ["ckpt_path={w}/evil_exec.ckpt"], ["holds pickled code", "exec"], 2),
    (
        "predict-pickle",
        "predict",
        ["ckpt_path={w}/evil_system.ckpt", "input={w}/images/a.jpg", "output={t}/out"],
        ["holds pickled code"],
        2,
    ),
    ("export-pickle", "export", ["ckpt_path={w}/evil_system.ckpt", "output={t}/m.onnx"], ["holds pickled code"], 2),
    ("train-resume-pickle", "train", [*TRAIN, "ckpt_path={w}/evil_exec.ckpt"], ["holds pickled code"], 2),
    ("eval-missing-ckpt", "eval", ["ckpt_path={t}/nope.ckpt"], ["does not exist"], 2),
    ("eval-corrupt-ckpt", "eval", ["ckpt_path={w}/corrupt.ckpt"], ["not a readable PyTorch checkpoint"], 2),
    ("eval-foreign-ckpt", "eval", ["ckpt_path={w}/foreign.ckpt"], ["was not written by depthlab"], 2),
    ("eval-no-ckpt", "eval", [], ["ckpt_path is required"], 2),
    ("train-resume-missing", "train", [*TRAIN, "ckpt_path=/does/not/exist.ckpt"], ["does not exist"], 2),
    (
        "predict-corrupt-onnx",
        "predict",
        ["ckpt_path={w}/model.onnx", "input={w}/images/a.jpg", "output={t}/o"],
        ["not a readable ONNX model"],
        2,
    ),
    # 2. the embedded config is data: only trusted _target_s are instantiated
    ("eval-target-open", "eval", ["ckpt_path={w}/open_target.ckpt"], ["model._target_='builtins.open'", "trusted"], 2),
    (
        "predict-target-rmtree",
        "predict",
        ["ckpt_path={w}/rmtree_target.ckpt", "input={w}/images/a.jpg", "output={t}/o"],
        ["loss._target_='shutil.rmtree'"],
        2,
    ),
    (
        "export-target-remove",
        "export",
        ["ckpt_path={w}/remove_target.ckpt", "output={t}/m.onnx"],
        ["optimizer._target_='os.remove'"],
        2,
    ),
    ("eval-interpolation", "eval", ["ckpt_path={w}/interpolation.ckpt"], ["data.root", "interpolation"], 2),
    # 3. paths stay inside data.root; 8. data errors found early, as the original one line
    (
        "entry-outside-root",
        "train",
        [*DATA, "data.root={w}/data/outside", "data.train_list=train.txt"],
        ["'../elsewhere/rgb/frame_000.png'", "outside data.root", "data.allow_outside_root=true"],
        2,
    ),
    ("eight-bit-depth", "train", [*DATA, "data.root={w}/data/eight_bit"], ["8-bit depth map", "data.depth_scale="], 2),
    (
        "worker-error",
        "train",
        [*DATA, "data.root={w}/data/corrupt", "data.num_workers=1", "data.val_fraction=0.5"],
        ["frame_002.png is not a readable image"],
        2,
    ),
    (
        "unquoted-space",
        "train",
        [*DATA, "data.root={w}/data/spaces", "data.train_list=train.txt"],
        ["'frame 001'", "quote names with spaces"],
        2,
    ),
    ("check-data", "train", [*DATA, "data.root={w}/data/corrupt", "debug=check_data"], ["1 bad (listed above)"], 2),
    # 4. a run directory belongs to one run
    ("train-dir-has-results", "train", [*TRAIN, "hydra.run.dir={w}/run"], ["already holds", "ckpt_path=last"], 2),
    (
        "eval-dir-has-results",
        "eval",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "hydra.run.dir={w}/run"],
        ["already holds", "metrics.json"],
        2,
    ),
    # 6. NaN / inf
    (
        "nan-stop",
        "train",
        [*TRAIN, *FAULT],
        ["non-finite loss (loss, fault) at training step 2", "optimizer.lr", "gradient_clip_val", "precision=32-true"],
        3,
    ),
    (
        "nan-skip-limit",
        "train",
        [*TRAIN, *FAULT, "nan_policy=skip", "nan_max_skips=1"],
        ["more than nan_max_skips=1"],
        3,
    ),
    ("nan-policy-unknown", "train", [*TRAIN, "nan_policy=ignore"], ["nan_policy='ignore' is unknown"], 2),
    ("nan-max-skips-negative", "train", [*TRAIN, "nan_max_skips=-1"], ["nan_max_skips=-1 must be >= 0"], 2),
    (
        "train-no-valid-pixel",
        "train",
        [*TRAIN, "data.min_depth=50", "data.max_depth=60"],
        ["val split of data=synthetic has no valid depth pixel"],
        2,
    ),
    (
        "eval-no-valid-pixel",
        "eval",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "split=val", "+data.min_depth=50", "+data.max_depth=60"],
        ["no valid depth pixel"],
        2,
    ),
    # 9. tracebacks that became one line
    ("wrong-type", "train", [*TRAIN, "trainer.max_epochs=abc"], ["trainer.max_epochs takes an integer"], 2),
    ("wrong-type-fdr", "train", [*TRAIN, "trainer.max_epochs=abc", "debug=fdr"], ["takes an integer"], 2),
    ("wrong-type-bool", "train", [*TRAIN, "test=maybe"], ["test takes true or false"], 2),
    ("lr-zero", "train", [*TRAIN, "optimizer.lr=0"], ["optimizer.lr=0 must be > 0"], 2),
    ("lr-negative", "train", [*TRAIN, "optimizer.lr=-0.001"], ["optimizer.lr=-0.001 must be > 0"], 2),
    # errors that existed before the catalogue
    ("unknown-key", "train", [*TRAIN, "foo=1"], ["bad override", "foo"], 2),
    ("unknown-group-option", "train", [*TRAIN, "model=nope"], ["bad override", "model/nope", "unet"], 2),
    ("negative-workers", "train", [*TRAIN, "data.num_workers=-1"], ["data.num_workers=-1 is negative"], 2),
    ("size-not-divisible", "train", [*TRAIN, "data.height=100"], ["not divisible by 32", "data.height=96"], 2),
    ("unknown-head", "train", [*TRAIN, "model.head=relu"], ["model.head='relu' is unknown"], 2),
    (
        "fewer-samples-than-a-batch",
        "train",
        [*TRAIN, "data.num_train=3"],
        ["has 3 samples per process, fewer than data.batch_size=4"],
        2,
    ),
    (
        "negative-loss-weight",
        "train",
        [*TRAIN, "loss=ssim_l1_edge", "loss.weights.ssim=-1"],
        ["loss.weights.ssim=-1.0 must be >= 0"],
        2,
    ),
    ("infinite-loss-weight", "train", [*TRAIN, "loss.weights.silog=inf"], ["loss.weights.silog=inf"], 2),
    ("missing-data-root", "train", ["data=folder", "data.root={t}/nowhere", "logger=csv"], ["is not a directory"], 2),
    ("eval-unknown-split", "eval", ["ckpt_path={w}/run/checkpoints/last.ckpt", "split=dev"], ["split=dev"], 2),
    (
        "eval-unknown-dataset",
        "eval",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "datasets=[nope]"],
        ["'nope' is not a data config"],
        2,
    ),
    ("predict-no-input", "predict", ["ckpt_path={w}/run/checkpoints/last.ckpt"], ["input is required"], 2),
    (
        "predict-corrupt-image",
        "predict",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "input={w}/images/broken.png", "output={t}/o"],
        ["broken.png"],
        2,
    ),
    (
        "export-unknown-format",
        "export",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "format=coreml"],
        ["format='coreml' is unknown"],
        2,
    ),
    (
        "export-output-exists",
        "export",
        ["ckpt_path={w}/run/checkpoints/last.ckpt", "output={w}/exported.onnx"],
        ["exists; pass overwrite=true"],
        2,
    ),
]


def expand(args: list[str], w: Path, t: Path) -> list[str]:
    return [a.replace("{w}", str(w)).replace("{t}", str(t)) for a in args]


def assert_refused(outcome, code: int, needles: list[str]) -> None:
    assert outcome.code == code, outcome.stderr[-3000:]
    assert len(outcome.errors) == 1, outcome.stderr[-3000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    for needle in needles:
        assert needle in outcome.errors[0], outcome.errors[0]


@pytest.mark.parametrize(("entry", "args", "needles", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused(world, tmp_path, monkeypatch, entry, args, needles, code):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    case = tmp_path / "case"
    argv = expand(args, world, case)
    if not any(a.startswith("hydra.run.dir=") for a in argv):
        argv.append(f"hydra.run.dir={case}/run")
    before = snapshot(world, case)
    outcome = call(entry, argv)
    assert_refused(outcome, code, needles)
    assert not changed(before, snapshot(world, case))
    assert not (world / "PWNED").exists()


def test_resume_from_hostile_last_ckpt_runs_nothing(world, tmp_path):
    """`ckpt_path=last` reads <run dir>/checkpoints/last.ckpt: the safe read comes before Lightning's."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    hostile_checkpoint(run / "checkpoints" / "last.ckpt", world / "PWNED")
    before = snapshot(run)
    assert_refused(call("train", [*TRAIN, "ckpt_path=last", f"hydra.run.dir={run}"]), 2, ["holds pickled code"])
    assert not changed(before, snapshot(run))
    assert not (world / "PWNED").exists()


def test_a_locked_run_directory_names_the_holder(tmp_path):
    """A second process on a run directory exits 2 naming the PID that holds it (here: this test)."""
    run = tmp_path / "run"
    run.mkdir()
    with (run / ".depthlab.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("424242\n")
        lock.flush()
        before = snapshot(run)
        outcome = call("train", [*TRAIN, f"hydra.run.dir={run}"])
        assert_refused(outcome, 2, ["is in use by another depthlab process (PID 424242)"])
        assert not changed(before, snapshot(run))


def test_nan_stop_keeps_finite_last_checkpoint(tmp_path, monkeypatch):
    """nan_policy=stop exits 3 and last.ckpt holds finite weights from the step before the NaN."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tmp_path / "run"
    assert_refused(call("train", [*TRAIN, *FAULT, f"hydra.run.dir={run}"]), 3, ["at training step 2"])
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize("entry", ["train", "predict", "export"])
def test_read_only_output(world, tmp_path, entry):
    with tmpfs(tmp_path / "ro", read_only=True) as ro:
        ckpt = f"ckpt_path={world}/run/checkpoints/last.ckpt"
        argv = {
            "train": [*TRAIN, f"hydra.run.dir={ro}/run"],
            "predict": [ckpt, f"input={world}/images/a.jpg", f"output={ro}/out", f"hydra.run.dir={tmp_path}/run"],
            "export": [ckpt, f"output={ro}/m.onnx", f"hydra.run.dir={tmp_path}/run"],
        }[entry]
        assert_refused(call(entry, argv), 2, ["Read-only file system", str(ro)])


@pytest.mark.parametrize("entry", ["predict", "export"])
def test_full_output_disk(world, tmp_path, entry):
    with tmpfs(tmp_path / "full", size="256k", fill=True) as full:
        (full / "out").mkdir(exist_ok=True)
        ckpt = f"ckpt_path={world}/run/checkpoints/last.ckpt"
        argv = {
            "predict": [ckpt, f"input={world}/images/a.jpg", f"output={full}/out", f"hydra.run.dir={tmp_path}/r"],
            "export": [ckpt, f"output={full}/out/m.pt", "format=torchscript", f"hydra.run.dir={tmp_path}/r"],
        }[entry]
        assert_refused(call(entry, argv), 2, ["No space left on device", "free some space"])


def test_trusted_targets_extends_the_allow_list(world, tmp_path):
    """A user's own class behind `_target_` is refused, then loads and scores once its prefix is trusted."""
    ckpt = f"ckpt_path={world}/own_loss.ckpt"
    refused = call("eval", [ckpt, "split=val", f"hydra.run.dir={tmp_path}/a"])
    assert_refused(
        refused, 2, ["loss._target_='faults.TrustedLoss' is not a trusted class", "trusted_targets=[faults.]"]
    )
    trusted = call("eval", [ckpt, "split=val", "trusted_targets=[faults.]", f"hydra.run.dir={tmp_path}/b"])
    assert trusted.code == 0, trusted.stderr[-3000:]
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["val/rmse"] > 0
