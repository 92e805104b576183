"""An ASE calculator for the energy (eV) predicted by a property model with a ``U0`` target.

Example::

    from chemaccel import load_model
    from chemaccel.property.calculator import PropertyCalculator
    atoms.calc = PropertyCalculator(load_model("my-u0-model"))
    atoms.get_potential_energy()   # eV, the model's U0

Forces are not provided (the models are trained on energies only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from chemaccel.errors import ConfigError


class PropertyCalculator(Calculator):
    """ASE calculator: ``energy`` = the model's prediction of ``target`` (default ``U0``) in eV.

    Args:
        model: a loaded :class:`~chemaccel.property.predict.PropertyModel` (``chemaccel.load_model``).
        target: which output is the energy.
    """

    implemented_properties = ["energy"]

    def __init__(self, model: Any, target: str = "U0", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target not in model.targets:
            raise ConfigError(f"the model predicts {model.targets}, not {target!r}: an energy calculator needs U0")
        self.model, self.target = model, target

    def calculate(self, atoms: Any = None, properties: Any = ("energy",), system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        values = self.model.predict_geometries([np.asarray(self.atoms.get_atomic_numbers())],
                                               [np.asarray(self.atoms.get_positions())])
        self.results["energy"] = float(values[0, self.model.targets.index(self.target)])
