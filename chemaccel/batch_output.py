"""Crash-safe, resumable CSV output for batch prediction (``property predict``, ``reaction predict``).

A batch prediction writes one CSV row per input record, in input order, straight to its final path,
one chunk at a time: each chunk is encoded, written with one ``os.write`` and ``os.fsync``-ed, so after a
``kill -9`` (or a power cut) the file holds the header, whole chunks and at most one partial last line.

Next to ``OUT`` lives a small sidecar, ``OUT.resume.json``: what made the file (model, input file, the
options that change the rows) and whether it is complete. With ``resume=True``:

* no ``OUT`` yet: start from the first record (so a job script may always pass ``--resume``);
* ``OUT`` complete (the sidecar says so): nothing to do;
* otherwise the sidecar must match this run (else :class:`ResumeError`, one line naming what differs),
  the header must be this run's, a partial last line is cut off, and so are rows after the last whole
  chunk (``align``), so the chunks after the resume hold exactly the records they held in an
  uninterrupted run and give the same bytes; the caller then skips :attr:`ResumableCsv.rows_done`
  input records and appends.

Without ``resume`` an existing ``OUT`` is replaced (like the other commands' ``-o``). It is replaced
in place, not through a temporary file and a rename: a half-written output must stay at its name to
be resumable; until the run ends the sidecar marks it ``"complete": false``.

Example:
    >>> with ResumableCsv("out.csv", ["index", "value"], {"model": "m"}, resume=True, align=100) as out:
    ...     for chunk in chunks(skip=out.rows_done):  # doctest: +SKIP
    ...         out.write_rows(chunk)
    ...     out.finish()
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from chemaccel.errors import ConfigError

SIDECAR_SUFFIX = ".resume.json"
SIDECAR_FORMAT = "chemaccel-batch-output"
SIDECAR_VERSION = 1
#: Files of a model folder that identify it (hashed; a model copied elsewhere still matches).
MODEL_FILES = ("config.json", "model.safetensors")
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


class ResumeError(ConfigError):
    """``--resume`` refused: the output was made by another run (model, input, options) or is not ours."""


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + SIDECAR_SUFFIX)


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Absolute path, size and modification time of an input file ("-" for stdin)."""
    if str(path) == "-":
        return {"path": "-"}
    p = Path(path)
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def model_fingerprint(folder: str | Path) -> str:
    """SHA-256 over a model folder's config and weights (a few MB: milliseconds); same model, same hash."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        file = Path(folder) / name
        if file.is_file():
            digest.update(name.encode())
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def encode_rows(rows: Iterable[Sequence[object]]) -> bytes:
    """CSV bytes of ``rows`` (``csv`` module defaults: minimal quoting, ``\\r\\n`` line ends)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


class ResumableCsv:
    """A CSV output that survives ``kill -9`` and resumes; see the module docstring.

    Constructing one only inspects ``path`` (nothing is written), so the caller can still fail on a
    bad input and leave an existing output alone; :meth:`open` (or ``with``) writes.

    Args:
        path: the CSV file.
        header: its column names.
        fingerprint: JSON-able facts about this run that must be equal to resume (model hash, input
            size and time, chunk size, beam size ...).
        about: JSON-able facts kept in the sidecar for people but not compared (model path ...).
        resume: keep the complete rows of an existing output and append (else replace it).
        align: keep a multiple of this many rows when resuming (the chunk size), so chunk boundaries,
            hence batched results, are those of an uninterrupted run.

    Attributes:
        rows_done: data rows already in the file (skip that many input records).
        complete: the file is already complete (nothing to do).
        dropped_rows: whole rows cut off after the last whole chunk; dropped_bytes: bytes cut in all.

    Raises:
        ResumeError: (resume only) the output cannot be continued by this run; the message says why.
    """

    def __init__(self, path: str | Path, header: Sequence[str], fingerprint: Mapping[str, Any], *,
                 about: Mapping[str, Any] | None = None, resume: bool = False, align: int = 1) -> None:
        self.path = Path(path)
        self.sidecar = sidecar_path(self.path)
        self.header = [str(h) for h in header]
        self.fingerprint = json.loads(json.dumps(dict(fingerprint)))  # JSON-normalised for comparison
        self.about = dict(about or {})
        self.align = max(1, int(align))
        self.rows_done = 0
        self.complete = False
        self.dropped_rows = 0
        self.dropped_bytes = 0
        self._keep_bytes: int | None = None  # None: start a new file
        self._fd: int | None = None
        if resume and self.path.exists():
            self._inspect()

    # ------------------------------------------------------------------ resume
    def _inspect(self) -> None:
        state = self._read_sidecar()
        before = state.get("fingerprint") if isinstance(state.get("fingerprint"), dict) else {}
        now = self.fingerprint
        differs = [k for k in sorted(set(now) | set(before)) if now.get(k) != before.get(k)]
        if differs:
            shown = "; ".join(f"{k}: was {_short(before.get(k))}, now {_short(now.get(k))}" for k in differs)
            raise ResumeError(f"{self.path}: cannot resume: it was written by a different run ({shown}); "
                              "rerun with the same model, input and options, "
                              "or without --resume to start again")
        header_bytes, rows, aligned_rows, aligned_end, end = scan_csv(self.path, self.align)
        want = encode_rows([self.header])
        if header_bytes is not None and header_bytes != want:
            found = _short(header_bytes.decode("utf-8", "replace").strip())
            raise ResumeError(f"{self.path}: cannot resume: its header {found} is not this run's "
                              f"{_short(want.decode().strip())}; run without --resume to replace it")
        size = self.path.stat().st_size
        if header_bytes is None:  # killed before the header was on disk
            self._keep_bytes = None
            return
        if state.get("complete") and end == size and rows == state.get("rows"):
            self.rows_done, self.complete = rows, True
            return
        self.rows_done = aligned_rows
        self.dropped_rows = rows - aligned_rows
        self.dropped_bytes = size - aligned_end
        self._keep_bytes = aligned_end

    def _read_sidecar(self) -> dict[str, Any]:
        try:
            state = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ResumeError(f"{self.path}: cannot resume: {self.sidecar.name} is missing, so the file was "
                              "not written by a resumable chemaccel run; run without --resume to replace it"
                              ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResumeError(f"{self.sidecar}: unreadable ({' '.join(str(exc).split())}); "
                              "run without --resume to start again") from None
        if not isinstance(state, dict) or state.get("format") != SIDECAR_FORMAT:
            raise ResumeError(f"{self.sidecar}: not a chemaccel resume file; "
                              "run without --resume to start again")
        if state.get("format_version") != SIDECAR_VERSION:
            raise ResumeError(f"{self.sidecar}: format_version {state.get('format_version')!r} is not "
                              f"{SIDECAR_VERSION}; run without --resume to start again")
        return state

    def resume_note(self) -> str:
        """One line for the user: rows kept (input records to skip) and what was cut off."""
        note = f"{self.path}: resuming after {self.rows_done} rows (their input records are skipped)"
        if self.dropped_bytes:
            note += (f"; cut the {self.dropped_bytes} bytes after the last whole chunk "
                     f"({self.dropped_rows} complete rows and any partial line)")
        return note

    # ------------------------------------------------------------------ writing
    def __enter__(self) -> ResumableCsv:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self) -> None:
        """Write the sidecar, then truncate (resume) or create the file with its header."""
        if self._fd is not None or self.complete:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_sidecar(complete=False)
        if self._keep_bytes is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
            self._fd = fd
            self._write(encode_rows([self.header]))
        else:
            fd = os.open(self.path, os.O_WRONLY | _BINARY)
            os.ftruncate(fd, self._keep_bytes)
            os.lseek(fd, 0, os.SEEK_END)
            os.fsync(fd)
            self._fd = fd
        _fsync_dir(self.path.parent)

    def write_rows(self, rows: Sequence[Sequence[object]]) -> None:
        """Append rows (one chunk): one write, then fsync, so a kill leaves whole chunks."""
        if self.complete:
            raise ResumeError(f"{self.path}: already complete; nothing more can be written")
        if self._fd is None:
            self.open()
        if rows:
            self._write(encode_rows(rows))
            self.rows_done += len(rows)

    def finish(self, **summary: Any) -> None:
        """Mark the output complete (after the last chunk); ``summary`` is kept in the sidecar."""
        if self._fd is not None:
            os.fsync(self._fd)
        self._write_sidecar(complete=True, rows=self.rows_done, **summary)
        self.complete = True

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)  # type: ignore[arg-type]
            view = view[n:]
        os.fsync(self._fd)  # type: ignore[arg-type]

    def _write_sidecar(self, complete: bool, **extra: Any) -> None:
        state = {"format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION, "output": self.path.name,
                 "header": self.header, "align": self.align, "fingerprint": self.fingerprint,
                 "about": self.about, "complete": complete, **extra}
        tmp = self.sidecar.with_name(f".{self.sidecar.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.sidecar)


def scan_csv(path: str | Path, align: int = 1) -> tuple[bytes | None, int, int, int, int]:
    """Find the complete records of a CSV file written by :func:`encode_rows`.

    A record ends at a newline outside quotes (an even number of ``"`` since the record began; quotes
    inside fields are doubled, so the parity is exact), so quoted fields holding newlines are counted
    right. Returns ``(header bytes or None, data rows, rows kept when aligned to align, byte offset
    after those rows, byte offset after the last complete record)``.
    """
    header: bytes | None = None
    head = bytearray()
    rows = aligned_rows = 0
    pos = aligned_end = end = 0
    odd = 0
    with open(path, "rb") as fh:
        for line in fh:
            pos += len(line)
            odd ^= line.count(b'"') & 1
            if header is None:
                head += line
            if odd or not line.endswith(b"\n"):
                continue
            end = pos
            if header is None:
                header, aligned_end = bytes(head), pos
                continue
            rows += 1
            if rows % align == 0:
                aligned_rows, aligned_end = rows, pos
    return header, rows, aligned_rows, aligned_end, end


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
