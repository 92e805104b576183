"""A connectivity term: it penalizes generated graphs whose decoded molecule falls apart into fragments.

Most invalid graphs of a MolGAN-style generator on QM9 are not bad valences but several fragments (rdkit
sanitizes them; MolGAN's rule rejects them): in 10,000 samples of session 8's ``gan-qm9`` model, 1,576
were fragments and 61 had a bad valence. This term sees what ``sample`` decodes - the most likely atom and
bond types, taken straight-through (one-hot forward, the softmax's gradient backward) - and measures its
connectivity with the algebraic connectivity (the second-smallest Laplacian eigenvalue, Fiedler 1973):

    A_ij = present_i * present_j * bonded_ij          (present: atom type is not "none")
    L    = diag(A 1) - A + c * diag(1 - present)      (absent atoms sit at eigenvalue c, out of the way)
    term = mean over graphs of relu(margin - lambda_2(L)) / margin

lambda_2 is 0 exactly when the present atoms form more than one fragment. The smallest lambda_2 of a
connected graph of n atoms is the path's, 2 (1 - cos(pi / n)) = 0.12 for n = 9, so with ``margin`` 0.1 a
connected molecule costs nothing and the term only acts on fragments: its gradient asks for bonds between
the fragments (or for a fragment's atoms to go).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from chemaccel.gan.data import straight_through_argmax
from chemaccel.gan.molgraph import ATOM_TYPES, BOND_TYPES, graph_dims

ABSENT_EIGENVALUE = 1.0
DEFAULT_MARGIN = 0.1


def algebraic_connectivity(raw: torch.Tensor, max_atoms: int) -> torch.Tensor:
    """lambda_2 of each decoded graph's Laplacian (see the module docstring), differentiable in ``raw``.

    Args:
        raw: (n, dim) generator outputs: atom-type scores then bond-type scores, as in
            :func:`chemaccel.gan.molgraph.graph_dims`.
        max_atoms: the graphs' atom limit N.

    Returns:
        (n,) tensor; 0 for a graph in several fragments, > 0 for a connected one (and for an empty graph).
    """
    a_size, _, total = graph_dims(max_atoms)
    if raw.dim() != 2 or raw.shape[1] != total:
        raise ValueError(f"graph outputs for {max_atoms} atoms have shape (n, {total}), "
                         f"got {tuple(raw.shape)}")
    n = raw.shape[0]
    raw = raw.float()  # eigvalsh has no half-precision kernels (bf16 / fp16 mixed precision)
    atoms = straight_through_argmax(raw[:, :a_size].reshape(n, max_atoms, len(ATOM_TYPES)))
    bonds = straight_through_argmax(raw[:, a_size:].reshape(n, -1, len(BOND_TYPES)))
    present = 1.0 - atoms[..., 0]  # (n, N)
    bonded = 1.0 - bonds[..., 0]  # (n, P)
    iu = torch.triu_indices(max_atoms, max_atoms, offset=1, device=raw.device)
    adj = raw.new_zeros(n, max_atoms, max_atoms)
    adj[:, iu[0], iu[1]] = bonded
    adj = adj + adj.transpose(1, 2)
    adj = adj * present.unsqueeze(2) * present.unsqueeze(1)
    lap = torch.diag_embed(adj.sum(-1) + ABSENT_EIGENVALUE * (1.0 - present)) - adj
    return torch.linalg.eigvalsh(lap)[:, 1]


def connectivity(raw: torch.Tensor, max_atoms: int, margin: float = DEFAULT_MARGIN) -> torch.Tensor:
    """The connectivity term: mean of ``relu(margin - lambda_2) / margin`` over the graphs (0 when every
    decoded graph is one fragment, 1 when every one is in pieces)."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    return (F.relu(margin - algebraic_connectivity(raw, max_atoms)) / margin).mean()
