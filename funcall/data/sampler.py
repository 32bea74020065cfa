"""Which example each rank trains on at each step: a pure function of (seed, sample counter).

The global stream is an endless sequence of epochs, each a seeded permutation of the dataset.
Sample ``k`` of the stream is ``perm(epoch = k // N)[k % N]``; optimizer step ``s`` consumes
samples ``[s * G, (s + 1) * G)`` with G the global batch, and rank ``r`` takes its contiguous
slice of each micro-batch. The only data state a checkpoint needs is the step number, and a
resumed run reads exactly the samples an unbroken one would, on any number of ranks.
"""
from __future__ import annotations

import random

import torch


class GlobalSampler:
    def __init__(self, size: int, seed: int, shuffle: bool = True):
        if size <= 0:
            raise ValueError("the training set is empty")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            if self.shuffle:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._perm = torch.randperm(self.size, generator=gen)
            else:
                self._perm = torch.arange(self.size)
            self._epoch = epoch
        return self._perm

    def sample(self, k: int) -> int:
        return int(self._permutation(k // self.size)[k % self.size])

    def micro_batch(self, step: int, micro: int, rank: int, world: int, micro_size: int, accum: int) -> list[int]:
        """Dataset indices for one rank's micro-batch ``micro`` of optimizer step ``step``."""
        global_batch = micro_size * accum * world
        start = step * global_batch + (micro * world + rank) * micro_size
        return [self.sample(k) for k in range(start, start + micro_size)]

    def stand_in(self, *where: int) -> int:
        """A replacement for a drawn example that cannot be used (over its token budget,
        `funcall.data.length_budget`): an index drawn from a stream of its own, keyed by
        ``where`` (step, round, rank, slot, attempt), so a resumed run draws the same one."""
        return random.Random("/".join(str(x) for x in (self.seed, *where))).randrange(self.size)
