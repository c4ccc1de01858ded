from depthlab.models.build import build_module
from depthlab.models.module import DepthModule
from depthlab.models.nets import SmpDepthNet

__all__ = ["DepthModule", "SmpDepthNet", "build_module"]
