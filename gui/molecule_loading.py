"""The task that reads a molecule file in a worker thread (see :mod:`chemaccel_gui.jobs`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chemaccel import api

#: A progress report every this many records.
REPORT_EVERY = 100


@dataclass
class LoadedMolecules:
    """What :func:`load_molecules` read.

    Attributes:
        path: the file.
        records: every record in file order, good and bad (a bad one has ``.error``).
        prop_names: property names in order of first appearance (the table's extra columns).
        n_bad: how many records could not be read.
        cancelled: True when the user cancelled: ``records`` holds the ones read until then.
    """

    path: Path
    records: list[api.MoleculeRecord] = field(default_factory=list)
    prop_names: list[str] = field(default_factory=list)
    n_bad: int = 0
    cancelled: bool = False


def load_molecules(path: str | Path, reporter: api.Reporter) -> LoadedMolecules:
    """Read every record of ``path``, reporting the count and polling ``should_stop()`` per record.

    Raises:
        chemaccel.api.InputError (or StoreError): the whole file cannot be read (empty, binary,
        unknown type, a CSV without a SMILES column, an HDF5 file that is not a chemaccel store).
    """
    path = Path(path)
    loaded = LoadedMolecules(path)
    names: dict[str, None] = {}
    reporter.on_start(f"Reading {path.name}", None)
    for record in api.read_molecules(path):
        if reporter.should_stop():
            loaded.cancelled = True
            break
        record.smiles  # noqa: B018 - canonicalize here, off the GUI thread (cached on the record)
        loaded.records.append(record)
        if not record.ok:
            loaded.n_bad += 1
        for key in record.props:
            names.setdefault(key, None)
        if len(loaded.records) % REPORT_EVERY == 0:
            reporter.on_progress(len(loaded.records), None, {"bad": float(loaded.n_bad)})
    loaded.prop_names = list(names)
    count = len(loaded.records)
    reporter.on_progress(count, count or None, {"bad": float(loaded.n_bad)})
    return loaded
