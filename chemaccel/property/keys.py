"""Batch keys (schnetpack's names, so batches interoperate with schnetpack modules) and units."""

from __future__ import annotations

from chemaccel.property.schnetpack_compat import schnetpack_modules

_P = schnetpack_modules().properties

Z: str = _P.Z  #: atomic numbers (N,) int64
R: str = _P.R  #: positions (N, 3) Angstrom
IDX_M: str = _P.idx_m  #: molecule of each atom (N,)
N_ATOMS: str = _P.n_atoms  #: atoms per molecule (M,)
IDX_I: str = _P.idx_i  #: centre atom of each pair (P,)
IDX_J: str = _P.idx_j  #: neighbor atom of each pair (P,)
RIJ: str = _P.Rij  #: pair vectors r_j - r_i (P, 3) Angstrom

ENERGY_UNIT = "eV"
LENGTH_UNIT = "Angstrom"
