"""The manifest data module decodes each real pair with its own row's depth scale and intrinsics."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from conftest import REAL

from depthlab.data.manifest import ManifestDataModule
from depthlab.utils.errors import DepthlabError

RAW = {"height": None, "width": None, "augment": None, "num_workers": 0}


def test_each_row_decodes_with_its_own_scale_and_intrinsics():
    rows = [r for r in csv.DictReader(open(REAL / "manifest.csv")) if r["set"] in ("tum", "kinect")]
    dm = ManifestDataModule(root=str(REAL), sets=["tum", "kinect"], **RAW)
    test = dm.dataset("test")
    assert len(test) == len(rows) == 8
    for i, row in enumerate(rows):
        sample = test[i]
        raw = cv2.imread(str(REAL / row["depth"]), cv2.IMREAD_UNCHANGED).astype(np.float32)
        expected = raw / np.float32(row["depth_scale"])
        valid = sample["valid"][0].numpy()
        assert np.allclose(sample["depth"][0].numpy()[valid], expected[valid]) and (raw[valid] > 0).all()
        assert sample["intrinsics"][0, 0].item() == pytest.approx(float(row["fx"]))


def test_a_manifest_is_not_a_training_set():
    with pytest.raises(DepthlabError, match="train split of data=manifest is empty: a manifest is an evaluation set"):
        ManifestDataModule(root=str(REAL), sets=["tum"], **RAW).dataset("train")
