"""RecentMolecules: the last M molecules the generators made, so that the critic can flag repeats.

A generator that has collapsed onto a few molecules makes each of them often. The novelty critic
(:class:`chemaccel.gan.discriminator.Discriminator`) learns rdkit's verdict "invalid or a training molecule";
with a memory of the molecules made in the last steps it also learns "made recently", so its penalty grows
with how often a molecule comes out: a reward for molecules not yet produced. A molecule made with
probability p per sample is in a memory of M molecules with probability about 1 - (1 - p)^M, so with M near
the number of samples a user asks for (10,000) exactly the molecules that would repeat in such a draw are
pushed down, and a generator that spreads its samples over more molecules than M is left alone.

The memory holds 63-bit hashes of canonical SMILES (:func:`chemaccel.gan.molgraph.smiles_hash`) in a ring
buffer with a count per hash; it is part of the training checkpoint (``state()`` / ``load_state()``).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np


class RecentMolecules:
    """A ring buffer of the last ``size`` molecule hashes.

    Args:
        size: how many of the latest molecules are remembered (>= 1).
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the memory must hold at least one molecule, got {size}")
        self.size = size
        self._ring = np.full(size, -1, dtype=np.int64)
        self._next = 0
        self._filled = 0
        self._counts: Counter[int] = Counter()

    def __len__(self) -> int:
        return self._filled

    def __contains__(self, h: int) -> bool:
        return self._counts.get(int(h), 0) > 0

    def seen_then_add(self, hashes: Sequence[int]) -> np.ndarray:
        """For each hash in order: was it made before (in the memory, or earlier in ``hashes``)? Then
        remember all of them (the oldest fall out). Returns a boolean array."""
        seen = np.zeros(len(hashes), dtype=bool)
        for i, h in enumerate(hashes):
            h = int(h)
            seen[i] = self._counts.get(h, 0) > 0
            self._add(h)
        return seen

    def _add(self, h: int) -> None:
        old = int(self._ring[self._next])
        if self._filled == self.size:
            self._counts[old] -= 1
            if self._counts[old] == 0:
                del self._counts[old]
        else:
            self._filled += 1
        self._ring[self._next] = h
        self._counts[h] += 1
        self._next = (self._next + 1) % self.size

    def state(self) -> dict[str, np.ndarray]:
        """The memory in time order, oldest first (for a checkpoint)."""
        if self._filled < self.size:
            return {"hashes": self._ring[:self._filled].copy()}
        return {"hashes": np.roll(self._ring, -self._next).copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` (a longer saved memory keeps its newest ``size`` hashes)."""
        self.__init__(self.size)
        for h in np.asarray(state["hashes"], dtype=np.int64)[-self.size:]:
            self._add(int(h))
