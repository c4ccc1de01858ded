from depthlab.data.base import DepthDataModule, finalize_sample
from depthlab.data.synthetic import SyntheticDataModule, SyntheticDepthDataset

__all__ = ["DepthDataModule", "SyntheticDataModule", "SyntheticDepthDataset", "finalize_sample"]
