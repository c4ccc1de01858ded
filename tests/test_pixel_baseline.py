"""The searched per-pixel baseline: end to end on tiny synthetic data, image-grouped folds, features, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from refusals import call
from sklearn.neighbors import KNeighborsRegressor

from depthlab.baselines.features import PixelSample, pixel_features, sample_pixels, train_slice
from depthlab.baselines.search import grid_search
from depthlab.data.synthetic import SyntheticDataModule
from depthlab.metrics import DEPTH_METRIC_KEYS
from depthlab.utils.errors import DepthlabError

TINY = ["data.num_train=12", "data.num_val=2", "data.num_test=2", "data.height=16", "data.width=24"]
TINY += ["data.prerender=0", "slice=6", "pixels_per_image=40", "cv=2"]


@pytest.mark.parametrize(
    ("regressor", "grid"),
    [("rf", ["regressor.rf.grid.max_depth=[3,6]", "regressor.rf.grid.max_features=[1.0]"]), ("knn", [])],
)
def test_runs_end_to_end_prints_the_table_and_writes_test_metrics(regressor, grid, tmp_path, capsys):
    outcome = call("baseline", [f"regressor={regressor}", *TINY, *grid, f"hydra.run.dir={tmp_path}"])
    assert outcome.code == 0, outcome.stderr[-2000:]
    printed = capsys.readouterr().out
    assert "pixel baseline" in printed and "delta1" in printed and "mse" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {f"{s}/{k}" for s in ("val", "test") for k in DEPTH_METRIC_KEYS}
    assert 0 < metrics["test/delta1"] < 1 and metrics["test/mse"] == pytest.approx(metrics["test/rmse"] ** 2, rel=0.5)
    search = json.loads((tmp_path / "search.json").read_text())
    assert search["best"] == regressor and search["pixels"] == 6 * 40 and search["images"] == 6
    assert search["fits"] == (2 if regressor == "rf" else 6)  # the grid's settings


def test_folds_group_pixels_by_image():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 10)
    sample = PixelSample(rng.random((60, 3)), rng.random(60), groups)
    search = grid_search({"knn": (KNeighborsRegressor(), {"n_neighbors": [3]})}, sample, cv=3)
    folds = list(search.cv.split(sample.x, sample.y, groups))
    assert len(folds) == 3
    for train, held in folds:
        assert set(groups[train]).isdisjoint(groups[held]) and len(set(groups[held])) == 2
    with pytest.raises(DepthlabError, match="cv=7 folds need 2 <= cv <= the 6 images"):
        grid_search({"knn": (KNeighborsRegressor(), {})}, sample, cv=7)


def test_rgb_pos_adds_normalised_row_and_column():
    rgb = torch.rand(2, 3, 3, 5)
    plain, pos = pixel_features(rgb, "rgb"), pixel_features(rgb, "rgb_pos")
    assert plain.shape == (30, 3) and pos.shape == (30, 5)
    np.testing.assert_array_equal(pos[:, :3], plain)
    assert pos[:, 3].min() == 0 and pos[:, 3].max() == 1 and pos[:, 4].max() == 1
    assert pos[7].tolist()[3:] == pytest.approx([0.5, 0.5])  # row 1 of 0..2, column 2 of 0..4
    np.testing.assert_allclose(pos[7, :3], rgb[0, :, 1, 2].numpy())


def test_sampled_pixels_are_valid_log_depths_grouped_by_image():
    dm = SyntheticDataModule(num_train=4, num_val=1, num_test=1, height=16, width=24)
    sample = sample_pixels(dm, [1, 3], 50, "rgb_pos")
    assert sample.x.shape == (100, 5) and sample.groups.tolist() == [1] * 50 + [3] * 50
    depth = dm.dataset("train")[1]["depth"]
    assert np.exp(sample.y[:50]).min() >= depth[depth > 0].min().item() - 1e-4
    assert train_slice(dm, 4, 0) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["regressor=svm"], "regressor"),
        (["slice=20"], "slice=20 but the train split of synthetic has 12 images"),
        (["features=hsv"], "features='hsv' is unknown"),
        (["data.min_depth=50", "data.max_depth=60"], "have no valid pixels"),
    ],
)
def test_bad_input_is_refused_in_one_line(args, needle, tmp_path):
    outcome = call("baseline", [*TINY, *args, f"hydra.run.dir={tmp_path}"])
    assert outcome.code != 0 and len(outcome.errors) == 1, outcome.stderr[-2000:]
    assert needle in outcome.errors[0]
