"""QM9 (Ramakrishnan et al., Sci. Data 1, 140022, 2014) into a :class:`~chemaccel.chem.store.MoleculeStore`.

Two sources give the same store:

* the PyPI package ``qm9pack==1.0.3`` (``pip install 'chemaccel[qm9]'``): three CSV files with the
  130,831 molecules that passed QM9's consistency check, B3LYP/6-31G(2df,p) geometries in Angstrom
  and energies in Hartree: :func:`convert_qm9`;
* the original archive ``dsgdb9nsd.xyz.tar.bz2`` (133,885 extended-XYZ files) at :data:`QM9_URL`,
  fetched into the cache by :func:`download_qm9`: :func:`convert_qm9_archive`
  (see :mod:`chemaccel.datasets.qm9_xyz`).

Stored properties use schnetpack's short names (:data:`PROPERTY_UNITS`). Energies (homo, lumo, gap,
zpve, U0, U, H, G) are converted from Hartree to eV with :data:`HARTREE_TO_EV` (CODATA 2018, the
value of ``ase.units.Hartree``), recorded in each property's ``conversion`` attribute; the other
properties keep QM9's units. Per-element references of U0, U, H, G (eV) and Cv are stored under
``atomrefs/`` (QM9's ``atomref.txt``, the values schnetpack ships). Mulliken charges, harmonic
frequencies and the polarizability tensor are not stored.

The split (:func:`qm9_split`) is fixed by a seed and stored as ``splits/train|valid|test``.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import ConfigError, InputError, NotAvailableError, StoreError
from chemaccel.reporting import NullReporter, Reporter

HARTREE_TO_EV = 27.211386245988  # CODATA 2018, = ase.units.Hartree
QM9_URL = "https://springernature.figshare.com/ndownloader/files/3195389"
QM9_ARCHIVE_NAME = "dsgdb9nsd.xyz.tar.bz2"
QM9_EXCLUDED_URL = "https://springernature.figshare.com/ndownloader/files/3195404"  # uncharacterized.txt
QM9_N_MOLECULES = 130_831  # in qm9pack (the 133,885 of the archive less 3,054 failing the check)
QM9_CSV_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
REFERENCE = "Ramakrishnan, Dral, Rupp, von Lilienfeld, Sci. Data 1, 140022 (2014)"

#: Stored name -> unit, in the order of the 15 properties on line 2 of a QM9 .xyz file.
PROPERTY_UNITS: dict[str, str] = {
    "rotational_constant_A": "GHz",
    "rotational_constant_B": "GHz",
    "rotational_constant_C": "GHz",
    "mu": "Debye",
    "alpha": "a0^3",
    "homo": "eV",
    "lumo": "eV",
    "gap": "eV",
    "r2": "a0^2",
    "zpve": "eV",
    "U0": "eV",
    "U": "eV",
    "H": "eV",
    "G": "eV",
    "Cv": "cal/mol/K",
}
ENERGY_PROPERTIES = ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G")
CONVERSION = f"Hartree->eV x {HARTREE_TO_EV!r}"
_CSV_COLUMNS = (  # qm9pack column of each entry of PROPERTY_UNITS, same order
    "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au",
    "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au",
    "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K",
)  # fmt: skip
_CSV_KEYS = ("XYZ_file", "SMILES", "N_atoms", "Elements", "XYZ_Ang")
_ENERGY_MASK = np.array([name in ENERGY_PROPERTIES for name in PROPERTY_UNITS])

#: QM9 atomref.txt, Hartree (Cv: cal/mol/K), for H, C, N, O, F.
ATOMREFS_HARTREE: dict[str, dict[int, float]] = {
    "U0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "U": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063163, 9: -99.717314},
    "H": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "G": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
    "Cv": {1: 2.981, 6: 2.981, 7: 2.981, 8: 2.981, 9: 2.981},
}
SYMBOLS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SYMBOL = re.compile(r"[A-Z][a-z]?")


@dataclass
class QM9Summary:
    """What a conversion did. ``cancelled``: stopped by the reporter, nothing was written at ``path``."""

    path: Path
    n_molecules: int
    n_atoms: int
    properties: dict[str, str] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""
    cancelled: bool = False

    def to_dict(self) -> dict:
        return {**self.__dict__, "path": str(self.path)}


# A raw record: numbers, positions (Angstrom), SMILES, name, the 15 properties in QM9's units.
Record = tuple[np.ndarray, np.ndarray, str, str, np.ndarray]


def qm9pack_data_dir() -> Path:
    """The ``data`` folder of the installed qm9pack, found without importing it."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailableError(
            "QM9 needs the package qm9pack: pip install 'chemaccel[qm9]' (or qm9pack==1.0.3), "
            "or pass the folder of its CSV files (--source), or download the original archive (--download)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def iter_qm9pack(source_dir: str | Path | None = None) -> Iterator[Record]:
    """Stream the molecules of qm9pack's CSV files (in file order: QM9 index 1, 2, ...)."""
    folder = Path(source_dir) if source_dir is not None else qm9pack_data_dir()
    files = _csv_files(folder)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None) or []
            try:
                col = {name: header.index(name) for name in _CSV_KEYS}
                prop_cols = [header.index(name) for name in _CSV_COLUMNS]
            except ValueError as exc:
                raise InputError(path, f"not a qm9pack CSV file: {exc}") from None
            for row_no, row in enumerate(reader, start=2):
                try:
                    yield _csv_record(row, col, prop_cols)
                except (ValueError, IndexError, KeyError) as exc:
                    raise InputError(path, f"bad QM9 row: {exc}", record=row_no) from None


def _csv_record(row: list[str], col: dict[str, int], prop_cols: list[int]) -> Record:
    numbers = np.array([SYMBOLS[s] for s in _SYMBOL.findall(row[col["Elements"]])], dtype=np.uint8)
    xyz = np.array(_FLOAT.findall(row[col["XYZ_Ang"]]), dtype=np.float64)
    n = int(row[col["N_atoms"]])
    if len(numbers) != n or xyz.size != 3 * n:
        raise ValueError(f"N_atoms={n} but {len(numbers)} elements and {xyz.size} coordinates")
    props = np.array([float(row[c]) for c in prop_cols], dtype=np.float64)
    name = row[col["XYZ_file"]].removesuffix(".xyz")
    return numbers, xyz.reshape(n, 3), row[col["SMILES"]], name, props


def convert_qm9(
    out_path: str | Path,
    *,
    source_dir: str | Path | None = None,
    limit: int | None = None,
    chunk: int = 5000,
    reporter: Reporter | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> QM9Summary:
    """Convert QM9 from qm9pack's CSV files (or ``source_dir`` holding them) into a store at ``out_path``.

    Streams ``chunk`` molecules at a time (memory stays flat). Stops at the next chunk when
    ``reporter.should_stop()`` and then writes nothing at ``out_path`` (``QM9Summary.cancelled``).

    Args:
        out_path: the ``.h5`` store to write.
        source_dir: folder with ``qm9_part1..3.csv`` (default: the installed qm9pack's).
        limit: convert only the first ``limit`` molecules (QM9 index order).
        chunk: molecules per append.
        reporter: progress (molecules) and cancel.
        seed: seed of the train/valid/test split (:func:`qm9_split`).
        overwrite: replace an existing store at ``out_path``.
    """
    folder = Path(source_dir) if source_dir is not None else qm9pack_data_dir()
    _csv_files(folder)  # fail before creating anything
    total = limit if limit is not None else _count_rows(folder)
    source = f"qm9pack {_qm9pack_version()} CSV" if source_dir is None else f"qm9pack CSV files in {folder}"
    return write_qm9_store(iter_qm9pack(folder), out_path, source=source, total=total, limit=limit,
                           chunk=chunk, reporter=reporter, seed=seed, overwrite=overwrite)  # fmt: skip


def write_qm9_store(
    records: Iterable[Record],
    out_path: str | Path,
    *,
    source: str,
    total: int | None = None,
    limit: int | None = None,
    chunk: int = 5000,
    reporter: Reporter | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> QM9Summary:
    """Write raw QM9 records (properties in QM9's units) into a new store, with atomrefs and splits."""
    if limit is not None and limit < 1:
        raise InputError(str(out_path), f"limit must be at least 1, not {limit}")
    if chunk < 1:
        raise InputError(str(out_path), f"chunk must be at least 1, not {chunk}")
    reporter = reporter or NullReporter()
    out_path = Path(out_path)
    started = time.perf_counter()
    conversions = {name: CONVERSION for name in ENERGY_PROPERTIES}
    attrs = {"dataset": "QM9", "source": source, "reference": REFERENCE, "hartree_to_ev": HARTREE_TO_EV}
    done = n_atoms = 0
    reporter.on_start("QM9 -> store", total)
    store = MoleculeStore.create(out_path, PROPERTY_UNITS, overwrite, conversions=conversions, attrs=attrs)
    with store:
        for prop, refs in ATOMREFS_HARTREE.items():
            factor = HARTREE_TO_EV if prop in ENERGY_PROPERTIES else 1.0
            values = np.zeros(max(SYMBOLS.values()) + 1)
            for z, value in refs.items():
                values[z] = value * factor
            store.set_atomref(prop, values, PROPERTY_UNITS[prop])
        batch: list[Record] = []
        try:
            for record in records:
                batch.append(record)
                if len(batch) == chunk or (limit is not None and done + len(batch) >= limit):
                    if reporter.should_stop():
                        break
                    n_atoms += _append(store, batch)
                    done += len(batch)
                    batch = []
                    reporter.on_progress(done, total, {"atoms": float(n_atoms)})
                    if limit is not None and done >= limit:
                        break
        finally:
            close = getattr(records, "close", None)  # a generator: close its files now
            if close is not None:
                close()
        if reporter.should_stop():
            store.abort()
            reporter.on_message(f"cancelled after {done} molecules: nothing written to {out_path}")
            return QM9Summary(out_path, done, n_atoms, dict(PROPERTY_UNITS), {},
                              time.perf_counter() - started, source, cancelled=True)  # fmt: skip
        if batch:
            n_atoms += _append(store, batch)
            done += len(batch)
            reporter.on_progress(done, total, {"atoms": float(n_atoms)})
        if done == 0:
            raise InputError(source, "no QM9 molecules found")
        splits = qm9_split(done, seed=seed)
        for name, idx in splits.items():
            store.set_split(name, idx, seed=seed, rule=SPLIT_RULE)
    return QM9Summary(
        path=out_path,
        n_molecules=done,
        n_atoms=n_atoms,
        properties=dict(PROPERTY_UNITS),
        splits={k: len(v) for k, v in splits.items()},
        seconds=time.perf_counter() - started,
        source=source,
    )


def _append(store: MoleculeStore, batch: list[Record]) -> int:
    raw = np.stack([r[4] for r in batch])
    raw[:, _ENERGY_MASK] *= HARTREE_TO_EV
    store.append(
        [r[0] for r in batch],
        [r[1] for r in batch],
        properties={name: raw[:, k] for k, name in enumerate(PROPERTY_UNITS)},
        smiles=[r[2] for r in batch],
        names=[r[3] for r in batch],
    )
    return sum(len(r[0]) for r in batch)


# --------------------------------------------------------------------- split
SPLIT_RULE = (
    "rows permuted by numpy.random.default_rng(seed).permutation(n); the first n_train are train, the "
    "next n_valid valid, the rest test (each stored sorted); if n < n_train + n_valid: 80/10/10 percent"
)


def default_qm9_store(reporter: Reporter | None = None) -> Path:
    """The full QM9 store in the cache (``$CHEMACCEL_CACHE`` or ``~/.cache/chemaccel``/qm9.h5).

    Built from the installed qm9pack once (about 5 s), then reused: what ``--data`` defaults to for
    commands that evaluate on QM9's fixed split. The split is the foundation's (seed 0).
    """
    from chemaccel.datasets.download import default_cache_dir

    path = default_cache_dir() / "qm9.h5"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        if reporter is not None:
            reporter.on_message(f"building the QM9 store from qm9pack once: {path}")
        convert_qm9(path, reporter=reporter)
    return path


def qm9_split(n: int, seed: int = 0, n_train: int = 110_000, n_valid: int = 10_000) -> dict[str, np.ndarray]:
    """The fixed QM9 split: train/valid/test row indices (int64, each sorted, disjoint, covering 0..n-1).

    ``numpy.random.default_rng(seed).permutation(n)`` is cut into ``n_train`` train, ``n_valid``
    validation and the rest test (all of QM9: 110,000 / 10,000 / 10,831). When ``n < n_train + n_valid``
    (a ``limit``-ed conversion) the sizes scale down to 80 % / 10 % / the rest (floor).
    """
    if n < 0 or n_train < 0 or n_valid < 0:
        raise ValueError("n, n_train and n_valid must be non-negative")
    if n < n_train + n_valid:
        n_train, n_valid = (8 * n) // 10, n // 10
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    parts = np.split(perm, [n_train, n_train + n_valid])
    return {name: np.sort(idx) for name, idx in zip(("train", "valid", "test"), parts)}


def split_subset(indices: np.ndarray, limit: int | None, seed: int = 0) -> np.ndarray:
    """At most ``limit`` of a split's ``indices``: a fixed random subset (sorted), the same for every call.

    A QM9 store keeps the molecules in QM9's order (by heavy-atom count, then GDB-17's), and a split's
    indices are sorted, so its first N molecules are the smallest ones, not a sample of the split.
    """
    bad_type = isinstance(limit, bool) or not isinstance(limit, (int, np.integer))
    if limit is not None and (bad_type or limit < 0):
        raise ConfigError(f"a limit on the number of molecules must be a non-negative integer (0: all), "
                          f"got {limit!r}")
    indices = np.asarray(indices)
    if not limit or limit >= len(indices):
        return indices
    keep = np.random.default_rng(seed).choice(len(indices), limit, replace=False)
    return indices[np.sort(keep)]


def read_qm9_split(path_or_store: str | Path | MoleculeStore) -> dict[str, np.ndarray]:
    """The ``train``/``valid``/``test`` indices stored in a QM9 store."""
    if isinstance(path_or_store, MoleculeStore):
        splits = path_or_store.splits()
        where = path_or_store.path
    else:
        with MoleculeStore.open(path_or_store) as store:
            splits, where = store.splits(), store.path
    missing = [k for k in ("train", "valid", "test") if k not in splits]
    if missing:
        raise StoreError(f"{where}: no {'/'.join(missing)} split stored")
    return {k: splits[k] for k in ("train", "valid", "test")}


# --------------------------------------------------------------------- the original archive
def download_qm9(cache_dir: str | Path | None = None, reporter: Reporter | None = None) -> Path:
    """Download the original ``dsgdb9nsd.xyz.tar.bz2`` (about 86 MB) from figshare into the cache."""
    from chemaccel.datasets.download import download

    return download(QM9_URL, cache_dir, filename=QM9_ARCHIVE_NAME, reporter=reporter)


def convert_qm9_archive(out_path: str | Path, archive: str | Path, **kwargs) -> QM9Summary:
    """Convert the original archive; see :func:`chemaccel.datasets.qm9_xyz.convert_qm9_archive`."""
    from chemaccel.datasets.qm9_xyz import convert_qm9_archive as convert

    return convert(out_path, archive, **kwargs)


# --------------------------------------------------------------------- helpers
def _csv_files(folder: Path) -> list[Path]:
    files = [folder / name for name in QM9_CSV_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise InputError(folder, f"not a qm9pack data folder: missing {', '.join(missing)}")
    return files


def _count_rows(folder: Path) -> int | None:
    """Rows in the CSV files (lines less headers; QM9's fields hold no newlines), None if unreadable."""
    rows = 0
    try:
        for name in QM9_CSV_FILES:
            with open(folder / name, "rb") as fh:
                rows += sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 22), b"")) - 1
    except OSError:
        return None
    return rows


def _qm9pack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qm9pack")
    except PackageNotFoundError:  # pragma: no cover - found by find_spec but no metadata
        return "?"
