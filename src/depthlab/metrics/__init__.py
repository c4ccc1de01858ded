"""Depth evaluation metrics: functional per-image metrics and a streaming torchmetrics Metric."""

from depthlab.metrics.depth import DepthMetrics
from depthlab.metrics.functional import DEPTH_METRIC_KEYS, depth_metrics, per_image_metrics

__all__ = ["DEPTH_METRIC_KEYS", "DepthMetrics", "depth_metrics", "per_image_metrics"]
