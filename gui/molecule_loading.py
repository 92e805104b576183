"""The task that reads a molecule file in a worker thread (see :mod:`chemaccel_gui.jobs`), handing the
records to the table in batches while it reads, so that a file of 100,000 molecules shows its first rows
at once and fills the table as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chemaccel import api

#: A progress report every this many records.
REPORT_EVERY = 100
#: The first batch handed over as soon as it holds this many records (or FIRST_SECONDS passed) ...
FIRST_BATCH = 200
FIRST_SECONDS = 0.5
#: ... and then one batch per this many seconds, so the table grows a few times a second, never per record.
BATCH_SECONDS = 0.25

#: ``on_batch(records, prop_names)``: records read since the last batch, property names so far
BatchSink = Callable[[list[api.MoleculeRecord], list[str]], None]


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


def load_molecules(path: str | Path, reporter: api.Reporter, on_batch: BatchSink | None = None) -> LoadedMolecules:
    """Read every record of ``path``, reporting the count and polling ``should_stop()`` per record.

    ``on_batch`` (called in the reading thread) receives the records in file order, in batches: the first
    :data:`FIRST_BATCH` at once (or what :data:`FIRST_SECONDS` gave), then what was read every
    :data:`BATCH_SECONDS`; every record read is in
    exactly one batch, the last one before this returns.

    Raises:
        chemaccel.api.InputError (or StoreError): the whole file cannot be read (empty, binary,
        unknown type, a CSV without a SMILES column, an HDF5 file that is not a chemaccel store).
    """
    path = Path(path)
    loaded = LoadedMolecules(path)
    names: dict[str, None] = {}
    reporter.on_start(f"Reading {path.name}", None)
    pending: list[api.MoleculeRecord] = []
    first, last = True, time.monotonic()
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
        if on_batch is not None:
            pending.append(record)
            now = time.monotonic()
            if (len(pending) >= FIRST_BATCH or now - last >= FIRST_SECONDS) if first else now - last >= BATCH_SECONDS:
                on_batch(pending, list(names))
                pending, first, last = [], False, now
        if len(loaded.records) % REPORT_EVERY == 0:
            reporter.on_progress(len(loaded.records), None, {"bad": float(loaded.n_bad)})
    loaded.prop_names = list(names)
    if on_batch is not None and pending:
        on_batch(pending, loaded.prop_names)
    count = len(loaded.records)
    reporter.on_progress(count, count or None, {"bad": float(loaded.n_bad)})
    return loaded
