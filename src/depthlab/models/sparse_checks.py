"""Startup checks for sparse ground truth: dense-neighbourhood loss terms refused, the SSIM metric dropped."""

from __future__ import annotations

import logging
from typing import Any

from depthlab.losses.sparse import check_sparse_loss

log = logging.getLogger(__name__)


def check_sparse(module: Any, sample: dict[str, Any], dataset: str) -> None:
    """On a sparse sample (meta["sparse"]): refuse dense loss terms; stop computing the ssim metric, saying so once."""
    if not bool(sample.get("meta", {}).get("sparse", False)):
        return
    check_sparse_loss(module.loss, dataset)
    for split in ("train", "val", "test"):
        module.split_metrics(split).ssim = False
    log.warning("data=%s has sparse targets: the ssim metric is not computed (its window would compare holes)", dataset)
