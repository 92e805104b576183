"""Neighbor lists within a cutoff, vectorized over a whole batch of molecules (no Python loop over atoms).

For a batch of molecules given as flat ``positions`` (N, 3) and the molecule index of each atom, all
ordered pairs ``(i, j)``, ``i != j``, of the same molecule with ``|r_j - r_i| < cutoff`` are returned as
``idx_i`` / ``idx_j`` (schnetpack's convention: messages flow from ``j`` to the centre atom ``i``). The
candidate pairs of a molecule with ``n`` atoms are its ``n**2`` ordered pairs, built for all molecules
at once with ``repeat_interleave``; memory grows with ``sum(n**2)``, which suits molecules (QM9: at most
29 atoms). Periodic systems are not handled. :func:`naive_neighbor_list` is the double-loop reference
used by the tests and the measurement.
"""

from __future__ import annotations

import torch


def neighbor_list(positions: torch.Tensor, idx_m: torch.Tensor, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs within ``cutoff`` (Angstrom) inside each molecule of a batch.

    Args:
        positions: (N, 3) atom positions in Angstrom.
        idx_m: (N,) molecule index of each atom, non-decreasing from 0 (atoms of a molecule contiguous).
        cutoff: radius in Angstrom; a pair is kept when its distance is strictly below it.

    Returns:
        ``(idx_i, idx_j)``, int64 tensors of equal length, sorted by ``idx_i`` then ``idx_j``.
    """
    n_atoms = positions.shape[0]
    device = positions.device
    if n_atoms == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    counts = torch.bincount(idx_m)  # atoms per molecule
    starts = torch.cumsum(counts, 0) - counts
    per_atom = counts[idx_m]  # candidate partners of each atom (its molecule's size)
    idx_i = torch.repeat_interleave(torch.arange(n_atoms, device=device), per_atom)
    first = torch.cumsum(per_atom, 0) - per_atom  # first candidate slot of each atom
    local = torch.arange(idx_i.numel(), device=device) - first[idx_i]
    idx_j = starts[idx_m[idx_i]] + local
    keep = idx_i != idx_j
    idx_i, idx_j = idx_i[keep], idx_j[keep]
    d2 = (positions[idx_j] - positions[idx_i]).pow(2).sum(-1)
    keep = d2 < cutoff * cutoff
    return idx_i[keep], idx_j[keep]


def naive_neighbor_list(positions: torch.Tensor, idx_m: torch.Tensor, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The same pairs with a Python double loop over atoms (reference for tests and timing only)."""
    pairs = []
    pos = positions.tolist()
    mol = idx_m.tolist()
    for i in range(len(pos)):
        for j in range(len(pos)):
            if i != j and mol[i] == mol[j]:
                d2 = sum((a - b) ** 2 for a, b in zip(pos[i], pos[j]))
                if d2 < cutoff * cutoff:
                    pairs.append((i, j))
    if not pairs:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty
    t = torch.tensor(pairs, dtype=torch.long)
    return t[:, 0], t[:, 1]
