"""depthlab: monocular depth estimation experiments on Lightning + Hydra."""

from omegaconf import OmegaConf

from depthlab.utils.precision import cpu_precision

__version__ = "0.1.0"

if not OmegaConf.has_resolver("cpu_precision"):
    OmegaConf.register_new_resolver("cpu_precision", cpu_precision)
