"""An HDF5 store for sets of molecules: ragged atoms as flat arrays plus offsets, read lazily.

Layout (``format="chemaccel-molecule-store"``, ``format_version=1``)::

    /                      attrs: format, format_version, chemaccel_version, plus free metadata
    atoms/numbers          uint8   (total_atoms,)      atomic numbers
    atoms/positions        float32 (total_atoms, 3)    Cartesian coordinates in Angstrom
    molecules/offsets      int64   (n + 1,)            atoms of molecule i are offsets[i]:offsets[i+1]
    molecules/charge       int8    (n,)                total charge
    molecules/smiles       utf-8   (n,)                may be ""
    molecules/name         utf-8   (n,)                may be ""
    properties/<name>      float64 (n,) or (n, k)      attrs: unit ("eV", "Debye", "" ...), conversion
    splits/<name>          int64   (m,)                optional row indices (e.g. train/valid/test)
    atomrefs/<property>    float64 (max_Z + 1,)        optional per-element references, attr unit

Every data set is chunked, gzip-compressed and resizable, so :meth:`MoleculeStore.append` can grow it.

Writing: :meth:`MoleculeStore.create` writes to a hidden temporary file next to ``path`` and renames it
into place on :meth:`~MoleculeStore.close`; leaving the ``with`` block by an exception (or calling
:meth:`~MoleculeStore.abort`) deletes the temporary file, so a crash or a cancel never leaves half a
store at the final name. :meth:`MoleculeStore.open` with ``mode="a"`` appends IN PLACE (not atomic:
copy the file first if a crash during the append must not cost the store).

Reading is lazy: only the offsets (8 bytes per molecule) are held in memory; atoms, strings and
properties are read from disk per molecule or per slice, so a store larger than memory works.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from chemaccel._version import __version__
from chemaccel.chem._store_format import (
    ATOMREFS,
    ATOM_CHUNK,
    CACHE_BYTES,
    CHARGE,
    CORRUPT,
    H5_READ_ERRORS,
    FORMAT,
    FORMAT_VERSION,
    MOL_CHUNK,
    NAME,
    NUMBERS,
    OFFSETS,
    POSITIONS,
    POSITIONS_CACHE_BYTES,
    PROPERTIES,
    SMILES,
    SPLITS,
    STR_DTYPE,
    MoleculeBatch,
    StoredMolecule,
    as_text,
    batch_columns,
    check_layout,
    extend,
    flatten_batch,
    make_dataset,
    open_dataset,
    plain,
    reshape_empty,
    scalar,
    open_failure,
    short_error,
)
from chemaccel.errors import StoreError

__all__ = ["FORMAT", "FORMAT_VERSION", "MoleculeBatch", "MoleculeStore", "StoredMolecule"]


class MoleculeStore:
    """An open molecule store. Use :meth:`create` or :meth:`open`, preferably as a context manager."""

    def __init__(self, path: Path, h5: h5py.File, mode: str, tmp_path: Path | None = None) -> None:
        self.path = path
        self.mode = mode
        self._h5: h5py.File | None = h5
        self._tmp = tmp_path
        self._offsets = np.zeros(1, dtype=np.int64)
        # Open data set handles, kept for the store's life: looking a data set up costs ~20 us and
        # closing it drops HDF5's chunk cache, so every small read would decompress a chunk again.
        self._ds: dict[str, h5py.Dataset] = {}
        self._props: dict[str, h5py.Dataset] = {}

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def create(
        cls,
        path: str | Path,
        properties: Mapping[str, str],
        overwrite: bool = False,
        *,
        conversions: Mapping[str, str] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> MoleculeStore:
        """Start a new, empty store at ``path`` (written under a temporary name until :meth:`close`).

        Args:
            path: final file name, conventionally ``*.h5``.
            properties: property name -> unit ("eV", "Debye", "a0^3", "" for unitless).
            overwrite: replace an existing file at ``path`` on close; otherwise an existing file is an error.
            conversions: property name -> how it was converted, e.g. ``"Hartree->eV x 27.211386245988"``.
            attrs: extra root attributes (source, licence ...).
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise StoreError(f"{path}: already exists (pass overwrite=True / --overwrite to replace it)")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: folder {path.parent} does not exist")
        for name in properties:
            if not name or "/" in name:
                raise StoreError(f"{path}: invalid property name {name!r}")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            h5 = h5py.File(tmp, "w", track_order=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot write: {exc}") from None
        store = cls(path, h5, "w", tmp)
        try:
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["chemaccel_version"] = __version__
            for key, value in (attrs or {}).items():
                h5.attrs[key] = value
            make_dataset(h5, NUMBERS, (0,), np.uint8, ATOM_CHUNK)
            make_dataset(h5, POSITIONS, (0, 3), np.float32, ATOM_CHUNK)
            off = make_dataset(h5, OFFSETS, (1,), np.int64, MOL_CHUNK)
            off[0] = 0
            make_dataset(h5, CHARGE, (0,), np.int8, MOL_CHUNK)
            make_dataset(h5, SMILES, (0,), STR_DTYPE, MOL_CHUNK)
            make_dataset(h5, NAME, (0,), STR_DTYPE, MOL_CHUNK)
            group = h5.create_group(PROPERTIES, track_order=True)
            for name, unit in properties.items():
                ds = make_dataset(group, name, (0,), np.float64, MOL_CHUNK)
                ds.attrs["unit"] = unit
                if conversions and name in conversions:
                    ds.attrs["conversion"] = conversions[name]
            store._bind()
        except BaseException:
            store.abort()
            raise
        return store

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> MoleculeStore:
        """Open an existing store for reading (``"r"``) or for appending in place (``"a"``)."""
        path = Path(path)
        if mode not in ("r", "a"):
            raise StoreError(f"{path}: mode must be 'r' or 'a', not {mode!r}")
        if not path.exists():
            raise StoreError(f"{path}: no such molecule store")
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a molecule store")
        try:
            is_hdf5 = h5py.is_hdf5(path)
        except OSError:
            is_hdf5 = False
        if not is_hdf5:
            raise StoreError(f"{path}: not an HDF5 file")
        try:
            h5 = h5py.File(path, mode, rdcc_nbytes=CACHE_BYTES, rdcc_nslots=1021)
        except OSError as exc:
            raise StoreError(f"{path}: {open_failure(exc)}") from None
        store = cls(path, h5, mode)
        try:
            store._check()
        except H5_READ_ERRORS as exc:  # metadata of a damaged file (h5py raises OSError or KeyError)
            store.abort()
            raise StoreError(f"{path}: {CORRUPT} ({short_error(exc)})") from None
        except BaseException:
            store.abort()
            raise
        return store

    def _check(self) -> None:
        """Format, version and consistency; an OSError here means a damaged file (caught by open)."""
        self._offsets = check_layout(self._file, self.path)
        self._bind()

    def _bind(self) -> None:
        h5 = self._file
        self._ds = {key: h5[key] for key in (NUMBERS, OFFSETS, CHARGE, SMILES, NAME)}
        self._ds[POSITIONS] = open_dataset(h5, POSITIONS, POSITIONS_CACHE_BYTES)
        self._props = {name: ds for name, ds in h5[PROPERTIES].items()}

    def __enter__(self) -> MoleculeStore:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self._tmp is not None:
            self.abort()
        else:
            self.close()

    def close(self) -> None:
        """Flush and close; a store made by :meth:`create` is renamed to its final name now."""
        if self._h5 is None:
            return
        self._ds, self._props = {}, {}
        try:
            self._h5.close()
        finally:
            self._h5 = None
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            try:
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise StoreError(f"{self.path}: cannot move the finished store into place: {exc}") from None

    def abort(self) -> None:
        """Close without keeping anything: a store being created is deleted (no file at ``path``)."""
        self._ds, self._props = {}, {}
        if self._h5 is not None:
            try:
                self._h5.close()
            except Exception:  # pragma: no cover - closing a broken file
                pass
            self._h5 = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __del__(self) -> None:  # a store dropped without close(): never rename half a file
        if getattr(self, "_tmp", None) is not None:
            self.abort()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle as a path (for DataLoader workers); only read-only stores can be pickled."""
        if self.mode != "r":
            raise StoreError(f"{self.path}: only a store opened with mode='r' can be pickled")
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = MoleculeStore.open(state["path"], "r")
        self.__dict__.update(other.__dict__)
        other._h5 = None

    @property
    def _file(self) -> h5py.File:
        self._check_open()
        return self._h5  # type: ignore[return-value]

    def _check_open(self) -> None:
        if self._h5 is None:
            raise StoreError(f"{self.path}: store is closed")

    # ----------------------------------------------------------------- writing
    def append(
        self,
        numbers: Sequence[np.ndarray],
        positions: Sequence[np.ndarray],
        *,
        charges: Sequence[int] | np.ndarray | None = None,
        properties: Mapping[str, np.ndarray] | None = None,
        smiles: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        """Append a batch of molecules; every argument describes the same ``len(numbers)`` molecules.

        Args:
            numbers: per molecule, atomic numbers (1..118).
            positions: per molecule, (n_atoms, 3) coordinates in Angstrom.
            charges: total charges (default 0).
            properties: every property of the store, each an array of length ``len(numbers)``
                (shape (m,) or (m, k)), in the store's units.
            smiles, names: strings (default "").
        """
        if self.mode == "r":
            raise StoreError(f"{self.path}: opened read-only; open with mode='a' to append")
        h5 = self._file
        m = len(numbers)
        flat_z, flat_r, counts = flatten_batch(self.path, numbers, positions)
        charges_a, smiles_l, names_l = batch_columns(self.path, m, charges, smiles, names)
        props = {} if properties is None else dict(properties)
        known = set(self._props)
        if set(props) != known:
            missing, extra = sorted(known - set(props)), sorted(set(props) - known)
            raise StoreError(
                f"{self.path}: append properties differ from the store's: missing {missing}, unknown {extra}"
            )
        prop_arrays = {}
        for name, value in props.items():
            arr = np.asarray(value, dtype=np.float64)
            ds = self._props[name]
            if arr.ndim not in (1, 2) or arr.shape[0] != m:
                raise StoreError(
                    f"{self.path}: property {name!r} has shape {arr.shape}, expected ({m},) or ({m}, k)"
                )
            if ds.shape[0] == 0 and ds.shape[1:] != arr.shape[1:]:
                ds = self._props[name] = reshape_empty(h5[PROPERTIES], name, arr.shape[1:])
            if ds.shape[1:] != arr.shape[1:]:
                raise StoreError(
                    f"{self.path}: property {name!r} has shape {arr.shape}, store has (n,) + {ds.shape[1:]}"
                )
            prop_arrays[name] = arr
        if m == 0:
            return
        # Atoms first, offsets last: a reader checks offsets against everything else. On an error
        # (disk full ...) every data set is cut back, so the store stays as it was before the call.
        n, total = len(self._offsets) - 1, int(self._offsets[-1])
        new_offsets = total + np.cumsum(counts, dtype=np.int64)
        writes = [
            (self._ds[NUMBERS], flat_z, total),
            (self._ds[POSITIONS], flat_r, total),
            (self._ds[CHARGE], charges_a, n),
            (self._ds[SMILES], np.array(smiles_l, dtype=object), n),
            (self._ds[NAME], np.array(names_l, dtype=object), n),
            *[(self._props[name], arr, n) for name, arr in prop_arrays.items()],
            (self._ds[OFFSETS], new_offsets, n + 1),
        ]
        try:
            for ds, data, at in writes:
                extend(ds, data, at)
        except BaseException as exc:
            for ds, _, at in writes:
                if ds.shape[0] > at:
                    ds.resize(at, axis=0)
            if isinstance(exc, OSError):
                raise StoreError(f"{self.path}: cannot append: {short_error(exc)}") from None
            raise
        self._offsets = np.concatenate([self._offsets, new_offsets])

    def set_split(self, name: str, indices: np.ndarray, **attrs: Any) -> None:
        """Store (or replace) a named split ``splits/<name>`` of row indices, with attributes (e.g. seed)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(self))):
            raise StoreError(f"{self.path}: split {name!r} must be 1-D indices in 0..{len(self) - 1}")
        group = self._group(SPLITS)
        if name in group:
            del group[name]
        ds = group.create_dataset(name, data=idx, compression="gzip", chunks=True)
        for key, value in attrs.items():
            ds.attrs[key] = value

    def set_atomref(self, prop: str, values: np.ndarray, unit: str) -> None:
        """Store per-element references of ``prop``, indexed by atomic number, in ``unit``."""
        group = self._group(ATOMREFS)
        if prop in group:
            del group[prop]
        group.create_dataset(prop, data=np.asarray(values, dtype=np.float64)).attrs["unit"] = unit

    def _group(self, name: str) -> h5py.Group:
        h5 = self._file
        return h5[name] if name in h5 else h5.create_group(name, track_order=True)

    def set_attr(self, key: str, value: Any) -> None:
        """Set a root attribute (free metadata such as ``source``)."""
        self._file.attrs[key] = value

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise StoreError(f"{self.path}: slices with a step are not supported")
            return self.molecule_slice(start, stop)
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"molecule {i} out of range for a store of {n}")
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        ds = self._ds
        self._check_open()
        try:
            props = {k: scalar(col[i]) for k, col in self._props.items()}
            return StoredMolecule(
                numbers=ds[NUMBERS][a:b],
                positions=ds[POSITIONS][a:b],
                charge=int(ds[CHARGE][i]),
                smiles=as_text(ds[SMILES][i]),
                name=as_text(ds[NAME][i]),
                properties=props,
            )
        except H5_READ_ERRORS as exc:
            raise StoreError(f"{self.path}: {CORRUPT} ({short_error(exc)})") from None

    def molecule_slice(self, start: int, stop: int) -> MoleculeBatch:
        """Read molecules ``start:stop`` in one go (a few reads per data set, not per molecule)."""
        n = len(self)
        start, stop = max(0, min(start, n)), max(0, min(stop, n))
        stop = max(start, stop)
        a, b = int(self._offsets[start]), int(self._offsets[stop])
        ds = self._ds
        self._check_open()
        try:
            return MoleculeBatch(
                start=start,
                numbers=ds[NUMBERS][a:b],
                positions=ds[POSITIONS][a:b],
                offsets=self._offsets[start : stop + 1] - a,
                charges=ds[CHARGE][start:stop],
                smiles=[as_text(v) for v in ds[SMILES][start:stop]],
                names=[as_text(v) for v in ds[NAME][start:stop]],
                properties={k: col[start:stop] for k, col in self._props.items()},
            )
        except H5_READ_ERRORS as exc:
            raise StoreError(f"{self.path}: {CORRUPT} ({short_error(exc)})") from None

    def iter_batches(self, batch_size: int = 1024) -> Iterator[MoleculeBatch]:
        """Read the whole store sequentially, ``batch_size`` molecules at a time."""
        for start in range(0, len(self), batch_size):
            yield self.molecule_slice(start, start + batch_size)

    @property
    def property_names(self) -> list[str]:
        return list(self._props)

    @property
    def property_units(self) -> dict[str, str]:
        """Property name -> unit."""
        self._check_open()
        return {k: as_text(ds.attrs.get("unit", "")) for k, ds in self._props.items()}

    @property
    def property_conversions(self) -> dict[str, str]:
        """Property name -> conversion applied when the store was made (only converted properties)."""
        self._check_open()
        props = self._props.items()
        return {k: as_text(ds.attrs["conversion"]) for k, ds in props if "conversion" in ds.attrs}

    @property
    def n_atoms(self) -> np.ndarray:
        """Number of atoms per molecule, int64 (n,)."""
        return np.diff(self._offsets)

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (format, format_version, chemaccel_version, source ...)."""
        return {k: plain(v) for k, v in self._file.attrs.items()}

    def splits(self) -> dict[str, np.ndarray]:
        """Named splits (``{}`` if none), e.g. ``{"train": ..., "valid": ..., "test": ...}``."""
        group = self._file.get(SPLITS)
        return {} if group is None else {k: ds[:] for k, ds in group.items()}

    def split_attrs(self, name: str) -> dict[str, Any]:
        group = self._file.get(SPLITS)
        if group is None or name not in group:
            raise StoreError(f"{self.path}: no split {name!r}")
        return {k: plain(v) for k, v in group[name].attrs.items()}

    def atomrefs(self) -> dict[str, tuple[np.ndarray, str]]:
        """Property -> (references indexed by atomic number, unit); ``{}`` if none."""
        group = self._file.get(ATOMREFS)
        if group is None:
            return {}
        return {k: (ds[:], as_text(ds.attrs.get("unit", ""))) for k, ds in group.items()}

    # Defined after every @property above: inside the class body this name shadows the builtin.
    def property(self, name: str) -> np.ndarray:
        """The whole column of one property (n,) or (n, k), in its unit (see :attr:`property_units`)."""
        self._check_open()
        if name not in self._props:
            raise StoreError(f"{self.path}: no property {name!r} (has {', '.join(self._props) or 'none'})")
        try:
            return self._props[name][:]
        except H5_READ_ERRORS as exc:
            raise StoreError(f"{self.path}: {CORRUPT} ({short_error(exc)})") from None

    def __repr__(self) -> str:
        state = "closed" if self._h5 is None else f"{len(self)} molecules"
        return f"MoleculeStore({str(self.path)!r}, {state})"
