"""IDX reader: the real MNIST / Fashion-MNIST files, a round trip of every dtype, damaged files, downloads."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from chemaccel.datasets.images import (
    FASHION_MNIST_CLASSES,
    fetch_fashion_mnist,
    fetch_mnist,
    image_dataset,
    load_fashion_mnist,
    load_mnist,
    mnist_dataset,
    read_idx,
)
from chemaccel.errors import InputError

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX (big-endian), the way the original files are written."""
    code = CODES[array.dtype.type]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx_set(folder: Path, n: int = 200, *, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
    return images, labels


def folder_of(shared_data: Path, name: str) -> Path:
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


# ----------------------------------------------------------------------------------------- real files


def test_mnist_shapes_and_first_labels(shared_data: Path):
    folder = folder_of(shared_data, "mnist")
    images, labels = load_mnist(folder, "train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[0] == 5 and labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert images.max() == 255 and images[0, 0, 0] == 0
    assert np.bincount(labels, minlength=10).min() > 5000
    test_images, test_labels = load_mnist(folder, "test")
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert test_labels[0] == 7


def test_fashion_mnist_shapes_and_first_label(shared_data: Path):
    folder = folder_of(shared_data, "fashion_mnist")
    images, labels = load_fashion_mnist(folder, "train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert labels[0] == 9 and FASHION_MNIST_CLASSES[labels[0]] == "Ankle boot"
    assert np.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = load_fashion_mnist(folder, "test")
    assert test_images.shape == (10000, 28, 28) and np.bincount(test_labels).tolist() == [1000] * 10


def test_mnist_dataset_normalised(shared_data: Path):
    dataset = mnist_dataset(folder_of(shared_data, "mnist"), "test")
    image, label = dataset[0]
    assert len(dataset) == 10000
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert float(image.min()) == 0.0 and float(image.max()) == 1.0
    assert label.dtype == torch.int64 and int(label) == 7


# ----------------------------------------------------------------------------------------- tiny files


@pytest.mark.parametrize("dtype", list(CODES))
def test_read_idx_round_trip_every_dtype(tmp_path: Path, dtype: type):
    start = 0 if dtype is np.uint8 else -5  # negative values for the signed and float codes
    array = np.arange(start, start + 24).reshape(2, 3, 4).astype(dtype)
    raw = tmp_path / "a.idx"
    raw.write_bytes(idx_bytes(array))
    gz = tmp_path / "a.idx.gz"
    gz.write_bytes(gzip.compress(idx_bytes(array)))
    for path in (raw, gz):
        back = read_idx(path)
        assert back.dtype == np.dtype(dtype) and back.dtype.isnative
        np.testing.assert_array_equal(back, array)
        back[0, 0, 0] = 1  # writable


def test_load_mnist_tiny_raw_and_gz(tmp_path: Path):
    images, labels = write_idx_set(tmp_path / "gz")
    got_images, got_labels = load_mnist(tmp_path / "gz", "train")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    write_idx_set(tmp_path / "raw" / "raw", gz=False)  # torchvision's <root>/raw layout, uncompressed
    assert load_mnist(tmp_path / "raw", "test")[0].shape == (200, 28, 28)

    dataset = image_dataset(images, labels, flatten=True)
    x, y = dataset[3]
    assert x.shape == (784,) and torch.allclose(x * 255, torch.from_numpy(images[3].reshape(-1)).float())
    assert int(y) == int(labels[3])


def test_truncated_idx_names_the_file(tmp_path: Path):
    data = idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(data[:-100])
    with pytest.raises(InputError, match=r"idx3-ubyte: truncated: 7740 data bytes, expected 7840 for 10x28"):
        read_idx(path)
    path.write_bytes(data + b"\0")
    with pytest.raises(InputError, match="trailing bytes"):
        read_idx(path)
    path.write_bytes(data[:10])  # inside the header
    with pytest.raises(InputError, match="truncated IDX header"):
        read_idx(path)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(data)[:-20])
    with pytest.raises(InputError, match=r"cut.gz: damaged gzip"):
        read_idx(gz)


def test_wrong_magic_number(tmp_path: Path):
    data = bytearray(idx_bytes(np.zeros(5, dtype=np.uint8)))
    bad = tmp_path / "labels.idx"
    bad.write_bytes(b"\x50\x4b\x03\x04" + bytes(data[4:]))  # a zip file, say
    with pytest.raises(InputError, match=r"labels.idx: not an IDX file: magic number 0x504b0304"):
        read_idx(bad)
    data[2] = 0x07
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="unknown IDX dtype code 0x07"):
        read_idx(bad)
    data[2], data[3] = 0x08, 0
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="dimension count 0"):
        read_idx(bad)
    bad.write_bytes(b"\0\0")
    with pytest.raises(InputError, match="shorter than the 4-byte magic"):
        read_idx(bad)
    with pytest.raises(InputError, match="file not found"):
        read_idx(tmp_path / "missing.idx")


def test_load_mnist_checks_the_pair(tmp_path: Path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(InputError, match="3 labels for 200 images"):
        load_mnist(tmp_path, "test")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match="IDX file not found"):
        load_mnist(tmp_path, "test")
    with pytest.raises(InputError, match="unknown split"):
        load_mnist(tmp_path, "valid")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- downloads


def test_fetch_mnist_from_file_mirrors(tmp_path: Path):
    images, _ = write_idx_set(tmp_path / "mirror")
    dead = (tmp_path / "dead").as_uri() + "/"
    folder = fetch_mnist(tmp_path / "cache", mirrors=(dead, (tmp_path / "mirror").as_uri() + "/"))
    assert folder == tmp_path / "cache"
    np.testing.assert_array_equal(load_mnist(folder, "train")[0], images)
    with pytest.raises(InputError, match="every mirror"):
        fetch_fashion_mnist(tmp_path / "cache2", mirrors=(dead,))
    with pytest.raises(InputError, match="md5 mismatch"):
        fetch_fashion_mnist(
            tmp_path / "cache3",
            mirrors=((tmp_path / "mirror").as_uri() + "/",),
            md5={"train-images-idx3-ubyte.gz": "0" * 32},
        )
    assert not (tmp_path / "cache3" / "train-images-idx3-ubyte.gz").exists()
