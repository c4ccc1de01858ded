"""data=mix (weighted mixtures, per-source scoring) and loss=mixed (per-sample metric / relative routing)."""

from __future__ import annotations

import pytest
import torch

from depthlab.data.mix import MixDataModule, normalized_weights
from depthlab.data.mixture import MixtureBatchSampler
from depthlab.losses.mixed import MixedLoss, select
from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.protocol import EvalProtocol
from depthlab.models.sources import SourceScoring
from depthlab.utils.errors import DepthlabError
from tests.conftest import read_metrics, run_cli

SIZES, WEIGHTS = [5, 7, 3], [0.5, 0.3, 0.2]
SYNTHETIC = {"num_train": 6, "num_val": 2, "num_test": 2, "prerender": 0}


def _source_of(index: int) -> int:
    """Which source a global ConcatDataset index of SIZES belongs to."""
    return 0 if index < 5 else 1 if index < 12 else 2


@pytest.mark.parametrize("mix_by", ["batch", "sample"])
def test_weights_are_honoured_over_many_draws(mix_by):
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=4, steps=3000, mix_by=mix_by, seed=1)
    batches = list(sampler)
    assert len(batches) == 3000 and all(len(b) == 4 for b in batches)
    sources = torch.tensor([[_source_of(i) for i in b] for b in batches])
    shares = torch.bincount(sources.flatten(), minlength=3).double() / sources.numel()
    assert torch.allclose(shares, torch.tensor(WEIGHTS, dtype=torch.float64), atol=0.02), shares
    single = bool((sources == sources[:, :1]).all())
    assert single if mix_by == "batch" else not single  # per batch: one source per batch; per sample: mixed batches


def test_draw_is_seeded_per_epoch_and_covers_a_source_before_repeating():
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=5, steps=4, mix_by="batch", seed=3)
    first = list(sampler)
    assert first == list(sampler)  # same seed, same epoch: same batches
    sampler.set_epoch(1)
    assert list(sampler) != first
    one = MixtureBatchSampler([5], [1.0], batch_size=5, steps=2, mix_by="sample", seed=0)
    assert all(sorted(batch) == list(range(5)) for batch in one)  # a permutation is used up before any repeat


def test_an_epoch_is_steps_per_epoch_batches_at_one_size(tmp_path):
    dm = MixDataModule(
        sources={"synthetic": SYNTHETIC, "redweb": {"root": "fixture"}},
        weights={"synthetic": 3, "redweb": 1},
        steps_per_epoch=3,
        height=32,
        width=48,
        batch_size=2,
        mix_by="sample",
    )
    assert dm.weights == {"synthetic": 0.75, "redweb": 0.25}
    batches = list(dm.train_dataloader())
    assert len(batches) == 3
    assert all(b["image"].shape == (2, 3, 32, 48) and b["depth"].shape == (2, 1, 32, 48) for b in batches)
    assert [len(loader.dataset) for loader in dm.val_dataloader()] == [2, len(dm.sources["redweb"].dataset("val"))]
    assert dm.sources["redweb"].relative and not dm.sources["synthetic"].relative and not dm.relative


@pytest.mark.parametrize(
    ("sources", "weights", "needle"),
    [
        ({"imagenet": {}}, None, "'imagenet' is not a data config"),
        ({"synthetic": SYNTHETIC}, {"kitti": 1.0}, "data.weights.kitti: no such source"),
        ({"synthetic": SYNTHETIC}, {"synthetic": 0.0}, "data.weights.synthetic=0.0 must be a positive number"),
        ({"synthetic": SYNTHETIC}, {"synthetic": -1}, "must be a positive number"),
        ({}, None, "data.sources is empty"),
        ({"synthetic": SYNTHETIC | {"_target_": "os.system"}}, None, "_target_=os.system is not allowed"),
    ],
)
def test_refusals_are_one_line(sources, weights, needle):
    with pytest.raises(DepthlabError, match=needle.replace("(", r"\(").replace(".", r"\.")) as err:
        MixDataModule(sources=sources, weights=weights, height=32, width=32)
    assert "\n" not in str(err.value)


def test_weights_normalise_and_missing_ones_are_named():
    assert normalized_weights(["a", "b"], {"a": 0.4, "b": 0.4}) == {"a": 0.5, "b": 0.5}
    assert normalized_weights(["a", "b", "c"], None) == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    with pytest.raises(DepthlabError, match="no weight for source\\(s\\) b"):
        normalized_weights(["a", "b"], {"a": 1.0})


def _batch(relative: list[bool], seed: int = 0) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    n = len(relative)
    depth = torch.rand(n, 1, 16, 16, generator=g) * 5 + 0.5
    valid = torch.rand(n, 1, 16, 16, generator=g) > 0.2
    pred = (torch.rand(n, 1, 16, 16, generator=g) * 5 + 0.5).requires_grad_()
    meta = {"relative": torch.tensor(relative), "dataset": ["r" if r else "m" for r in relative]}
    return {"depth": pred}, {"depth": depth * valid, "valid": valid, "meta": meta, "image": torch.zeros(n, 3, 16, 16)}


@pytest.mark.parametrize("relative", [[True, False, True, False], [False, False, True], [False, False]])
def test_mixed_loss_is_the_size_weighted_sum_of_the_halves_apart(relative):
    loss = MixedLoss("silog", "ssi_gm")
    outputs, batch = _batch(relative)
    flags = torch.tensor(relative)
    out = loss(outputs, batch)
    parts = {"metric": ~flags, "relative": flags}
    expected = torch.zeros(())
    for name, keep in parts.items():
        if keep.any():
            half = getattr(loss, name)(select(outputs, keep), select(batch, keep))["loss"]
            expected = expected + half * keep.sum() / len(relative)
            assert torch.equal(out[name], half)
        else:
            assert name not in out
    assert torch.allclose(out["loss"], expected, rtol=0, atol=1e-6)
    out["loss"].backward()
    assert outputs["depth"].grad.abs().sum() > 0
    if not flags.any():  # an all-metric batch is the metric loss alone
        assert torch.allclose(out["loss"], loss.metric(outputs, batch)["loss"])


def test_mixed_loss_reads_the_one_output_as_depth_in_both_parts():
    loss = MixedLoss("silog", "ssi_gm")
    assert [t.space for t in loss.relative.terms.values()] == ["depth", "depth"]
    outputs, batch = _batch([True, True])
    scaled = {"depth": outputs["depth"] * 3 + 2}  # an affine change of the output leaves the relative part unchanged
    assert torch.allclose(loss(outputs, batch)["loss"], loss(scaled, batch)["loss"], atol=1e-5)


def test_mixed_loss_refuses_an_unknown_part():
    with pytest.raises(DepthlabError, match="loss.metric=silogg is not a loss config"):
        MixedLoss("silogg", "ssi_gm")


class _Source:
    def __init__(self, relative: bool) -> None:
        self.min_depth, self.max_depth, self.eval_crop, self.relative = 1e-3, 10.0, None, relative


def test_relative_source_is_aligned_and_metric_source_scored_raw():
    protocol = EvalProtocol(min_depth=1e-3, max_depth=80.0, alignment="auto")
    scoring = SourceScoring({"nyu": _Source(False), "web": _Source(True)}, protocol, DepthMetrics())
    assert [p.alignment for p in scoring.protocols] == ["none", "lstsq"]
    target = torch.linspace(1, 5, 256).view(1, 1, 16, 16)
    valid = torch.ones_like(target, dtype=torch.bool)
    pred = 2 * target + 1  # right up to scale and shift
    for index in (0, 1):
        scored = scoring.protocols[index](pred, target, valid)
        scoring.metric("val", index).update(*scored)
    values = scoring.compute("val")
    assert values["web/abs_rel"] < 1e-4 and "web/whdr" in values and "nyu/whdr" not in values
    assert values["nyu/abs_rel"] == pytest.approx(float(((pred - target) / target).mean()), rel=1e-5)
    assert values["abs_rel"] == pytest.approx((values["nyu/abs_rel"] + values["web/abs_rel"]) / 2)
    assert values["whdr"] == values["web/whdr"]  # the mean row of a metric only some sources have


@pytest.mark.slow
def test_three_source_mixture_trains_and_logs_per_source_rows(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "train.py",
        "data=mix",
        "data.sources={synthetic: {num_train: 8, num_val: 4, num_test: 4, prerender: 0}, redweb: {}, nyuv2: {}}",
        "data.weights={synthetic: 2, redweb: 1, nyuv2: 1}",
        "paths.data_dir=fixture",
        "data.height=32",
        "data.width=32",
        "data.batch_size=2",
        "data.eval_batch_size=2",
        "data.steps_per_epoch=2",
        "data.mix_by=sample",
        "loss=mixed",
        "model.head=softplus",
        "trainer.max_epochs=1",
        "logger=csv",
        "callbacks.progress_bar=null",
        "callbacks.image_panels=null",
        tmp_path=tmp_path,
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    names = ("synthetic", "redweb", "nyuv2")
    for split in ("val", "test"):
        rows = [metrics[f"{split}/{name}/rmse"] for name in names]
        assert metrics[f"{split}/rmse"] == pytest.approx(sum(rows) / 3, rel=1e-5)
        assert f"{split}/redweb/whdr" in metrics and f"{split}/nyuv2/whdr" not in metrics
    assert "train/loss_metric" in metrics and "train/loss_relative" in metrics
    assert "val/redweb" in result.stdout and "test/nyuv2" in result.stdout  # one printed table, a column per source
