"""The batch keys are schnetpack's, written out so that building batches does not import schnetpack."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from chemaccel.property import keys


def test_the_keys_are_schnetpack_s():
    if importlib.util.find_spec("schnetpack") is None:
        pytest.skip("schnetpack is not installed (pip install 'chemaccel[property]')")
    from chemaccel.property.schnetpack_compat import schnetpack_modules

    properties = schnetpack_modules().properties
    assert (keys.Z, keys.R, keys.IDX_M, keys.N_ATOMS, keys.IDX_I, keys.IDX_J, keys.RIJ) == (
        properties.Z, properties.R, properties.idx_m, properties.n_atoms, properties.idx_i, properties.idx_j,
        properties.Rij)


def test_reading_and_embedding_do_not_import_schnetpack():
    """predict --workers forks its embedding processes before the model (and schnetpack) loads."""
    code = ("import sys; import chemaccel.property.predict, chemaccel.property.data; "
            "print('schnetpack' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
