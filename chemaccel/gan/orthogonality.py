"""The orthogonality term that pushes the K generators apart.

All three variants are the mean squared cosine similarity between different generators (0 when they are
orthogonal, 1 when parallel):

* ``features``: per sample index b, between generator i's and j's hidden features after the private
  layers, ``F[i, b]`` and ``F[j, b]`` (non-negative ReLU features: orthogonal = disjoint active units);
* ``outputs``: the same on the generated samples, centred per generator over the batch;
* ``weights``: between the flattened first private-layer weights of generators i and j.

    ortho = sum_{i != j} cos(a_i, a_j)^2 / (K (K - 1))   (averaged over b for features/outputs)
"""

from __future__ import annotations

import torch


def pairwise_cos2(vectors: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean squared cosine similarity over distinct pairs.

    Args:
        vectors: (K, D) one vector per generator, or (K, B, D) one per generator and sample index.

    Returns:
        a scalar tensor in [0, 1]; 0 when K == 1.
    """
    if vectors.dim() == 2:
        vectors = vectors.unsqueeze(1)
    k = vectors.shape[0]
    if k < 2:
        return vectors.new_zeros(())
    unit = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(eps)
    gram = torch.einsum("ibd,jbd->bij", unit, unit)  # (B, K, K)
    off = gram.pow(2).sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).pow(2).sum(dim=1)
    return (off / (k * (k - 1))).mean()


def orthogonality(mode: str, features: torch.Tensor, outputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The term for ``mode`` (``features``, ``outputs`` or ``weights``); see the module docstring."""
    if mode == "features":
        return pairwise_cos2(features)
    if mode == "outputs":
        return pairwise_cos2(outputs - outputs.mean(dim=1, keepdim=True))
    if mode == "weights":
        return pairwise_cos2(weights)
    raise ValueError(f"unknown orthogonality mode {mode!r}")
