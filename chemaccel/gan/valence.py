"""Valence for generated molecular graphs: a training term for bonds beyond what each atom can carry, and
a valence-masked way of drawing a graph.

After fragments, the commonest invalid graph has an atom with more bond orders than its element allows
(a carbon with five, an oxygen with three). For each graph the term takes the one-hot atom and bond types
that decoding would read (straight-through: the gradient reaches the type probabilities), the valence of
each present atom ``v_i = sum_j order(bond_ij)`` over present neighbours, the element's largest neutral
valence ``m_i`` (C 4, N 3, O 2, F 1) and sums the excess ``relu(v_i - m_i)``; the term is the mean excess
per graph (0 when every atom is within its valence). Its gradient lowers the probability of the bonds that
overload an atom (or raises that of an element that can carry them).

:func:`draw_valence_masked` draws a graph from the generator's type probabilities the way a chemist would
build it: atom types first, then the bonds, most likely bonded pair first, each drawn from the bond types
that both atoms' remaining valence can still carry (the generator's probabilities restricted to those and
renormalized). No atom ends over its valence; a graph can still be in several fragments (invalid). With
``connect`` the fragments are then joined: while a graph has more than one, a single bond is added between
the two atoms of different fragments that the generator most wants bonded (highest probability of any
bond) and that both still have a free valence; a graph whose fragments have no such pair stays as it is.
Constrained generation of this kind is what graph decoders such as CGVAE do by construction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from chemaccel.gan.data import straight_through_argmax
from chemaccel.gan.molgraph import ATOM_TYPES, BOND_TYPES, graph_dims

MAX_VALENCE = {0: 0.0, 6: 4.0, 7: 3.0, 8: 2.0, 9: 1.0}
BOND_ORDER = {"none": 0.0, "single": 1.0, "double": 2.0, "triple": 3.0}


def valence_excess(graphs: torch.Tensor, max_atoms: int) -> torch.Tensor:
    """Sum over atoms of the valence excess of each graph, (n,), differentiable in ``graphs``.

    Args:
        graphs: (n, dim) atom-type then bond-type scores or one-hot vectors (as
            :func:`chemaccel.gan.molgraph.graph_dims`); the most likely type of each is read, with the
            gradient of its softmax.
        max_atoms: the graphs' atom limit N.
    """
    a_size, _, total = graph_dims(max_atoms)
    if graphs.dim() != 2 or graphs.shape[1] != total:
        raise ValueError(f"graph outputs for {max_atoms} atoms have shape (n, {total}), "
                         f"got {tuple(graphs.shape)}")
    n = graphs.shape[0]
    graphs = graphs.float()
    atoms = straight_through_argmax(graphs[:, :a_size].reshape(n, max_atoms, len(ATOM_TYPES)))
    bonds = straight_through_argmax(graphs[:, a_size:].reshape(n, -1, len(BOND_TYPES)))
    capacity = atoms @ graphs.new_tensor([MAX_VALENCE[z] for z in ATOM_TYPES])  # (n, N)
    present = 1.0 - atoms[..., 0]
    order = bonds @ graphs.new_tensor([BOND_ORDER[b] for b in BOND_TYPES])  # (n, P)
    iu = torch.triu_indices(max_atoms, max_atoms, offset=1, device=graphs.device)
    adj = graphs.new_zeros(n, max_atoms, max_atoms)
    adj[:, iu[0], iu[1]] = order
    adj = adj + adj.transpose(1, 2)
    valence = (adj * present.unsqueeze(1)).sum(-1) * present  # bonds to absent atoms are not read
    return torch.relu(valence - capacity).sum(-1)


def valence(graphs: torch.Tensor, max_atoms: int) -> torch.Tensor:
    """The valence term: mean over graphs of :func:`valence_excess`."""
    return valence_excess(graphs, max_atoms).mean()


def draw_valence_masked(raw: torch.Tensor, max_atoms: int, temperature: float,
                        generator: torch.Generator | None = None, connect: bool = False) -> torch.Tensor:
    """One-hot graphs (n, dim) drawn from ``softmax(raw / temperature)`` with valence masks (see the module
    docstring); seeded by ``generator``; with ``connect`` the fragments of each graph joined where the
    atoms' valences allow (:func:`join_fragments`)."""
    a_size, _, total = graph_dims(max_atoms)
    if raw.dim() != 2 or raw.shape[1] != total:
        raise ValueError(f"graph outputs for {max_atoms} atoms have shape (n, {total}), got {tuple(raw.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = raw.shape[0]
    raw = raw.detach().float()
    n_types, n_bonds = len(ATOM_TYPES), len(BOND_TYPES)
    atom_probs = (raw[:, :a_size].reshape(-1, n_types) / temperature).softmax(-1)
    atoms = torch.multinomial(atom_probs, 1, generator=generator).reshape(n, max_atoms)
    room = raw.new_tensor([MAX_VALENCE[z] for z in ATOM_TYPES])[atoms]  # remaining valence; 0 if absent
    orders = raw.new_tensor([BOND_ORDER[b] for b in BOND_TYPES])
    bond_probs = (raw[:, a_size:].reshape(n, -1, n_bonds) / temperature).softmax(-1)
    first = torch.argsort(bond_probs[..., 0], dim=1, stable=True)  # least likely "no bond" first
    iu = torch.triu_indices(max_atoms, max_atoms, offset=1)
    bonds = torch.zeros(n, bond_probs.shape[1], dtype=torch.long)
    rows = torch.arange(n)
    for step in range(bond_probs.shape[1]):
        pair = first[:, step]
        i, j = iu[0][pair], iu[1][pair]
        fits = orders[None, :] <= torch.minimum(room[rows, i], room[rows, j])[:, None]  # "none" always fits
        probs = bond_probs[rows, pair] * fits
        probs[:, 0] += 1e-12  # "no bond" always fits: never a row of zeros
        kind = torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=generator).squeeze(1)
        bonds[rows, pair] = kind
        room[rows, i] -= orders[kind]
        room[rows, j] -= orders[kind]
    if connect:
        join_fragments(atoms, bonds, room, 1.0 - bond_probs[..., 0], max_atoms)
    return torch.cat([F.one_hot(atoms, n_types).reshape(n, -1), F.one_hot(bonds, n_bonds).reshape(n, -1)],
                     dim=1).to(raw.dtype)


def fragments(atoms: torch.Tensor, bonds: torch.Tensor, max_atoms: int) -> torch.Tensor:
    """Fragment label of each atom, (n, N): the lowest index of a present atom it is connected to, -1 for
    absent atoms. ``atoms`` (n, N) type indices (0 = absent), ``bonds`` (n, P) bond-type indices over the
    upper triangle (0 = none)."""
    n = atoms.shape[0]
    present = atoms != 0
    iu = torch.triu_indices(max_atoms, max_atoms, offset=1)
    adj = torch.zeros(n, max_atoms, max_atoms, dtype=torch.bool)
    adj[:, iu[0], iu[1]] = bonds != 0
    adj = (adj | adj.transpose(1, 2)) & present[:, :, None] & present[:, None, :]
    adj |= torch.diag_embed(present)
    index = torch.arange(max_atoms).expand(n, max_atoms)
    label = torch.where(present, index, max_atoms)
    for _ in range(max_atoms):  # min-label propagation: N rounds reach every path
        spread = torch.where(adj, label[:, None, :], max_atoms).amin(-1)
        if torch.equal(spread, label):
            break
        label = spread
    return torch.where(present, label, -1)


def join_fragments(atoms: torch.Tensor, bonds: torch.Tensor, room: torch.Tensor, bond_wish: torch.Tensor,
                   max_atoms: int) -> int:
    """Join the fragments of each graph in place with single bonds; returns how many bonds were added.

    Args:
        atoms: (n, N) atom type indices (0 = absent).
        bonds: (n, P) bond type indices over the upper-triangle pairs, changed in place.
        room: (n, N) remaining valence of each atom, changed in place.
        bond_wish: (n, P) how much the generator wants each pair bonded (the probability of any bond).
        max_atoms: N.

    While a graph has several fragments, the pair of atoms in different fragments with the highest
    ``bond_wish`` among those whose atoms both have a free valence gets a single bond.
    """
    iu = torch.triu_indices(max_atoms, max_atoms, offset=1)
    single = BOND_TYPES.index("single")
    added = 0
    labels = fragments(atoms, bonds, max_atoms)
    several = [r for r in range(atoms.shape[0]) if len(set(labels[r].tolist()) - {-1}) > 1]
    for r in several:
        label = labels[r].clone()
        while len(set(label.tolist()) - {-1}) > 1:
            li, lj = label[iu[0]], label[iu[1]]
            free = (room[r, iu[0]] >= 1) & (room[r, iu[1]] >= 1)
            ok = (li >= 0) & (lj >= 0) & (li != lj) & free & (bonds[r] == 0)
            if not ok.any():
                break
            pair = int(torch.where(ok, bond_wish[r], -1.0).argmax())
            i, j = int(iu[0][pair]), int(iu[1][pair])
            bonds[r, pair] = single
            room[r, i] -= 1
            room[r, j] -= 1
            label[label == label[j]] = label[i]
            added += 1
    return added
