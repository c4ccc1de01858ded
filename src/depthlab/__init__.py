"""depthlab: monocular depth estimation experiments on Lightning + Hydra."""

from omegaconf import OmegaConf

from depthlab.utils.precision import default_precision

__version__ = "0.1.0"

if not OmegaConf.has_resolver("default_precision"):
    OmegaConf.register_new_resolver("default_precision", default_precision)
if not OmegaConf.has_resolver("is_gpu"):  # SyncBatchNorm exists only on GPUs: `sync_batchnorm: ${is_gpu:...}`
    OmegaConf.register_new_resolver("is_gpu", lambda accelerator: str(accelerator) in ("gpu", "cuda"))
if not OmegaConf.has_resolver("metric_direction"):  # Optuna's direction follows optimized_metric
    from depthlab.metrics.direction import metric_direction

    OmegaConf.register_new_resolver("metric_direction", metric_direction)
