"""MNIST and Fashion-MNIST from their IDX files (gzipped or raw), and a torch data set built from them.

The IDX format (LeCun et al.): two zero bytes, a dtype code, the number of dimensions ``d``; ``d``
big-endian uint32 sizes; then the values, big-endian, row-major. Both data sets ship four files:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each usually with ``.gz``). The readers take a local folder; a user with
internet gets the files once with :func:`fetch_mnist` / :func:`fetch_fashion_mnist`.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from chemaccel.datasets.download import default_cache_dir, download
from chemaccel.errors import InputError
from chemaccel.reporting import Reporter

if TYPE_CHECKING:
    from torch.utils.data import TensorDataset

Split = Literal["train", "test"]

#: IDX dtype code -> numpy dtype (big-endian on disk).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMS = 16

#: Mirrors of the original MNIST files, tried in order (the ones torchvision uses).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: Official Fashion-MNIST locations (Zalando Research), tried in order.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: MD5 of the official ``.gz`` files (as published by the authors and checked by torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or raw, told apart by content) into an array in native byte order.

    Raises:
        InputError: missing file, damaged gzip, bad magic number, unknown dtype code, or a data length
            that does not match the dimensions (truncated or trailing bytes); the message names the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise InputError(path, f"not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0:
        raise InputError(path, f"not an IDX file: magic number 0x{data[:4].hex()} does not start with 0x0000")
    if code not in IDX_DTYPES:
        raise InputError(path, f"unknown IDX dtype code 0x{code:02x} (magic number 0x{data[:4].hex()})")
    if not 1 <= ndim <= MAX_DIMS:
        raise InputError(path, f"bad IDX dimension count {ndim} (magic number 0x{data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(path, f"truncated IDX header: {len(data)} bytes, {ndim} dimensions need {header}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes"
        shape = "x".join(map(str, dims))
        raise InputError(path, f"{what}: {got} data bytes, expected {expected} for {shape} {dtype.name}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(path, f"damaged gzip data: {exc}") from None
    return data


def idx_file(folder: str | Path, stem: str) -> Path:
    """``folder/stem.gz`` or ``folder/stem`` (also under ``folder/raw``, torchvision's layout)."""
    base = Path(folder)
    for sub in (base, base / "raw"):
        for name in (f"{stem}.gz", stem):
            if (sub / name).is_file():
                return sub / name
    raise InputError(base / f"{stem}.gz", f"IDX file not found (looked for {stem}.gz and {stem} in {base})")


def load_mnist(folder: str | Path, split: Split = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one MNIST-layout split (MNIST, Fashion-MNIST, ...).

    Args:
        folder: holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
        split: "train" (60,000 for MNIST) or "test" (10,000).

    Returns:
        ``(images, labels)``: uint8 arrays of shape (N, 28, 28) (pixel 0 = background) and (N,).

    Raises:
        InputError: unknown split, missing or damaged file, or images and labels that do not match.
    """
    if split not in ("train", "test"):
        raise InputError(folder, f"unknown split {split!r}; expected 'train' or 'test'")
    prefix = "train" if split == "train" else "t10k"
    images_path = idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(images_path, f"expected uint8 images (N, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise InputError(labels_path, f"expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise InputError(labels_path, f"{len(labels)} labels for {len(images)} images in {images_path.name}")
    return images, labels


def load_fashion_mnist(folder: str | Path, split: Split = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST: same layout as MNIST; class names in :data:`FASHION_MNIST_CLASSES`."""
    return load_mnist(folder, split)


def image_dataset(images: np.ndarray, labels: np.ndarray, *, flatten: bool = False) -> TensorDataset:
    """A torch ``TensorDataset`` of ``(image, label)``: float32 pixels in [0, 1], int64 labels.

    Args:
        images: uint8 array (N, H, W), as from :func:`load_mnist`.
        labels: integer array (N,).
        flatten: images as (N, H*W) vectors instead of (N, 1, H, W) one-channel images.
    """
    import torch
    from torch.utils.data import TensorDataset

    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    x = x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
    y = torch.from_numpy(np.asarray(labels).astype(np.int64))
    return TensorDataset(x, y)


def mnist_dataset(folder: str | Path, split: Split = "train", *, flatten: bool = False) -> TensorDataset:
    """:func:`load_mnist` then :func:`image_dataset`."""
    return image_dataset(*load_mnist(folder, split), flatten=flatten)


# --------------------------------------------------------------------------------------------------
# Downloads (the path a user with internet takes)

FILES = tuple(MNIST_MD5)


def fetch_mnist(
    cache_dir: str | Path | None = None,
    *,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
    md5: dict[str, str] | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Download the four MNIST files once; returns the folder for :func:`load_mnist`.

    Args:
        cache_dir: where to keep them (default ``<chemaccel cache>/mnist``).
        mirrors: base URLs ending in ``/``, tried in order per file (``file://`` works).
        md5: file name -> expected MD5; default :data:`MNIST_MD5` for the default mirrors, nothing
            checked for others. A mismatching download is deleted and the next mirror tried.
        reporter: download progress; cancellable.

    Raises:
        InputError: no mirror delivered a file (the message lists each mirror's reason).
    """
    checks = md5 if md5 is not None else (MNIST_MD5 if mirrors == MNIST_MIRRORS else {})
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "mnist"
    return _fetch_idx_set(folder, mirrors, checks, reporter)


def fetch_fashion_mnist(
    cache_dir: str | Path | None = None,
    *,
    mirrors: tuple[str, ...] = FASHION_MNIST_MIRRORS,
    md5: dict[str, str] | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Download the four Fashion-MNIST files once (default ``<chemaccel cache>/fashion_mnist``);
    see :func:`fetch_mnist`."""
    checks = md5 if md5 is not None else (FASHION_MNIST_MD5 if mirrors == FASHION_MNIST_MIRRORS else {})
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "fashion_mnist"
    return _fetch_idx_set(folder, mirrors, checks, reporter)


def _fetch_idx_set(
    folder: Path, mirrors: tuple[str, ...], md5: dict[str, str], reporter: Reporter | None
) -> Path:
    for name in FILES:
        reasons: list[str] = []
        for base in mirrors:
            try:
                path = download(base + name, cache_dir=folder, filename=name, reporter=reporter)
            except InputError as exc:
                reasons.append(str(exc))
                continue
            expected = md5.get(name)
            if expected is None or _md5(path) == expected:
                break
            path.unlink(missing_ok=True)
            reasons.append(f"{base}{name}: md5 mismatch, expected {expected}")
        else:
            raise InputError(folder / name, "download failed from every mirror: " + "; ".join(reasons))
    return folder


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
