"""The discriminator with an MGAN-style classifier head that tells the K generators apart.

PacGAN's discriminator: ``disc_layers`` hidden LinearMaxout layers (``maxout_pieces`` pieces) and a linear
real/fake output. With K > 1 a second linear head on the same last hidden layer predicts which generator
made a fake sample (Hoang et al., "MGAN", ICLR 2018: the classifier shares all but its last layer with the
discriminator).

For molecular graphs with ``novelty_weight`` > 0 the module also holds a small novelty critic (MolGAN's
reward network, De Cao and Kipf 2018, aimed at novelty): a separate two-layer network that reads a decoded
graph and predicts whether it is *not* a valid, novel molecule (invalid, or one of the training molecules),
learnt from rdkit's verdict on the generators' own samples.
"""

from __future__ import annotations

import torch
from torch import nn

from chemaccel.gan.layers import LinearMaxout


class Discriminator(nn.Module):
    """Real/fake logit and, for K > 1, generator-class logits.

    Args:
        in_dim: size of a sample.
        hidden: width of the hidden maxout layers.
        n_layers: number of hidden layers.
        pieces: maxout pieces.
        n_generators: K; the classifier head exists only when K > 1.
        init_std: standard deviation of the initial weights.
        novelty: also build the novelty critic.
    """

    def __init__(self, in_dim: int, hidden: int, n_layers: int, pieces: int, n_generators: int,
                 init_std: float = 0.02, novelty: bool = False):
        super().__init__()
        self.in_dim = in_dim
        dims = [in_dim] + [hidden] * n_layers
        self.body = nn.Sequential(*[LinearMaxout(dims[i], dims[i + 1], pieces, init_std) for i in range(n_layers)])
        self.out = nn.Linear(hidden, 1)
        self.classifier = nn.Linear(hidden, n_generators) if n_generators > 1 else None
        for lin in (self.out, self.classifier):
            if lin is not None:
                nn.init.normal_(lin.weight, 0.0, init_std)
                nn.init.zeros_(lin.bias)
        self.novelty = (nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
                        if novelty else None)

    def forward(self, x: torch.Tensor, novelty_input: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """``x`` (N, in_dim) -> (real/fake logits (N,), class logits (N, K) or None); with
        ``novelty_input`` (M, in_dim), decoded graphs, a third item: the critic's logits (M,) that a graph is
        not valid and novel (in one call, so that DDP sees one forward)."""
        h = self.body(x)
        logits = self.out(h).squeeze(-1)
        out = (logits, self.classifier(h) if self.classifier is not None else None)
        if novelty_input is None:
            return out
        if self.novelty is None:
            raise ValueError("this discriminator has no novelty critic (novelty_weight is 0)")
        return (*out, self.novelty(novelty_input).squeeze(-1))
