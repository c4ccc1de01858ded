"""depthlab: monocular depth estimation experiments on Lightning + Hydra."""

import warnings

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
if not OmegaConf.has_resolver("metric_mode"):  # checkpoint / early-stopping / plateau mode follows monitor
    from depthlab.metrics.direction import metric_mode

    OmegaConf.register_new_resolver("metric_mode", metric_mode)
if not OmegaConf.has_resolver("shard_source"):  # data=stream: depth range of the config the shards came from
    from depthlab.data.shards import source_setting

    OmegaConf.register_new_resolver("shard_source", source_setting)

# conf/hydra/launcher/submitit_{slurm,local}.yaml deliberately keep the plugin's names and are checked against its
# schema; Hydra flags that as deprecated on every composition
warnings.filterwarnings(
    "ignore", message=r"(?s).*'hydra/launcher/submitit_\w+' is validated against ConfigStore schema"
)
