"""An ASE calculator on a property model with a ``U0`` target: energy (eV) and forces (eV/Angstrom).

Forces are the negative gradient of the predicted energy with respect to the positions (autograd
through the distances, as schnetpack's calculator does), so ASE's optimizers and molecular dynamics
run on the model. The model was trained on energies of DFT minima only, not on forces: the forces are
those of its energy surface, good enough to relax a force-field geometry towards the model's minimum,
not a substitute for a force-trained potential. Example::

    from ase.optimize import BFGS
    from chemaccel import load_model
    from chemaccel.property.calculator import PropertyCalculator

    atoms.calc = PropertyCalculator(load_model("qm9-u0-schnet-pruned"))
    BFGS(atoms).run(fmax=0.05)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from chemaccel.errors import ConfigError
from chemaccel.property import keys
from chemaccel.property.data import collate_geometries


class PropertyCalculator(Calculator):
    """ASE calculator: ``energy`` = the model's prediction of ``target`` (default ``U0``) in eV, and
    ``forces`` = minus its gradient in eV/Angstrom.

    Args:
        model: a loaded :class:`~chemaccel.property.predict.PropertyModel` (``chemaccel.load_model``).
        target: which output is the energy.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, model: Any, target: str = "U0", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target not in model.targets:
            raise ConfigError(f"the model predicts {model.targets}, not {target!r}: an energy calculator needs U0")
        if getattr(model, "elements", None) is None:
            raise ConfigError("the calculator needs a loaded property model (chemaccel.load_model)")
        self.model, self.target = model, target

    def calculate(self, atoms: Any = None, properties: Any = ("energy",), system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        numbers = np.asarray(self.atoms.get_atomic_numbers())
        unknown = sorted({int(z) for z in numbers} - set(self.model.elements)) if self.model.elements else []
        if unknown:
            raise ConfigError(f"element(s) {unknown} not seen in training: the model cannot give their energy")
        positions = np.asarray(self.atoms.get_positions(), dtype=np.float64)
        if not np.all(np.isfinite(positions)):
            raise ConfigError("non-finite coordinates (NaN or infinity)")
        module = self.model.module
        param = next(module.parameters())
        batch = {k: v.to(param.device) for k, v in collate_geometries([numbers], [positions], module.cutoff).items()}
        # the positions in the model's precision (a model cast to float64 gives float64 forces)
        r = torch.as_tensor(positions, dtype=param.dtype, device=param.device).requires_grad_(True)
        batch[keys.R] = r
        with torch.enable_grad():
            energy = module(batch)[0, self.model.targets.index(self.target)]
            (grad,) = torch.autograd.grad(energy, r)
        self.results["energy"] = float(energy.detach())
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"] = -grad.detach().cpu().numpy().astype(np.float64)
