"""The seeded draw of a dataset mixture: which source each batch (or sample) comes from, epoch by epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from depthlab.utils.choices import check_choice

MIX_BY = ("batch", "sample")


class MixtureBatchSampler(Sampler[list[int]]):
    """`steps` batches per epoch; each batch (mix_by=batch) or sample (mix_by=sample) picks a source by weight.

    Indices are global positions in the ConcatDataset of the sources (`sizes` in order). Within a source samples
    are drawn without replacement from a fresh permutation, refilled when used up, so every sample is seen before
    any repeats. The draw is a function of (seed, epoch): set_epoch() is called by the module each epoch.
    """

    def __init__(
        self, sizes: Sequence[int], weights: Sequence[float], batch_size: int, steps: int, mix_by: str, seed: int = 0
    ) -> None:
        check_choice("data.mix_by", mix_by, MIX_BY)
        self.sizes, self.batch_size, self.steps, self.mix_by, self.seed = list(sizes), batch_size, steps, mix_by, seed
        self.weights = torch.tensor(weights, dtype=torch.float64)
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def sources(self, generator: torch.Generator) -> torch.Tensor:
        """[steps, batch_size] source index of every slot of the epoch."""
        if self.mix_by == "batch":
            per_batch = torch.multinomial(self.weights, self.steps, replacement=True, generator=generator)
            return per_batch[:, None].expand(self.steps, self.batch_size)
        draws = torch.multinomial(self.weights, self.steps * self.batch_size, replacement=True, generator=generator)
        return draws.view(self.steps, self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        streams = [_Stream(size, generator) for size in self.sizes]
        for row in self.sources(generator).tolist():
            yield [self.offsets[s] + streams[s].next() for s in row]


class _Stream:
    """Endless without-replacement draws from range(size): a new seeded permutation each time one is used up."""

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size, self.generator, self.order, self.at = size, generator, [], 0

    def next(self) -> int:
        if self.at >= len(self.order):
            self.order, self.at = torch.randperm(self.size, generator=self.generator).tolist(), 0
        self.at += 1
        return self.order[self.at - 1]
