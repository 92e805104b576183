import numpy as np
import torch

from chemaccel.property.neighbors import naive_neighbor_list, neighbor_list


def _batch(n_mol=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(1, 20, (n_mol,), generator=g)
    pos = torch.rand(int(counts.sum()), 3, generator=g) * 8
    idx_m = torch.repeat_interleave(torch.arange(n_mol), counts)
    return pos, idx_m


def _ase_pairs(pos: torch.Tensor, idx_m: torch.Tensor, cutoff: float) -> set[tuple[int, int]]:
    """The pairs ASE's neighbour list finds (an independent implementation), molecule by molecule."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list as ase_neighbor_list

    pairs = set()
    for m in torch.unique(idx_m).tolist():
        atoms_of = torch.nonzero(idx_m == m).flatten()
        start = int(atoms_of[0])
        atoms = Atoms(numbers=np.ones(len(atoms_of), dtype=int), positions=pos[atoms_of].double().numpy(), pbc=False)
        i, j = ase_neighbor_list("ij", atoms, cutoff, self_interaction=False)
        pairs |= {(start + int(a), start + int(b)) for a, b in zip(i, j)}
    return pairs


def test_neighbor_list_matches_ase_and_the_brute_force_reference():
    pos, idx_m = _batch()  # a QM9-sized batch: 100 molecules of 1-19 atoms
    fast = neighbor_list(pos, idx_m, 4.0)
    ref = naive_neighbor_list(pos, idx_m, 4.0)
    assert torch.equal(fast[0], ref[0]) and torch.equal(fast[1], ref[1])
    found = set(zip(fast[0].tolist(), fast[1].tolist()))
    assert len(found) == len(fast[0]) > 1000
    # ASE decides in float64; leave out the pairs within 1e-5 A of the cutoff, where float32 may differ
    d = (pos[fast[1]] - pos[fast[0]]).norm(dim=1)
    assert (d < 4.0).all() and (idx_m[fast[0]] == idx_m[fast[1]]).all()
    expected = _ase_pairs(pos, idx_m, 4.0)
    pos64 = pos.double()
    borderline = {(i, j) for i, j in found ^ expected if abs(float((pos64[i] - pos64[j]).norm()) - 4.0) < 1e-5}
    assert found - borderline == expected - borderline


def test_neighbor_list_edge_cases():
    empty = neighbor_list(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 5.0)
    assert empty[0].numel() == 0
    single = neighbor_list(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), 5.0)
    assert single[0].numel() == 0
