"""Distillation: distill.py labels images once into a cache; data=pseudo trains a student on it (issue 15, part 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from refusals import call, changed, snapshot

from depthlab.config_dir import CONF_DIR
from depthlab.data.pseudo import label_to_depth
from depthlab.distill.images import synthetic_name
from depthlab.distill.teacher import file_sha256
from depthlab.models.build import build_module
from depthlab.utils.errors import DepthlabError

TRAIN_TINY = [
    "data.num_train=16",
    "data.num_val=4",
    "data.num_test=4",
    "data.height=64",
    "data.width=96",
    "data.batch_size=4",
    "data.prerender=0",
    "trainer.max_epochs=1",
    "test=false",
    "baseline=false",
    "logger=csv",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "callbacks.lr_monitor=null",
]
# a student on a cache, scored on 4 synthetic val scenes
STUDENT_TINY = [
    "data.eval_data.num_val=4",
    "data.eval_data.num_test=4",
    "data.eval_data.num_train=8",
    "data.eval_data.prerender=0",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "trainer.max_epochs=1",
    "test=false",
    "logger=csv",
    "callbacks.progress_bar=null",
    "callbacks.image_panels=null",
    "callbacks.lr_monitor=null",
]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A depthlab checkpoint: the default Unet-resnet18 after 4 steps at 64x96 (train.py in this process)."""
    tmp = tmp_path_factory.mktemp("teacher")
    outcome = call("train", [*TRAIN_TINY, f"hydra.run.dir={tmp / 'run'}"])
    assert outcome.code == 0, outcome.stderr[-3000:]
    return tmp / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def cache(teacher, tmp_path_factory) -> Path:
    """Six unlabelled synthetic scenes labelled by the teacher."""
    out = tmp_path_factory.mktemp("cache") / "labels"
    outcome = distill(teacher=teacher, images="synthetic:6", output=out)
    assert outcome.code == 0, outcome.stderr[-3000:]
    return out


def distill(*extra: str, teacher: Path | None = None, images: str | Path, output: Path):
    """distill.py in this process, its Hydra run directory beside the cache."""
    args = [f"images={images}", f"output={output}", f"hydra.run.dir={output.parent / 'run'}", *extra]
    return call("distill", ([f"teacher={teacher}"] if teacher else []) + args)


def test_labels_and_manifest_of_synthetic_images(teacher, cache):
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["teacher"]["sha256"] == file_sha256(teacher)
    assert manifest["teacher"]["path"] == str(teacher) and manifest["teacher"]["format"] == "checkpoint"
    assert manifest["teacher"]["output_kind"] == "metric" and manifest["teacher"]["model"]["encoder"] == "resnet18"
    assert manifest["images"]["source"] == "synthetic" and manifest["images"]["synthetic"]["height"] == 64
    assert [f["image"] for f in manifest["labels"]["files"]] == [synthetic_name(i) for i in range(6)]
    assert manifest["depthlab_version"] and manifest["labels"]["resolution"] == "image"
    for entry in manifest["labels"]["files"]:
        label = np.load(cache / entry["label"])
        assert label.dtype == np.float32 and label.shape == (64, 96) == tuple(entry["size"])
        assert np.isfinite(label).all() and 0 < label.min() and label.max() < 10
    # the rendered scenes' depth is written nowhere: RGB PNGs, their labels and the manifest only
    files = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert {f.rsplit("/", 1)[0] for f in files if "/" in f} == {"images", "depth"}
    assert len([f for f in files if f.startswith("images/")]) == 6 and all(
        f.endswith(".png") for f in files if f.startswith("images/")
    )


def test_rerun_with_the_same_teacher_labels_only_missing_images(teacher, cache, capsys):
    before = snapshot(cache / "depth")
    outcome = distill(teacher=teacher, images="synthetic:8", output=cache)
    assert outcome.code == 0, outcome.stderr[-3000:]
    assert "(2 new, 6 reused)" in capsys.readouterr().out
    assert not changed(before, snapshot(cache / "depth"))
    assert len(json.loads((cache / "manifest.json").read_text())["labels"]["files"]) == 8


def test_another_teacher_is_refused_and_nothing_changes(cache):
    before = snapshot(cache)
    outcome = distill("teacher_model=unet", "teacher_model.encoder=resnet18", images="synthetic:6", output=cache)
    assert outcome.code == 2 and len(outcome.errors) == 1, outcome.stderr[-3000:]
    assert "holds labels of another teacher" in outcome.errors[0] and "pass another output=" in outcome.errors[0]
    assert not changed(before, snapshot(cache)) and set(snapshot(cache)) == set(before)


def test_onnx_teacher_labels_a_folder_like_the_checkpoint(teacher, cache, tmp_path):
    folder = tmp_path / "photos"
    for i, sub in enumerate(["a", "a", "b/c"]):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(cache / "images" / synthetic_name(i), folder / sub / f"img{i}.png")
    onnx = tmp_path / "teacher.onnx"
    exported = call(
        "export", [f"ckpt_path={teacher}", f"output={onnx}", "exporter=legacy", f"hydra.run.dir={tmp_path}"]
    )
    assert exported.code == 0, exported.stderr[-3000:]
    labels = {}
    for name, model in {"ckpt": teacher, "onnx": onnx}.items():
        outcome = distill(teacher=model, images=folder, output=tmp_path / name / "labels")
        assert outcome.code == 0, outcome.stderr[-3000:]
        labels[name] = {p.relative_to(tmp_path / name): np.load(p) for p in (tmp_path / name).rglob("*.npy")}
    mirrored = {Path("labels/depth/a/img0.npy"), Path("labels/depth/a/img1.npy"), Path("labels/depth/b/c/img2.npy")}
    assert set(labels["ckpt"]) == set(labels["onnx"]) == mirrored
    for key, value in labels["ckpt"].items():
        assert np.abs(value - labels["onnx"][key]).max() <= 1e-4
    manifest = json.loads((tmp_path / "onnx" / "labels" / "manifest.json").read_text())
    assert manifest["teacher"]["format"] == "onnx" and manifest["teacher"]["output_kind"] == "metric"


def test_bad_input_is_one_line(teacher, cache, tmp_path):
    empty, corrupt = tmp_path / "empty", tmp_path / "corrupt"
    empty.mkdir()
    corrupt.mkdir()
    (corrupt / "broken.png").write_bytes(b"not a png")
    bad_ckpt, bad_onnx = tmp_path / "bad.ckpt", tmp_path / "bad.onnx"
    bad_ckpt.write_bytes(b"garbage")
    bad_onnx.write_bytes(b"garbage")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = [
        ({"teacher": teacher, "images": tmp_path / "missing"}, "is not a folder"),
        ({"teacher": teacher, "images": empty}, "holds no images"),
        ({"teacher": teacher, "images": corrupt}, "is not a readable image"),
        ({"teacher": tmp_path / "none.ckpt", "images": "synthetic:2"}, "teacher="),
        ({"teacher": bad_ckpt, "images": "synthetic:2"}, f"teacher={bad_ckpt}"),
        ({"teacher": bad_onnx, "images": "synthetic:2"}, "is not a readable ONNX model"),
        ({"teacher": None, "images": "synthetic:2"}, "pass exactly one of"),
        ({"teacher": teacher, "images": "synthetic:0"}, "positive integer"),
    ]
    for i, (kwargs, needle) in enumerate(cases):
        outcome = distill(**kwargs, output=tmp_path / f"out{i}" / "labels")
        assert outcome.code == 2 and len(outcome.errors) == 1, (needle, outcome.stderr[-2000:])
        assert needle in outcome.errors[0] and "Traceback" not in outcome.stderr, (needle, outcome.errors)
        assert not (tmp_path / f"out{i}" / "labels" / "depth").exists()
    outcome = distill(teacher=teacher, images=cache / "images", output=foreign)
    assert outcome.code == 2 and "is not empty and holds no manifest.json" in outcome.errors[0]
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_student_trains_end_to_end_on_pseudo_labels(cache, tmp_path):
    run = tmp_path / "student"
    args = ["experiment=distill", f"data.labels={cache}", *STUDENT_TINY, f"hydra.run.dir={run}"]
    outcome = call("train", args)
    assert outcome.code == 0, outcome.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["val/delta1"] <= 1 and np.isfinite(metrics["val/abs_rel"])
    config = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["depthlab_config"]
    assert config["model"]["encoder"] == "mobilenet_v2" and config["data"]["labels"] == str(cache)


def composed(*overrides: str):
    """The train config with overrides (no Hydra run)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_overfitting_one_batch_of_pseudo_labels_lowers_the_loss(cache):
    cfg = composed("experiment=distill", f"data.labels={cache}", *STUDENT_TINY)
    datamodule = instantiate(cfg.data)
    module = build_module(cfg)
    module.check_data(datamodule)
    batch = next(iter(datamodule.loader("train", shuffle=False)))
    optimizer = torch.optim.AdamW(module.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        loss = module.loss(module.net(batch["image"]), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0], losses


def relative_copy(cache: Path, tmp_path: Path) -> Path:
    """The cache as if a relative_disparity teacher had written it (labels read as disparity)."""
    copy = tmp_path / "relative"
    shutil.copytree(cache, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["teacher"]["output_kind"] = "relative_disparity"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_metric_loss_on_relative_labels_is_refused(cache, tmp_path):
    relative = relative_copy(cache, tmp_path)
    outcome = call(
        "train", ["experiment=distill", f"data.labels={relative}", *STUDENT_TINY, f"hydra.run.dir={tmp_path}/r"]
    )
    assert outcome.code == 2 and len(outcome.errors) == 1, outcome.stderr[-3000:]
    assert "relative_disparity labels" in outcome.errors[0] and "experiment=distill_relative" in outcome.errors[0]
    cfg = composed("experiment=distill_relative", f"data.labels={relative}", *STUDENT_TINY)
    datamodule = instantiate(cfg.data)
    build_module(cfg).check_data(datamodule)  # ssi + gradient matching take relative labels
    sample = datamodule.dataset("train")[0]
    label = np.load(relative / "depth" / synthetic_name(0).replace(".png", ".npy"))
    assert torch.allclose(sample["depth"][0], torch.from_numpy(1 / label)) and bool(sample["valid"].all())
    mixed = composed("experiment=distill_relative", f"data.labels={relative}", "data.labelled_fraction=0.5")
    with pytest.raises(DepthlabError, match="mixes metric ground truth into relative_disparity"):
        instantiate(mixed.data).dataset("train")


def test_labelled_fraction_adds_ground_truth_of_the_same_kind(cache):
    cfg = composed("experiment=distill", f"data.labels={cache}", *STUDENT_TINY, "data.labelled_fraction=0.5")
    datamodule = instantiate(cfg.data)
    train = datamodule.dataset("train")
    pseudo = len(json.loads((cache / "manifest.json").read_text())["labels"]["files"])
    assert len(train) == pseudo + 4  # the cache's images + half of eval_data's 8 labelled train scenes
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=len(train))))
    assert batch["image"].shape == (len(train), 3, 64, 96) and batch["meta"]["dataset"][-1] == "synthetic"
    assert len(datamodule.dataset("val")) == 4


def test_label_to_depth_inverts_disparity_and_masks_non_positive():
    depth, valid = label_to_depth(np.array([[2.0, 0.0, -1.0, np.nan]], dtype=np.float32), "relative_disparity")
    assert valid.tolist() == [[True, False, False, False]] and depth[0, 0] == 0.5 and depth[0, 1:].sum() == 0
    depth, valid = label_to_depth(np.array([[2.0, 0.0]], dtype=np.float32), "metric")
    assert valid.tolist() == [[True, False]] and depth[0, 0] == 2.0


def test_a_model_option_teacher_is_composed_checked_and_identified_by_its_weights(tmp_path, capsys):
    out = tmp_path / "labels"
    args = ["teacher_model=unet", "teacher_model.encoder=resnet18", "data.height=32", "data.width=64"]
    for new in (2, 0):  # the seeded model= teacher is the same network again: its labels are reused
        outcome = distill(*args, images="synthetic:2", output=out)
        assert outcome.code == 0, outcome.stderr[-3000:]
        assert f"({new} new, {2 - new} reused)" in capsys.readouterr().out
    teacher = json.loads((out / "manifest.json").read_text())["teacher"]
    assert teacher["source"] == "model" and teacher["model"]["encoder"] == "resnet18" and len(teacher["sha256"]) == 64
    assert np.load(out / "depth" / synthetic_name(0).replace(".png", ".npy")).shape == (32, 64)
    hostile = distill("teacher_model=unet", "teacher_model._target_=builtins.open", images="synthetic:2", output=out)
    assert hostile.code == 2 and "is not a trusted class" in hostile.errors[0]


def test_a_relative_foundation_teacher_distils_into_a_small_student(tmp_path):
    """Depth Anything (a save_pretrained directory) labels disparity; a Unet student learns it with ssi_gm."""
    from depthlab.models.hf import HFDepthNet
    from tests.hf_tiny import DEPTH_ANYTHING

    weights = tmp_path / "dav2"
    HFDepthNet(config=DEPTH_ANYTHING).model.save_pretrained(weights)
    (weights / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    out = tmp_path / "labels"
    args = ["teacher_model=depth_anything_v2", f"teacher_model.pretrained={weights}", "data.height=56", "data.width=84"]
    outcome = distill(*args, images="synthetic:4", output=out)
    assert outcome.code == 0, outcome.stderr[-3000:]
    teacher = json.loads((out / "manifest.json").read_text())["teacher"]
    assert teacher["output_kind"] == "relative_disparity"
    assert teacher["provenance"]["license"] == "apache-2.0"
    run = tmp_path / "student"
    outcome = call(
        "train", ["experiment=distill_relative", f"data.labels={out}", *STUDENT_TINY, f"hydra.run.dir={run}"]
    )
    assert outcome.code == 0, outcome.stderr[-3000:]
    assert 0 <= json.loads((run / "metrics.json").read_text())["val/delta1"] <= 1


def test_a_manifest_entry_leaving_the_cache_is_refused(cache, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(cache, hostile)
    manifest = json.loads((hostile / "manifest.json").read_text())
    manifest["labels"]["files"][0]["label"] = "../../../etc/hostname"
    (hostile / "manifest.json").write_text(json.dumps(manifest))
    cfg = composed("experiment=distill", f"data.labels={hostile}", *STUDENT_TINY)
    with pytest.raises(DepthlabError, match=r"label path '\.\./\.\./\.\./etc/hostname' leaves .*; refused"):
        instantiate(cfg.data).dataset("train")
