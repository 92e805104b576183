"""Batch keys (schnetpack's names, so batches interoperate with schnetpack modules) and units.

The names are written out rather than read from ``schnetpack.properties``: importing schnetpack runs its
package ``__init__`` (pytorch-lightning, torchmetrics, hydra: about 2 s), and the modules that only build
batches (reading molecules, 3D embedding in worker processes) should not pay that.
``tests/property/test_keys.py`` checks they equal schnetpack's.
"""

from __future__ import annotations

Z: str = "_atomic_numbers"  #: atomic numbers (N,) int64
R: str = "_positions"  #: positions (N, 3) Angstrom
IDX_M: str = "_idx_m"  #: molecule of each atom (N,)
N_ATOMS: str = "_n_atoms"  #: atoms per molecule (M,)
IDX_I: str = "_idx_i"  #: centre atom of each pair (P,)
IDX_J: str = "_idx_j"  #: neighbor atom of each pair (P,)
RIJ: str = "_Rij"  #: pair vectors r_j - r_i (P, 3) Angstrom

ENERGY_UNIT = "eV"
LENGTH_UNIT = "Angstrom"
