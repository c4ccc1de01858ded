"""W&B media: the ranked val images table, the val point cloud and eval's per-dataset table, read back offline."""

from __future__ import annotations

import csv
import json
import math
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import TINY, read_metrics, run_cli
from omegaconf import OmegaConf
from torch import nn

import depthlab.callbacks.ranked_images as ranked_module
from depthlab.callbacks.ranked_images import COLUMNS, RankedImages
from depthlab.cli.evaluate import own_rows
from depthlab.data.synthetic import SyntheticDataModule
from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.protocol import EvalProtocol
from depthlab.models.module import DepthModule
from depthlab.utils.wandb import latest_run_dir, read_offline_run, read_offline_tables

K = 4  # worst and best rows of the end-to-end run: its 8 val images, each once
METRICS = ["abs_rel", "rmse", "delta1", "silog"]
IMAGES = ["rgb", "gt", "pred", "abs_error"]


class GroundTruthNet(nn.Module):
    """Stands in for a network: forward is overridden by Oracle, which needs the batch's depth."""

    predicts_depth = True

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))


class Oracle(DepthModule):
    """Predicts `scale` x the ground truth (3 m where it has none): a relative model when scale != 1."""

    def __init__(self, scale: float, alignment: str) -> None:
        protocol = EvalProtocol(min_depth=1e-3, max_depth=10.0, alignment=alignment)
        loss = lambda outputs, batch: {"loss": outputs["depth"].mean()}  # noqa: E731
        optimizer = partial(torch.optim.SGD, lr=0.1)
        super().__init__(GroundTruthNet(), loss, DepthMetrics(), optimizer, protocol=protocol)
        self.scale = scale

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        depth = torch.where(batch["valid"], batch["depth"], torch.full_like(batch["depth"], 3.0))
        return {"depth": depth * self.scale * self.net.weight}


def validate(module: pl.LightningModule, callback: RankedImages) -> None:
    """One validation epoch (epoch 0) of 6 tiny synthetic scenes in batches of 4, with the callback."""
    data = SyntheticDataModule(
        height=32, width=32, num_train=2, num_val=6, num_test=1, prerender=0, eval_batch_size=4, num_workers=0
    )
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[callback]
    )
    trainer.validate(module, datamodule=data, verbose=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.mark.parametrize("settings", [{"every_n_epochs": 0}, {"num_worst": 0, "num_best": 0}])
def test_switched_off_it_does_no_per_image_work(settings, tmp_path, monkeypatch):
    calls = []
    spy = lambda *args, **kwargs: calls.append(1)  # noqa: E731
    monkeypatch.setattr(ranked_module, "per_image_metrics", spy)
    monkeypatch.setattr(RankedImages, "observe", spy)
    module = Oracle(1.0, "none")
    validate(module, RankedImages(dirpath=str(tmp_path), **settings))
    assert calls == [] and module.scored_listeners == [] and not list(tmp_path.iterdir())


def test_mask_only_networks_other_ranks_epochs_and_sanity_checks_are_skipped():
    cb = RankedImages(every_n_epochs=2)
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=2, is_global_zero=True, datamodule=None)
    for module, changes in [
        (SimpleNamespace(predicts_depth=False, scored_listeners=[]), {}),  # task=mask: no depth to rank
        (SimpleNamespace(predicts_depth=True, scored_listeners=[]), {"is_global_zero": False}),
        (SimpleNamespace(predicts_depth=True, scored_listeners=[]), {"sanity_checking": True}),
        (SimpleNamespace(predicts_depth=True, scored_listeners=[]), {"current_epoch": 3}),  # off the interval
        (SimpleNamespace(predicts_depth=True), {}),  # a module that publishes no scored batches
    ]:
        cb.on_validation_epoch_start(SimpleNamespace(**(vars(trainer) | changes)), module)
        assert cb.ranks is None and getattr(module, "scored_listeners", []) == []
    module = SimpleNamespace(predicts_depth=True, scored_listeners=[])
    cb.on_validation_epoch_start(trainer, module)
    assert module.scored_listeners == [cb.observe]  # the control: epoch 2, rank 0, a depth network


def test_metric_and_relative_models_are_ranked_as_the_protocol_scores_them(tmp_path):
    """GT x 0.5: abs_rel 0.5 on every image unaligned; median-aligned (a relative model) it is exact."""
    for alignment, expected in (("none", 0.5), ("median", 0.0)):
        module = Oracle(0.5, alignment)
        validate(module, RankedImages(num_worst=2, num_best=3, dirpath=str(tmp_path / alignment)))
        rows = read_csv(tmp_path / alignment / "epoch000.csv")
        assert [(r["rank_kind"], r["rank"]) for r in rows] == [("worst", "1"), ("worst", "2")] + [
            ("best", str(i)) for i in (1, 2, 3)
        ]
        assert [float(r["abs_rel"]) for r in rows] == pytest.approx([expected] * 5, abs=1e-6)
        assert {r["dataset"] for r in rows} == {"synthetic"}
        assert len({r["index"] for r in rows[:2]}) == 2 and len({r["index"] for r in rows[2:]}) == 3  # ties: shared
        assert module.scored_listeners == []  # unregistered at epoch end
        for row in rows:
            assert all((tmp_path / alignment / row[c]).stat().st_size > 0 for c in IMAGES)


def hand_made() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four 8x8 images, GT 2 m with an invalid block; predictions off by 10%, 50%, half 10% / half 50%, 2%."""
    target = torch.full((4, 1, 8, 8), 2.0)
    valid = torch.ones_like(target, dtype=torch.bool)
    valid[:, :, :2, :2] = False
    factor = torch.tensor([1.1, 1.5, 1.1, 1.02]).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    factor[2, :, :, 4:] = 1.5
    return target * factor, target, valid


def test_per_image_abs_rel_is_the_formula(tmp_path):
    pred, target, valid = hand_made()
    cb = RankedImages(num_worst=2, num_best=2, dirpath=str(tmp_path))
    module = SimpleNamespace(sources=None, val_metrics=DepthMetrics(min_valid=10), scored_listeners=[])
    cb.ranks = (ranked_module.TopK(2, worst=True), ranked_module.TopK(2, worst=False))
    meta = {"dataset": ["hand"] * 4, "index": torch.arange(10, 14)}
    batch = {"image": torch.rand(4, 3, 8, 8), "meta": meta}
    cb.observe(module, pred, target, valid, batch, 0)
    trainer = SimpleNamespace(current_epoch=3, global_step=0, loggers=[])
    cb.on_validation_epoch_end(trainer, module)
    rows = read_csv(tmp_path / "epoch003.csv")
    p, g, v = pred.double().numpy(), target.double().numpy(), valid.numpy()
    formula = [float(np.mean(np.abs(p[i][v[i]] - g[i][v[i]]) / g[i][v[i]])) for i in range(4)]
    assert formula == pytest.approx([0.1, 0.5, 0.3 + 0.2 * 4 / 60, 0.02])  # image 2: 28 px at 10%, 32 at 50%
    order = [1, 2, 3, 0]  # worst 2, then best 2
    assert [int(r["index"]) - 10 for r in rows] == order
    assert [float(r["abs_rel"]) for r in rows] == pytest.approx([formula[i] for i in order], rel=1e-12)
    assert [r["rank_kind"] for r in rows] == ["worst", "worst", "best", "best"]
    assert float(rows[0]["rmse"]) == pytest.approx(1.0) and float(rows[3]["rmse"]) == pytest.approx(0.2)
    assert float(rows[0]["delta1"]) == 0.0 and float(rows[3]["delta1"]) == 1.0  # 1.5 > 1.25 > 1.1
    assert float(rows[0]["silog"]) == pytest.approx(0.0, abs=1e-5)  # a constant ratio is scale-invariant
    assert rows[0]["dataset"] == "hand" and rows[0]["epoch"] == "3"


def test_single_dataset_eval_rows_name_the_dataset_or_each_source():
    synthetic = OmegaConf.create({"data": {"_target_": "depthlab.data.synthetic.SyntheticDataModule"}})
    assert own_rows({"val/rmse": 1.0}, synthetic, "val") == {"synthetic": {"val/rmse": 1.0}}
    mix = OmegaConf.create({"data": {"_target_": "depthlab.data.mix.MixDataModule", "sources": {"a": {}, "b": {}}}})
    metrics = {"test/a/rmse": 1.0, "test/b/rmse": 3.0, "test/rmse": 2.0}
    assert own_rows(metrics, mix, "test") == {
        "a": {"test/rmse": 1.0},
        "b": {"test/rmse": 3.0},
        "mix (mean)": {"test/rmse": 2.0},
    }


# ---- end to end: one tiny training run (logger=wandb, offline) and an eval of its checkpoint ----

OFFLINE = ["logger=wandb", "logger.wandb.mode=offline", "logger.wandb.tag_overrides=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch tiny run: ranked images (k = 4), two point clouds, no test split; W&B offline under tmp."""
    tmp = tmp_path_factory.mktemp("media")
    media = [f"callbacks.ranked_images.num_worst={K}", f"callbacks.ranked_images.num_best={K}"]
    media += ["callbacks.image_panels.point_clouds=2", "callbacks.image_panels.num_samples=1", "test=false"]
    result = run_cli("train.py", *TINY, *OFFLINE, *media, tmp_path=tmp, run_dir=tmp / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run"


def offline_run(run: Path) -> Path:
    found = latest_run_dir(run)
    assert found is not None and found.name.startswith("offline-run-"), list((run / "wandb").iterdir())
    return found


@pytest.mark.slow
def test_ranked_images_table_in_the_offline_run(trained):
    wandb_dir = offline_run(trained)
    files = sorted((wandb_dir / "files" / "media" / "table" / "val").glob("ranked_images_*.table.json"))
    tables = read_offline_tables(wandb_dir, "val/ranked_images")
    # epoch 0 in the fit, then the best checkpoint's validation after it (current_epoch 1)
    assert len(files) == len(tables) == 2
    on_disk = read_csv(trained / "ranked" / "epoch000.csv")
    metrics = read_metrics(trained)  # val/: the best (here: the only) checkpoint, as the second table
    for (table, entries), epoch in zip(tables, (0, 1), strict=True):
        assert table["columns"] == COLUMNS
        rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
        ranks = [(kind, i) for kind in ("worst", "best") for i in range(1, K + 1)]
        assert [(r["rank_kind"], r["rank"]) for r in rows] == ranks
        assert {r["epoch"] for r in rows} == {epoch} and {r["dataset"] for r in rows} == {"synthetic"}
        assert all(math.isfinite(r[m]) for r in rows for m in METRICS)
        worst, best = [r["abs_rel"] for r in rows[:K]], [r["abs_rel"] for r in rows[K:]]
        assert worst == sorted(worst, reverse=True) and best == sorted(best) and min(worst) >= max(best)
        assert all(0 <= r["delta1"] <= 1 and r["rmse"] > 0 for r in rows)
        assert sorted(r["index"] for r in rows) == list(range(8))  # every val image once
        # the per-image metrics are the protocol's: their mean over the val set is the logged val metric
        for name in METRICS:
            assert np.mean([r[name] for r in rows]) == pytest.approx(metrics[f"val/{name}"], rel=1e-6), name
        for row in rows:
            for column in IMAGES:
                cell = row[column]
                assert cell["_type"] == "image-file" and entries[cell["path"]].stat().st_size > 0
                assert (cell["height"], cell["width"]) == (64, 64)
    # the run's files/ copy has the same numbers; the CSV + PNGs on disk hold the epoch-0 table
    first = json.loads(files[0].read_text())
    assert [row[COLUMNS.index("abs_rel")] for row in first["data"]] == [
        row[COLUMNS.index("abs_rel")] for row in tables[0][0]["data"]
    ]
    assert [float(r["abs_rel"]) for r in on_disk] == pytest.approx([r[9] for r in tables[0][0]["data"]], rel=1e-12)


@pytest.mark.slow
def test_point_clouds_are_rgb_in_camera_frame_metres(trained):
    clouds = sorted((offline_run(trained) / "files" / "media" / "object3D" / "val").glob("point_cloud_*.pts.json"))
    assert len(clouds) == 2 * 2  # point_clouds=2, at epoch 0 and at the best checkpoint's validation
    for path in clouds:
        points = np.array(json.loads(path.read_text()))
        assert points.shape[1] == 6 and 1000 < len(points) <= 64 * 64
        xyz, rgb = points[:, :3], points[:, 3:]
        z = xyz[:, 2]
        assert (z > 1e-3).all() and z.max() <= 10.0 + 1e-3  # the synthetic rooms: depth in (0, 10] m
        # pinhole geometry, hfov <= 62 degrees: |x| / z <= tan(31 degrees) ~ 0.6
        spread = np.abs(xyz[:, :2]) / z[:, None]
        assert spread.max() <= 0.61 and spread[:, 0].max() > 0.5  # the cloud spans the whole field of view
        assert ((rgb >= 0) & (rgb <= 255) & (rgb == np.round(rgb))).all() and rgb.std(0).min() > 5


@pytest.mark.slow
def test_single_dataset_eval_logs_a_one_row_table(trained, tmp_path):
    eval_dir = tmp_path / "eval"
    ckpt = f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}"
    result = run_cli("eval.py", ckpt, "split=val", *OFFLINE, tmp_path=tmp_path, run_dir=eval_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = read_metrics(eval_dir)
    run_dir = offline_run(eval_dir)
    history = {k: v for row in read_offline_run(run_dir)["history"] for k, v in row.items()}
    assert history["zero_shot/val/_type"] == "table-file" and history["zero_shot/val/nrows"] == 1
    table = json.loads((run_dir / "files" / history["zero_shot/val/path"]).read_text())
    [row] = table["data"]
    assert table["columns"][:4] == ["dataset", "abs_rel", "sq_rel", "rmse"] and row[0] == "synthetic"
    assert dict(zip(table["columns"][1:], row[1:], strict=True)) == pytest.approx(
        {k.split("/", 1)[1]: v for k, v in printed.items() if k.split("/", 1)[1] in table["columns"]}, rel=1e-9
    )
