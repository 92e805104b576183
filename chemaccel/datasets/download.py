"""Download a data file once into a cache folder: streamed to disk, checked, renamed into place.

The cache folder is ``$CHEMACCEL_CACHE`` if set, else ``~/.cache/chemaccel``. A file already in the
cache (and matching ``sha256`` when one is given) is not downloaded again. Any URL that :mod:`urllib`
opens works, including ``file://`` (used by the tests and for archives copied by hand).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from chemaccel.errors import Cancelled, InputError
from chemaccel.reporting import NullReporter, Reporter

CACHE_ENV = "CHEMACCEL_CACHE"
BLOCK = 1 << 20  # 1 MiB per read


def default_cache_dir() -> Path:
    """``$CHEMACCEL_CACHE``, else ``~/.cache/chemaccel`` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "chemaccel"


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    cache_dir: str | Path | None = None,
    filename: str | None = None,
    sha256: str | None = None,
    reporter: Reporter | None = None,
    *,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into ``cache_dir`` (once) and return the local path.

    Args:
        url: http(s), ftp or file URL.
        cache_dir: folder to keep the file in (default :func:`default_cache_dir`); created if missing.
        filename: local name (default: the last part of the URL path).
        sha256: expected hex digest; a cached file that does not match is downloaded again, a download
            that does not match is deleted and raises :class:`~chemaccel.errors.InputError`.
        reporter: progress in bytes (``on_start("download <name>", size)``); cancellable between blocks.
        timeout: seconds to wait for the server per blocking operation.

    Raises:
        InputError: the URL cannot be read or the checksum differs.
        Cancelled: ``reporter.should_stop()`` became True (the partial file is removed).
    """
    reporter = reporter or NullReporter()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    name = filename or _name_from_url(url)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise InputError(url, f"cannot derive a file name from the URL ({name!r}); pass filename=")
    target = folder / name
    expected = sha256.lower() if sha256 else None
    if target.is_file() and (expected is None or sha256_of(target) == expected):
        reporter.on_message(f"using cached {target}")
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(folder, f"cannot create the cache folder: {exc}") from None
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.part"
    try:
        _fetch(url, tmp, name, expected, reporter, timeout)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _fetch(url: str, tmp: Path, name: str, expected: str | None, reporter: Reporter, timeout: float) -> None:
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "chemaccel"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            reporter.on_start(f"download {name}", total)
            done = 0
            while True:
                if reporter.should_stop():
                    raise Cancelled(f"{url}: download cancelled")
                block = response.read(BLOCK)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                done += len(block)
                reporter.on_progress(done, total, None)
            out.flush()
            os.fsync(out.fileno())
    except urllib.error.HTTPError as exc:
        raise InputError(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(url, f"download failed: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # connection reset, timeout, bad URL
        raise InputError(url, f"download failed: {exc}") from None
    if total is not None and done != total:
        raise InputError(url, f"download incomplete: {done} of {total} bytes")
    got = digest.hexdigest()
    if expected is not None and got != expected:
        raise InputError(url, f"sha256 mismatch: expected {expected}, got {got}")
    reporter.on_message(f"downloaded {name} ({done} bytes, sha256 {got})")


def _name_from_url(url: str) -> str:
    path = urllib.parse.urlparse(url).path
    name = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)
