"""Tasks that write the loaded molecules to CSV or SDF through chemaccel.api, in a worker thread."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chemaccel import api

#: A progress report every this many records.
REPORT_EVERY = 200
FORMATS = {"csv": "CSV file (*.csv)", "sdf": "SD file (*.sdf)"}


@dataclass(frozen=True)
class Exported:
    path: Path
    fmt: str
    written: int  # rows (CSV) or molecules (SDF: error records and bare geometries are skipped)
    total: int  # records offered


def export_molecules(
    records: Sequence[api.MoleculeRecord], path: str | Path, fmt: str, reporter: api.Reporter,
    prop_names: Sequence[str] | None = None,
) -> Exported:
    """Write ``records`` with :func:`chemaccel.api.write_csv` (every record: a bad one has its reason in
    the status column) or :func:`chemaccel.api.write_sdf` (the records that hold a molecule).

    The file appears only when everything was written (the writers rename a temporary file into
    place); a cancel raises :class:`~chemaccel.api.Cancelled` and leaves no file behind.
    """
    if fmt not in FORMATS:
        raise api.ConfigError(f"{path}: unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    path = Path(path)
    total = len(records)
    reporter.on_start(f"Writing {path.name}", total)

    def stream() -> Iterator[api.MoleculeRecord]:
        for done, record in enumerate(records, start=1):
            if reporter.should_stop():
                raise api.Cancelled(f"{path}: export cancelled")
            yield record
            if done % REPORT_EVERY == 0:
                reporter.on_progress(done, total)

    try:
        if fmt == "csv":
            written = api.write_csv(stream(), path, extra_columns=list(prop_names) if prop_names else None)
        else:
            written = api.write_sdf(stream(), path)
    except OSError as exc:
        raise api.ChemAccelError(f"{path}: cannot write: {exc.strerror or exc}") from None
    reporter.on_progress(total, total)
    return Exported(path, fmt, written, total)
