"""Tensor operations shared by losses, metrics, data and inference: masked reductions, alignment, pairs, cameras."""
