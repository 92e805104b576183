"""USPTO reaction data sets: USPTO-50K (OpenNMT text) and USPTO-MIT (Jin et al. 2017, atom-mapped).

Both readers stream :class:`ReactionRecord` objects; a bad line becomes an error record naming the file,
the line and the reason, and reading goes on. Neither needs the internet: they take a local path. A user
with internet gets the files with :func:`fetch_uspto50k` / :func:`fetch_uspto_mit` (downloaded once into
the chemaccel cache, see :mod:`chemaccel.datasets.download`).

USPTO-50K (``src-{split}.txt`` / ``tgt-{split}.txt``, one tokenized reaction per line, tokens separated by
spaces): ``src`` holds a reaction-class token ``<RX_n>`` and the product, ``tgt`` the reactants (the
retrosynthesis direction). USPTO-MIT (``{split}.txt.tar.gz`` holding ``{split}.txt``): one line per
reaction, ``reactants>>product`` with atom maps, a space and the changed bonds. Following the Molecular
Transformer ("mixed" set), reagents stay on the reactant side, all molecules joined by ``'.'``.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import IO, Literal

from chemaccel.chem.reactions import canonicalize_smiles, remove_atom_maps, split_reaction
from chemaccel.datasets.download import default_cache_dir, download
from chemaccel.errors import InputError
from chemaccel.reporting import Reporter

Direction = Literal["forward", "retro"]
SPLITS = ("train", "valid", "test")

#: USPTO-50K in OpenNMT form (public repository CC-SXF/DataSet-USPTO, MIT licence).
USPTO50K_URL = "https://raw.githubusercontent.com/CC-SXF/DataSet-USPTO/main/USPTO-50K/USPTO-50K_Retro/"
#: SHA-256 of the files at :data:`USPTO50K_URL` (identical to the git blobs of that repository).
USPTO50K_SHA256 = {
    "src-train.txt": "a09a5700f1fe3f91aea33d122eda870bd1d99ad2ec0fd81fa37f43b0e2871747",
    "tgt-train.txt": "af8fb61d23357618d45a2009020e5354d0325e96d6d3f5b1d9ffd781b6a147ca",
    "src-valid.txt": "40459c9e5c0f63c1ca08a8ebda2cc80bde42f5dbf0d520cd6c9f9069ae694f48",
    "tgt-valid.txt": "b856e45c5b762e416fbe93e75432c5cc4d3ee0dd90582d8b4c0d9cacaf3a6dee",
    "src-test.txt": "dd10431c929eb9f7fe8952d263c1fed118b8fb4c6e8f8004b73c528adf1989c9",
    "tgt-test.txt": "408504846efaafcfc2c0559a507a40232dcf3393fb7263aa83f583ececbd8179",
}
#: USPTO-MIT as published with the WLN reaction predictor (connorcoley/rexgen_direct, GPL-3.0 repository).
USPTO_MIT_URL = "https://github.com/connorcoley/rexgen_direct/raw/master/rexgen_direct/data/"
#: SHA-256 of ``{split}.txt.tar.gz`` at :data:`USPTO_MIT_URL` (train: not recorded, not checked).
USPTO_MIT_SHA256 = {
    "valid": "63efb7a1a0e33182db71ce4c3c8ee4260f5e69225d3bf21dfba987458ff40927",
    "test": "5c94cf795ea38548d73e010a382ae6f164c0757fc5d2aa0550e82cbe63200d0c",
}

_CLASS_TOKEN = re.compile(r"^<RX_(\d+)>$")


@dataclass(frozen=True)
class ReactionRecord:
    """One reaction of a data set, or the reason a line could not be read.

    Attributes:
        source: the file it came from (for USPTO-50K the ``src-*`` file).
        index: 1-based line number in that file.
        reactants: reactant-side SMILES, molecules separated by ``'.'`` ("" in an error record).
        product: product-side SMILES ("" in an error record).
        reaction_class: USPTO-50K reaction class (1-10), None when the data set has none.
        error: one-line reason when the line could not be read, else None.
        direction: which side is the model's input: "forward" (reactants -> product) or "retro".
    """

    source: str
    index: int
    reactants: str = ""
    product: str = ""
    reaction_class: int | None = None
    error: str | None = None
    direction: Direction = "forward"

    def __post_init__(self) -> None:
        if self.error is not None:  # reasons are always one line
            object.__setattr__(self, "error", " ".join(self.error.split()) or "unknown error")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def src(self) -> str:
        """The model's input: reactants (forward) or product (retro)."""
        return self.reactants if self.direction == "forward" else self.product

    @property
    def tgt(self) -> str:
        """The model's target: product (forward) or reactants (retro)."""
        return self.product if self.direction == "forward" else self.reactants

    @property
    def reaction(self) -> str:
        """Reaction SMILES ``reactants>>product``."""
        return f"{self.reactants}>>{self.product}"

    def error_line(self) -> str:
        """``"FILE: record N: REASON"`` (the :class:`~chemaccel.errors.InputError` format)."""
        return str(InputError(self.source, self.error or "ok", self.index))


def detokenize(tokens: str) -> str:
    """``"C C ( = O ) O"`` -> ``"CC(=O)O"`` (SMILES tokens never contain spaces)."""
    return "".join(tokens.split())


# --------------------------------------------------------------------------------------------------
# USPTO-50K


def uspto50k_files(folder: str | Path, split: str) -> tuple[Path, Path]:
    """The ``(src, tgt)`` files of one split; raises :class:`InputError` if either is missing."""
    _check_split(split, folder)
    base = Path(folder)
    src, tgt = base / f"src-{split}.txt", base / f"tgt-{split}.txt"
    for path in (src, tgt):
        if not path.is_file():
            raise InputError(path, f"USPTO-50K file not found (expected src-{split}.txt and tgt-{split}.txt)")
    return src, tgt


def read_uspto50k(
    folder: str | Path,
    split: str = "train",
    direction: Direction = "forward",
    *,
    canonicalize: bool = False,
) -> Iterator[ReactionRecord]:
    """Read one split of USPTO-50K in its OpenNMT form.

    The files are written for retrosynthesis (``src`` = class token + product, ``tgt`` = reactants);
    the record always holds chemistry roles (``reactants``, ``product``) and ``direction`` decides which
    is ``record.src``. The class token is dropped from the SMILES and kept as ``reaction_class``.

    Args:
        folder: folder holding ``src-{split}.txt`` and ``tgt-{split}.txt``.
        split: "train", "valid" or "test".
        direction: "forward" (reactants -> product) or "retro" (product -> reactants).
        canonicalize: also canonicalize both sides with rdkit (unparsable SMILES become error records);
            by default the SMILES are the detokenized text of the files (already canonical there).

    Raises:
        InputError: the split is unknown or a file is missing (checked before the first record).
    """
    _check_direction(direction)
    src, tgt = uspto50k_files(folder, split)
    return _iter_uspto50k(src, tgt, direction, canonicalize)


def _iter_uspto50k(
    src: Path, tgt: Path, direction: Direction, canonicalize: bool
) -> Iterator[ReactionRecord]:
    source = str(src)
    with _open_lines(src) as src_fh, _open_lines(tgt) as tgt_fh:
        for index, (src_line, tgt_line) in enumerate(zip_longest(src_fh, tgt_fh), start=1):
            if src_line is None or tgt_line is None:
                short = src if src_line is None else tgt
                yield _failed(source, index, f"{short.name} has no line {index}", direction)
                continue
            yield _uspto50k_record(source, index, src_line, tgt_line, direction, canonicalize)


def _uspto50k_record(
    source: str, index: int, src_line: str, tgt_line: str, direction: Direction, canonicalize: bool
) -> ReactionRecord:
    tokens = src_line.split()
    reaction_class = None
    if tokens and tokens[0].startswith("<"):
        match = _CLASS_TOKEN.match(tokens[0])
        if match is None:
            return _failed(source, index, f"bad reaction-class token {tokens[0]!r}", direction)
        reaction_class = int(match.group(1))
        tokens = tokens[1:]
    product, reactants = "".join(tokens), detokenize(tgt_line)
    if not product or not reactants:
        side = "product (src)" if not product else "reactants (tgt)"
        return _failed(source, index, f"empty {side}", direction, reaction_class)
    if canonicalize:
        try:
            reactants, product = canonicalize_smiles(reactants), canonicalize_smiles(product)
        except ValueError as exc:
            return _failed(source, index, str(exc), direction, reaction_class)
    return ReactionRecord(source, index, reactants, product, reaction_class, None, direction)


# --------------------------------------------------------------------------------------------------
# USPTO-MIT


def uspto_mit_file(path_or_folder: str | Path, split: str | None = None) -> Path:
    """The USPTO-MIT file to read: ``path_or_folder`` itself, or ``{split}.txt.tar.gz`` / ``{split}.txt``
    inside that folder. Raises :class:`InputError` when there is none."""
    path = Path(path_or_folder)
    if path.is_dir():
        if split is None:
            raise InputError(path, "a folder needs a split ('train', 'valid' or 'test')")
        _check_split(split, path)
        for name in (f"{split}.txt.tar.gz", f"{split}.txt"):
            if (path / name).is_file():
                return path / name
        raise InputError(path, f"no {split}.txt.tar.gz or {split}.txt in this folder")
    if not path.is_file():
        raise InputError(path, "file not found")
    return path


def read_uspto_mit(
    path_or_folder: str | Path,
    split: str | None = None,
    direction: Direction = "forward",
    *,
    canonicalize: bool = True,
) -> Iterator[ReactionRecord]:
    """Read USPTO-MIT reactions, streaming from the ``.tar.gz`` (nothing is extracted to disk).

    Each line is ``reactants>>product`` (or ``reactants>reagents>product``) followed by the bond edits,
    which are ignored. Reagents are joined to the reactants (Molecular Transformer "mixed").

    Args:
        path_or_folder: a ``.txt.tar.gz`` (first file inside is read), ``.gz`` or plain text file, or a
            folder holding ``{split}.txt.tar.gz``.
        split: "train", "valid" or "test" when a folder is given.
        direction: "forward" (reactants -> product) or "retro".
        canonicalize: remove the atom maps and canonicalize with rdkit (about 1 ms per reaction;
            unparsable SMILES become error records: 2 of the 30,000 validation reactions, lines 9937
            and 17836, have valences rdkit rejects). False keeps the atom-mapped text as in the file.

    Raises:
        InputError: the file is missing (at the call) or the archive is damaged (while reading).
    """
    _check_direction(direction)
    path = uspto_mit_file(path_or_folder, split)
    return _iter_uspto_mit(path, direction, canonicalize)


def _iter_uspto_mit(path: Path, direction: Direction, canonicalize: bool) -> Iterator[ReactionRecord]:
    source = str(path)
    with _open_lines(path) as fh:
        for index, line in enumerate(fh, start=1):
            if line.strip():  # blank lines (a trailing newline) are skipped; numbering goes on
                yield _mit_record(source, index, line, direction, canonicalize)


def _mit_record(
    source: str, index: int, line: str, direction: Direction, canonicalize: bool
) -> ReactionRecord:
    fields = line.split()
    if len(fields) > 2:
        return _failed(source, index, f"expected 'reaction edits', found {len(fields)} fields", direction)
    try:
        parts = split_reaction(fields[0])
        reactants = ".".join(p for p in (parts.reactants, parts.reagents) if p)
        product = parts.products
        if not reactants or not product:
            raise ValueError("empty " + ("reactants" if not reactants else "product"))
        if canonicalize:
            reactants, product = remove_atom_maps(reactants), remove_atom_maps(product)
    except ValueError as exc:
        return _failed(source, index, str(exc), direction)
    return ReactionRecord(source, index, reactants, product, None, None, direction)


# --------------------------------------------------------------------------------------------------
# Downloads (the path a user with internet takes)


def fetch_uspto50k(
    split: str,
    cache_dir: str | Path | None = None,
    *,
    base_url: str = USPTO50K_URL,
    sha256: dict[str, str] | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Download ``src-{split}.txt`` and ``tgt-{split}.txt`` once; returns the folder to read.

    Args:
        split: "train", "valid" or "test".
        cache_dir: where to keep them (default ``<chemaccel cache>/uspto50k``).
        base_url: folder URL ending in ``/`` (a mirror, or ``file://`` for a copy made by hand).
        sha256: file name -> expected digest; default :data:`USPTO50K_SHA256` for the default URL,
            nothing checked for another one.
        reporter: download progress; cancellable.
    """
    _check_split(split, base_url)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "uspto50k"
    digests = sha256 if sha256 is not None else (USPTO50K_SHA256 if base_url == USPTO50K_URL else {})
    for name in (f"src-{split}.txt", f"tgt-{split}.txt"):
        download(base_url + name, folder, filename=name, sha256=digests.get(name), reporter=reporter)
    return folder


def fetch_uspto_mit(
    split: str,
    cache_dir: str | Path | None = None,
    *,
    base_url: str = USPTO_MIT_URL,
    sha256: str | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Download ``{split}.txt.tar.gz`` once; returns its path (read it with :func:`read_uspto_mit`).

    Args:
        split: "train", "valid" or "test" (test is for the final evaluation only).
        cache_dir: where to keep it (default ``<chemaccel cache>/uspto_mit``).
        base_url: folder URL ending in ``/`` (a mirror, or ``file://``).
        sha256: expected digest; default :data:`USPTO_MIT_SHA256` for the default URL.
        reporter: download progress; cancellable.
    """
    _check_split(split, base_url)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "uspto_mit"
    if sha256 is None and base_url == USPTO_MIT_URL:
        sha256 = USPTO_MIT_SHA256.get(split)
    name = f"{split}.txt.tar.gz"
    return download(base_url + name, cache_dir=folder, filename=name, sha256=sha256, reporter=reporter)


# --------------------------------------------------------------------------------------------------
# helpers


def _failed(
    source: str, index: int, reason: str, direction: Direction, reaction_class: int | None = None
) -> ReactionRecord:
    return ReactionRecord(source, index, reaction_class=reaction_class, error=reason, direction=direction)


def _check_split(split: str, where: str | Path) -> None:
    if split not in SPLITS:
        raise InputError(where, f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def _check_direction(direction: str) -> None:
    if direction not in ("forward", "retro"):
        raise InputError("<direction>", f"unknown direction {direction!r}; expected 'forward' or 'retro'")


@contextmanager
def _open_lines(path: Path) -> Iterator[Iterator[str]]:
    """Text lines of a plain, ``.gz`` or ``.tar.gz`` file (its first regular member), streamed.

    A file that cannot be opened, or an archive found damaged while reading, raises :class:`InputError`
    naming the file. Undecodable bytes are replaced (the record then fails to parse, reading goes on).
    """
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(open(path, "rb"))
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: IO[bytes] = raw
            if gzipped and path.name.lower().endswith((".tar.gz", ".tgz")):
                stream = _first_member(stack.enter_context(tarfile.open(fileobj=raw, mode="r:gz")), path)
            elif gzipped:
                stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        except _DAMAGED as exc:
            raise InputError(path, f"cannot read: {exc}") from None
        yield _guarded(io.TextIOWrapper(stream, encoding="utf-8", errors="replace"), path)


_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)


def _first_member(archive: tarfile.TarFile, path: Path) -> IO[bytes]:
    for member in archive:
        if member.isfile():
            handle = archive.extractfile(member)
            if handle is not None:
                return handle
    raise InputError(path, "the archive holds no file")


def _guarded(lines: Iterable[str], path: Path) -> Iterator[str]:
    try:
        yield from lines
    except _DAMAGED as exc:
        raise InputError(path, f"damaged or truncated file: {exc}") from None
