"""Shards (depthlab.data.shard) round-trip bit-exact; data=stream trains from them, split by rank, resumable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, assert_one_line_error, cli_env, run_cli
from hydra import compose, initialize_config_dir
from litdata import StreamingDataset

from depthlab.config_dir import CONF_DIR
from depthlab.data import fixtures
from depthlab.data.shard import write_shards
from depthlab.data.stream import StreamDataModule, decode
from depthlab.utils.errors import DepthlabError

SYNTHETIC = ["data=synthetic", "data.height=16", "data.width=16", "data.prerender=0", "num_workers=1"]


def shard(tmp_path: Path, name: str, *overrides: str) -> tuple[Path, object]:
    """Write shards of a composed data config to tmp_path/name; returns the out dir and the source datamodule."""
    from hydra.utils import instantiate

    out = tmp_path / name
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("shard", [*overrides, f"out={out}"])
    write_shards(cfg)
    return out, instantiate(cfg.data)


def stored(out: Path, split: str) -> dict[int, dict]:
    """Every decoded raw sample of a split, by its source index (read without shuffling or transforms)."""
    dataset = StreamingDataset(str(out / split))
    return {s["meta"]["index"]: s for s in (decode(dataset[i]) for i in range(len(dataset)))}


def synthetic_shards(tmp_path: Path, train: int = 16) -> Path:
    args = [f"data.num_train={train}", "data.num_val=4", "data.num_test=4"]
    return shard(tmp_path, "syn", *SYNTHETIC, *args)[0]


def test_nyuv2_round_trip_is_bit_exact_with_intrinsics_and_meta(tmp_path):
    root = tmp_path / "nyu"
    fixtures.write_nyu_sync(root, n=9)
    out, source = shard(tmp_path, "shards", "data=nyuv2", f"data.root={root}", "num_workers=1")
    index = json.loads((out / "train" / "index.json").read_text())
    assert "pickle" not in index["config"]["data_format"]
    manifest = json.loads((out / "depthlab.json").read_text())
    assert manifest["data"]["height"] == 192 and manifest["data"]["eval_crop"] == "eigen_nyu"
    checked = 0
    for split in ("train", "val", "test"):
        raw = source.build_dataset(split)
        samples = stored(out, split)
        assert sorted(samples) == list(range(len(raw)))
        for i, sample in samples.items():
            want = raw[i]
            assert sample["image"].dtype == np.float32 and np.array_equal(sample["image"], want["image"])
            assert sample["depth"].tobytes() == np.asarray(want["depth"]).tobytes()
            assert np.array_equal(sample["valid"], want["valid"]) and sample["valid"].dtype == bool
            assert np.array_equal(sample["intrinsics"], want["intrinsics"])
            assert sample["meta"] == want["meta"]
            checked += 1
    assert checked == sum(manifest["splits"].values()) == 9


def test_masks_and_backgrounds_round_trip_bit_exact(tmp_path):
    root = tmp_path / "modest"
    fixtures.write_modest(root, backgrounds=3, per_bg=2, size=24)
    out, source = shard(tmp_path, "shards", "data=modest", f"data.root={root}", "num_workers=1", "splits=[train]")
    raw, samples = source.build_dataset("train"), stored(out, "train")
    assert len(samples) == len(raw) > 0
    for i, sample in samples.items():
        for key in ("image", "background", "mask", "depth", "valid"):
            assert sample[key].tobytes() == np.asarray(raw[i][key]).astype(sample[key].dtype).tobytes(), key
            assert np.array_equal(sample[key], raw[i][key]), key


def test_stream_batches_follow_the_sample_contract_of_the_source(tmp_path):
    out, source = shard(tmp_path, "syn", *SYNTHETIC, "data.num_train=8", "data.num_val=4", "data.num_test=4")
    stream = StreamDataModule(uri=str(out), batch_size=4, eval_batch_size=4, num_workers=0)
    batch = next(iter(stream.loader("val")))
    files = next(iter(source.loader("val")))
    assert sorted(batch) == sorted(files)
    for key in ("image", "depth", "valid", "intrinsics"):
        assert batch[key].dtype == files[key].dtype and batch[key].shape == files[key].shape, key
    # val is not shuffled: the same samples, the same contract values
    assert torch.equal(batch["depth"], files["depth"]) and torch.equal(batch["image"], files["image"])
    assert stream.relative is False and stream.input_size() == (16, 16)


def epochs(stream: StreamDataModule, count: int = 2) -> list[list[int]]:
    """Train sample indices of `count` epochs of one loader (Lightning keeps its train loader across epochs)."""
    loader = stream.loader("train")
    return [[i for batch in loader for i in batch["meta"]["index"].tolist()] for _ in range(count)]


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_continues_with_the_remaining_samples(tmp_path, workers):
    out = synthetic_shards(tmp_path)
    settings = {"uri": str(out), "batch_size": 2, "num_workers": workers, "seed": 7}
    full = StreamDataModule(**settings)
    first, second = epochs(full)
    assert sorted(first) == sorted(second) == list(range(16)) and first != second  # reshuffled per epoch
    resumed = StreamDataModule(**settings)
    resumed.load_state_dict({"train_order": {"epoch": 0, "batches": 3}})  # a checkpoint 3 batches into epoch 0
    # the rest of the interrupted epoch, then the uninterrupted run's next epoch
    assert epochs(resumed) == [first[6:], second]
    boundary = StreamDataModule(**settings)
    boundary.load_state_dict({"train_order": {"epoch": 1, "batches": 0}})
    assert epochs(boundary, 1) == [second]


def _rank_indices(rank: int, world: int, port: int, uri: str, out: str) -> None:
    """One DDP process (gloo): LitData reads the rank layout from torch.distributed."""
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        stream = StreamDataModule(uri=uri, batch_size=2, num_workers=0, seed=3)
        Path(out, f"{rank}.json").write_text(json.dumps(epochs(stream)))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_see_every_train_sample_exactly_once_per_epoch(tmp_path):
    out = synthetic_shards(tmp_path, train=16)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_rank_indices, args=(2, port, str(out), str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    for epoch in (0, 1):
        a, b = ranks[0][epoch], ranks[1][epoch]
        assert len(a) == len(b) == 8 and not set(a) & set(b) and sorted(a + b) == list(range(16))
    assert ranks[0][0] != ranks[0][1]


@pytest.mark.slow
def test_train_from_shards_through_the_cli(tmp_path):
    out = synthetic_shards(tmp_path, train=8)
    run_dir = tmp_path / "run"
    # 8 train samples, batch 4: 2 steps; 16x16 shards resized to the 32x32 the net needs
    overrides = ["data=stream", f"data.uri={out}", "data.batch_size=4", "data.eval_batch_size=4"]
    overrides += ["data.num_workers=0", "data.height=32", "data.width=32", "trainer.max_epochs=1"]
    overrides += ["callbacks.progress_bar=null"]
    overrides += ["baseline=false", "logger=csv", "test=false"]
    result = run_cli("train.py", *overrides, tmp_path=tmp_path, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    assert "val/rmse" in json.loads((run_dir / "metrics.json").read_text())


def test_refusals_name_the_problem_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(DepthlabError, match="data.uri is not set"):
        StreamDataModule(uri=None)
    (tmp_path / "bare" / "train").mkdir(parents=True)
    with pytest.raises(DepthlabError, match="no readable depthlab.json"):
        StreamDataModule(uri=str(tmp_path / "bare"))
    with pytest.raises(DepthlabError, match="is not a directory"):
        StreamDataModule(uri=str(tmp_path / "missing"))
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata request either
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(DepthlabError, match="needs AWS credentials"):
        StreamDataModule(uri="s3://bucket/shards")
    with pytest.raises(DepthlabError, match="only local directories and s3://"):
        StreamDataModule(uri="ftp://host/shards")


def test_shard_cli_refuses_a_missing_out_in_one_line(tmp_path):
    args = [sys.executable, "-m", "depthlab.data.shard", *SYNTHETIC]
    result = subprocess.run(args, cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert_one_line_error(result, "out")


def test_train_batches_are_full_with_workers(tmp_path):
    out = synthetic_shards(tmp_path)
    stream = StreamDataModule(uri=str(out), batch_size=3, num_workers=2, seed=1)
    batches = [batch["meta"]["index"].tolist() for batch in stream.loader("train")]
    # 16 samples over 2 workers: every batch full (a worker's partial remainder is dropped), no sample twice
    seen = [i for batch in batches for i in batch]
    assert {len(batch) for batch in batches} == {3} and len(seen) == len(set(seen)) >= 12


def test_train_refuses_data_stream_without_a_uri_in_one_line(tmp_path):
    result = run_cli("train.py", "data=stream", "logger=csv", tmp_path=tmp_path, run_dir=tmp_path / "run")
    assert_one_line_error(result, "data.uri is not set", "data.uri=s3://bucket/prefix")


def test_a_mixture_shards_one_set_per_source(tmp_path):
    sources = "data.sources={a: {data: synthetic, num_train: 4, num_val: 2, num_test: 2, prerender: 0}, " + (
        "b: {data: synthetic, seed: 7, num_train: 6, num_val: 2, num_test: 2, prerender: 0}}"
    )
    sizes = ["data.height=16", "data.width=16", f"data.data_dir={tmp_path}", "num_workers=1"]
    out, mixture = shard(tmp_path, "mix", "data=mix", sources, *sizes)
    for name, count in (("a", 4), ("b", 6)):
        manifest = json.loads((out / name / "depthlab.json").read_text())
        assert manifest["splits"] == {"train": count, "val": 2, "test": 2}
        written = stored(out / name, "train")
        for i, raw in enumerate(mixture.sources[name].build_dataset("train")):
            assert np.array_equal(written[i]["depth"], np.asarray(raw["depth"]))
    stream = StreamDataModule(uri=str(out / "b"), batch_size=2, eval_batch_size=2, num_workers=0)
    assert len(stream.dataset("train")) == 6 and stream.input_size() == (16, 16)
    batch = next(iter(stream.loader("val")))
    assert batch["depth"].shape == (2, 1, 16, 16)
