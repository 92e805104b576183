"""A mode-seeking term that makes each generator's output depend on its noise (Mao et al. 2019, MSGAN).

A collapsed generator maps most noise vectors z to the same sample. For each generator, the batch is split
into two halves that are paired sample by sample, and the term is

    ms_k = mean|z_1 - z_2| / (mean|G_k(z_1) - G_k(z_2)| + eps)        diversity = mean over k of ms_k

(L1 distances averaged over features and pairs). It is small when two noise vectors give samples that are
far apart. For molecular graphs the outputs are the atom and bond probabilities, so lowering it moves the
most likely types, and with them the argmax-decoded molecules, as z moves.
"""

from __future__ import annotations

import torch


def mode_seeking(outputs: torch.Tensor, noise: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The mode-seeking loss of K generators.

    Args:
        outputs: (K, B, D) samples (or probabilities) of generator k for noise ``noise[k, b]``.
        noise: (K, B, Z) the noise vectors.
        eps: keeps the ratio finite for a fully collapsed generator.

    Returns:
        a non-negative scalar tensor (differentiable in ``outputs``).

    Raises:
        ValueError: fewer than two samples per generator, or mismatched K / B.
    """
    if outputs.dim() != 3 or noise.dim() != 3 or outputs.shape[:2] != noise.shape[:2]:
        raise ValueError(f"outputs (K, B, D) and noise (K, B, Z) must agree, got {tuple(outputs.shape)} "
                         f"and {tuple(noise.shape)}")
    half = outputs.shape[1] // 2
    if half < 1:
        raise ValueError("the mode-seeking term needs at least 2 samples per generator")
    d_out = (outputs[:, :half] - outputs[:, half:2 * half]).abs().mean(dim=(1, 2))
    d_z = (noise[:, :half] - noise[:, half:2 * half]).abs().mean(dim=(1, 2))
    return (d_z / (d_out + eps)).mean()
