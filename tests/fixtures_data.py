"""Tiny data-set fixtures written in the real on-disk formats, for tests/test_data.py.

* MNIST family: IDX files (big-endian header, uint8 payload), optionally gzipped, in
  torchvision's ``ROOT/<Class>/raw/`` layout or flat in one folder (like Debian's package).
* CIFAR: python pickles of dicts (``data`` as (N, 3072) uint8 rows of R, G, B planes, ``labels``
  or ``fine_labels``), which is CIFAR's real format, in ``ROOT/cifar-10-batches-py/`` or
  ``ROOT/cifar-100-python/``.

Image ``i`` of each split carries its index in pixel ``[0, 0, 0]`` (sizes stay below 256), so a
test can tell which official image a split returned. The ``patch_*`` helpers make torchvision's
checksum tables (and ``lsutils.data.RAW_MD5``) agree with the fixtures.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torchvision.datasets as tvd

from lsutils import data

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def idx_bytes(a: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0x0000, type 0x08, ndim, then big-endian dims and the bytes."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def gz_bytes(blob: bytes, level: int = 9) -> bytes:
    """Deterministic gzip (mtime 0); a different ``level`` gives another archive of the same content."""
    return gzip.compress(blob, compresslevel=level, mtime=0)


def _images(n: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    x.reshape(n, -1)[:, 0] = np.arange(n)  # the image's index, to identify it after a split
    return x


def mnist_arrays(n_train: int = 20, n_test: int = 10, num_classes: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """The four IDX arrays, keyed by file name (no .gz)."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": _images(n_train, (28, 28), rng),
        "train-labels-idx1-ubyte": (np.arange(n_train) % num_classes).astype(np.uint8),
        "t10k-images-idx3-ubyte": _images(n_test, (28, 28), rng),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % num_classes).astype(np.uint8),
    }


@dataclass
class MnistFixture:
    arrays: dict[str, np.ndarray]
    gz: dict[str, str] = field(default_factory=dict)  # "<file>.gz" -> md5 of the archive
    raw: dict[str, str] = field(default_factory=dict)  # "<file>" -> md5 of the IDX content
    folder: Path | None = None  # where the files were written


def _encode(arrays: dict[str, np.ndarray], level: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    raw = {n: idx_bytes(a) for n, a in arrays.items()}
    return raw, {n + ".gz": gz_bytes(b, level) for n, b in raw.items()}


def write_mnist_layout(root: Path, tv_class: str = "FashionMNIST", arrays: dict | None = None, *,
                       with_gz: bool = True, with_raw: bool = True, level: int = 9) -> MnistFixture:
    """Write ``root/<tv_class>/raw/`` as torchvision's download leaves it (.gz and decompressed)."""
    arrays = arrays or mnist_arrays()
    raw, gz = _encode(arrays, level)
    folder = Path(root) / tv_class / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for n, b in raw.items():
        if with_raw:
            (folder / n).write_bytes(b)
        if with_gz:
            (folder / (n + ".gz")).write_bytes(gz[n + ".gz"])
    return MnistFixture(arrays, {n: md5(b) for n, b in gz.items()}, {n: md5(b) for n, b in raw.items()}, folder)


def write_gz_dir(folder: Path, arrays: dict | None = None, level: int = 9) -> MnistFixture:
    """Only the four .gz files, flat in ``folder``, as Debian's dataset-fashion-mnist ships them."""
    arrays = arrays or mnist_arrays()
    raw, gz = _encode(arrays, level)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n, b in gz.items():
        (folder / n).write_bytes(b)
    return MnistFixture(arrays, {n: md5(b) for n, b in gz.items()}, {n: md5(b) for n, b in raw.items()}, folder)


def patch_mnist_checksums(monkeypatch, name: str, fx: MnistFixture, gz_md5: dict | None = None) -> None:
    """Point torchvision's ``<Class>.resources`` (archive md5s) and ``data.RAW_MD5`` at the fixture."""
    cls = getattr(tvd, data.DATASETS[name].tv_class)
    gz_md5 = gz_md5 or fx.gz
    monkeypatch.setattr(cls, "resources", [(f, gz_md5[f]) for f, _ in cls.resources])
    monkeypatch.setitem(data.RAW_MD5, name, dict(fx.raw))


@dataclass
class CifarFixture:
    train_x: np.ndarray  # (N, 3, 32, 32) uint8
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    md5: dict[str, str]  # file name -> md5
    folder: Path


def _cifar_batch(x: np.ndarray, y: np.ndarray, label_key: str, name: str) -> bytes:
    entry = {"batch_label": name, "data": x.reshape(len(x), -1), label_key: [int(v) for v in y],
             "filenames": [f"img_{i}.png" for i in range(len(x))]}
    if label_key == "fine_labels":
        entry["coarse_labels"] = [int(v) % 20 for v in y]
    return pickle.dumps(entry, protocol=2)


def write_cifar_layout(root: Path, tv_class: str = "CIFAR10", n_train: int = 20, n_test: int = 10,
                       seed: int = 0) -> CifarFixture:
    """Write CIFAR-10's ``data_batch_1..5``/``test_batch``/``batches.meta`` or CIFAR-100's
    ``train``/``test``/``meta`` (file names taken from torchvision's class)."""
    cls = getattr(tvd, tv_class)
    num_classes = 100 if tv_class == "CIFAR100" else 10
    label_key = "fine_labels" if tv_class == "CIFAR100" else "labels"
    rng = np.random.default_rng(seed)
    train_x, test_x = _images(n_train, (3, 32, 32), rng), _images(n_test, (3, 32, 32), rng)
    train_y, test_y = np.arange(n_train) % num_classes, (np.arange(n_test) + 3) % num_classes
    folder = Path(root) / cls.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    chunks = np.array_split(np.arange(n_train), len(cls.train_list))  # CIFAR-10: 5 batches
    for (fname, _), idx in zip(cls.train_list, chunks):
        files[fname] = _cifar_batch(train_x[idx], train_y[idx], label_key, fname)
    files[cls.test_list[0][0]] = _cifar_batch(test_x, test_y, label_key, "test")
    meta = {cls.meta["key"]: list(data.DATASETS["cifar100" if num_classes == 100 else "cifar10"].class_names)}
    files[cls.meta["filename"]] = pickle.dumps(meta, protocol=2)
    for fname, blob in files.items():
        (folder / fname).write_bytes(blob)
    return CifarFixture(train_x, train_y, test_x, test_y, {f: md5(b) for f, b in files.items()}, folder)


def patch_cifar_checksums(monkeypatch, tv_class: str, fx: CifarFixture) -> None:
    """Point torchvision's ``train_list``/``test_list``/``meta`` md5s at the fixture."""
    cls = getattr(tvd, tv_class)
    monkeypatch.setattr(cls, "train_list", [[f, fx.md5[f]] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, fx.md5[f]] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": fx.md5[cls.meta["filename"]]})
