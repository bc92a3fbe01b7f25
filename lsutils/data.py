"""Data sets of the book: Fashion-MNIST (the main one), MNIST, CIFAR-10 and CIFAR-100.

Everything is read through torchvision's dataset classes (``download=False``) from their usual
on-disk layout under a root folder::

    ROOT/
      FashionMNIST/raw/
        train-images-idx3-ubyte[.gz]
        train-labels-idx1-ubyte[.gz]
        t10k-images-idx3-ubyte[.gz]
        t10k-labels-idx1-ubyte[.gz]
      MNIST/raw/
        (the same four files)
      cifar-10-batches-py/
        data_batch_1 … data_batch_5
        test_batch
        batches.meta
      cifar-100-python/
        train
        test
        meta

``locate`` finds such a root (or prepares one), trying in order:

1. the explicit ``root=`` argument, else the ``LSBOOK_DATA`` environment variable;
2. an existing layout in one of :data:`SEARCH_PATHS` (``~/.cache/lsbook/data``, ``./data``, ``~/data``);
3. Fashion-MNIST only: the files of Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist``, or ``LSBOOK_SYSTEM_DATA``), checked, copied and gunzipped
   into ``data_root(root)``;
4. torchvision's own download into ``data_root(root)``, only with ``download=True``.

Integrity. Every file is checked before it is used, and a bad file raises
:class:`DataIntegrityError` (it is never used, and never silently replaced):

* MNIST family: the ``.gz`` archives against torchvision's table (``<Class>.resources``, read at
  call time), the decompressed IDX files structurally (magic number, dimensions, exact length) and
  against the official md5s of their content (:data:`RAW_MD5`). Debian recompresses the archives, so
  their ``.gz`` md5s differ from torchvision's while their content is byte-identical to the official
  release: an archive is therefore accepted when either its own md5 or its content's md5 matches.
* CIFAR: every batch file and the meta file against torchvision's ``train_list``/``test_list``/``meta``.

``load_split(name, split)`` returns uint8 images ``(N, C, H, W)`` and int64 labels ``(N,)`` for
``"train"``/``"val"`` (a fixed-seed split of the official training set, as in Müller et al. 2019)
or ``"test"`` (the official test set).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "SPLITS",
    "SEARCH_PATHS",
    "DEBIAN_DIR",
    "RAW_MD5",
    "DatasetInfo",
    "DataNotFoundError",
    "DataIntegrityError",
    "get_info",
    "data_root",
    "locate",
    "prepare",
    "load_split",
    "hooked",
    "splits_cut",
    "split_hook",
    "split_indices",
    "clear_cache",
]


# --------------------------------------------------------------------------- data set table


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the book needs to know about one data set."""

    name: str  # canonical name, e.g. "fashion_mnist"
    tv_class: str  # torchvision.datasets class name; looked up at call time (tests patch it)
    num_classes: int
    channels: int
    image_size: tuple[int, int]  # (H, W)
    class_names: tuple[str, ...]
    val_size: int  # held out of the official training set
    train_size: int  # official training-set size
    test_size: int  # official test-set size

    @property
    def is_mnist_family(self) -> bool:
        """True for the IDX-file data sets (MNIST, Fashion-MNIST)."""
        return self.channels == 1

    @property
    def folder(self) -> str:
        """Folder under the root that holds this data set in torchvision's layout."""
        return f"{self.tv_class}/raw" if self.is_mnist_family else _tv_class(self).base_folder


_CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab "
    "crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard "
    "lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom "
    "oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine "
    "possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake "
    "spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor "
    "train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

DATASETS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "FashionMNIST", 10, 1, (28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        val_size=10_000, train_size=60_000, test_size=10_000,
    ),
    "mnist": DatasetInfo(
        "mnist", "MNIST", 10, 1, (28, 28), tuple(str(d) for d in range(10)),
        val_size=10_000, train_size=60_000, test_size=10_000,
    ),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR10", 10, 3, (32, 32),
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        val_size=10_000, train_size=50_000, test_size=10_000,
    ),
    "cifar100": DatasetInfo(
        "cifar100", "CIFAR100", 100, 3, (32, 32), tuple(_CIFAR100_CLASSES),
        val_size=10_000, train_size=50_000, test_size=10_000,
    ),
}

SPLITS = ("train", "val", "test")

# Roots where an existing torchvision layout is looked for (route 2). Relative paths are taken
# from the current directory at call time. A module-level list so tests (and users) can patch it.
SEARCH_PATHS: list[Path] = [
    Path("~/.cache/lsbook/data"),
    Path("data"),
    Path("~/data"),
]

# Where Debian's dataset-fashion-mnist puts the official .gz files (route 3).
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

# md5 of the *decompressed* official IDX files. torchvision only lists the md5s of the .gz
# archives, which change whenever someone recompresses them (Debian does); the content does not.
RAW_MD5: dict[str, dict[str, str]] = {
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
}

_IDX_UBYTE = 0x08  # IDX type code of unsigned bytes, the only one the MNIST family uses


class DataNotFoundError(FileNotFoundError):
    """No route found or prepared the data; the message lists every route and why it failed."""

    def __init__(self, message: str, attempts: list[tuple[str, str]]):
        super().__init__(message)
        self.attempts = attempts  # [(route, why it failed), ...] in the order tried

    def __reduce__(self):  # rebuilt from its own arguments, e.g. back from a worker process
        return type(self), (self.args[0], self.attempts), self.__dict__


def _dataset_of(path: Path | str) -> str:
    """The data set whose torchvision folder appears in ``path`` (for the fix in a message)."""
    parts = {p.lower().replace("-", "").replace("_", "") for p in Path(path).parts}
    for info in DATASETS.values():
        names = {info.name.replace("_", ""), info.tv_class.lower(),
                 info.folder.split("/")[0].lower().replace("-", "").replace("_", "")}
        if parts & names:
            return info.name
    return "{" + "|".join(DATASETS) + "}"


class DataIntegrityError(ValueError):
    """A data file is present but truncated, altered or malformed; ``path`` names it."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(
            f"{path}: {problem}. The file is not used; delete it (or the folder) and run "
            f"`python -m lsutils data {_dataset_of(path)}` to prepare the data again."
        )
        self.path = Path(path)
        self.problem = problem

    def __reduce__(self):  # rebuilt from its own arguments, e.g. back from a worker process
        return type(self), (self.path, self.problem), self.__dict__


# --------------------------------------------------------------------------- small helpers


def get_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name``.

    Case, ``-`` and ``_`` do not matter: ``"Fashion-MNIST"``, ``"cifar-10"`` and ``"cifar10"`` all work.
    """
    def squash(s: str) -> str:
        return s.lower().replace("-", "").replace("_", "")

    for key, info in DATASETS.items():
        if squash(str(name)) == squash(key):
            return info
    raise ValueError(f"name must be one of {list(DATASETS)} (got {name!r})")


def _tv_class(info: DatasetInfo) -> type:
    # Looked up on every call so that monkeypatched checksum tables are seen; imported here, not at
    # the top, because torchvision takes 1.5 s to import and only checksums and downloads need it.
    import torchvision.datasets as tvd

    return getattr(tvd, info.tv_class)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The root to read or prepare data in: ``root``, else ``$LSBOOK_DATA``, else ``~/.cache/lsbook/data``."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)) or not str(root):
            raise ValueError(f"root must be a non-empty path (str or os.PathLike), got {root!r}")
        return Path(root).expanduser()
    env = os.environ.get("LSBOOK_DATA")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/lsbook/data").expanduser()


def _system_dir() -> Path:
    return Path(os.environ.get("LSBOOK_SYSTEM_DATA") or DEBIAN_DIR).expanduser()


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gunzip_md5(path: Path) -> str:
    """md5 of a .gz file's content; a truncated or non-gzip file raises DataIntegrityError."""
    h = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataIntegrityError(path, f"cannot be decompressed (truncated or not gzip: {e})") from e
    return h.hexdigest()


def _atomic_write(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``dest`` through a temp file in the same folder, then ``os.replace``: an interrupted
    copy never leaves a half-written file under the real name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are meant to be shared and read-only-ish
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- integrity checks


def _mnist_files(info: DatasetInfo) -> list[tuple[str, str]]:
    """[(archive name, torchvision md5), ...] read from the torchvision class now."""
    return [(fname, md5) for fname, md5 in _tv_class(info).resources]


def _check_idx(path: Path, ndim: int, tail: tuple[int, ...]) -> int:
    """Check an IDX file's header and exact length; return its first dimension (item count)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    if len(head) < 4 + 4 * ndim:
        raise DataIntegrityError(path, f"only {size} bytes, shorter than an IDX header")
    zero, dtype, nd = struct.unpack(">HBB", head[:4])
    if zero != 0 or dtype != _IDX_UBYTE or nd != ndim:
        raise DataIntegrityError(
            path, f"bad IDX magic number {head[:4].hex()} (expected 0000080{ndim}: uint8, {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", head[4:])
    if tuple(dims[1:]) != tail:
        raise DataIntegrityError(path, f"IDX dims {dims}, expected (N, {', '.join(map(str, tail))})")
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        raise DataIntegrityError(
            path, f"{size} bytes but its header {dims} needs exactly {expected} (truncated or padded)")
    return dims[0]


def _check_archive(gz: Path, tv_md5: str, raw_md5: str | None) -> None:
    """Accept a .gz whose md5 is torchvision's, or whose content's md5 is the official one
    (a recompressed archive, e.g. Debian's); anything else is an altered or truncated file."""
    got = _md5(gz)
    if got == tv_md5:
        return
    if raw_md5 is None:
        raise DataIntegrityError(gz, f"md5 {got} differs from torchvision's {tv_md5}")
    content = _gunzip_md5(gz)
    if content != raw_md5:
        raise DataIntegrityError(
            gz, f"md5 {got} differs from torchvision's {tv_md5}, and the md5 of its content "
                f"{content} differs from the official {raw_md5}")


def _inspect_mnist(info: DatasetInfo, root: Path) -> list[str]:
    raw_dir = root / info.folder
    table = RAW_MD5.get(info.name, {})
    missing, counts = [], {}
    for fname, tv_md5 in _mnist_files(info):
        raw_name = fname[:-3] if fname.endswith(".gz") else fname
        raw, gz = raw_dir / raw_name, raw_dir / fname
        if gz.is_file():  # the archive is optional (torchvision reads the IDX file), but if there, it must be right
            _check_archive(gz, tv_md5, table.get(raw_name))
        if not raw.is_file():
            missing.append(str(raw))
            continue
        is_images = "images" in raw_name
        counts[raw_name] = _check_idx(raw, 3 if is_images else 1, info.image_size if is_images else ())
        if raw_name in table and (got := _md5(raw)) != table[raw_name]:
            raise DataIntegrityError(raw, f"md5 {got} differs from the official {table[raw_name]} (altered)")
    for prefix in ("train", "t10k"):  # images and labels of one split must pair up
        n_img, n_lab = counts.get(f"{prefix}-images-idx3-ubyte"), counts.get(f"{prefix}-labels-idx1-ubyte")
        if n_img is not None and n_lab is not None and n_img != n_lab:
            raise DataIntegrityError(raw_dir / f"{prefix}-labels-idx1-ubyte",
                                     f"{n_lab} labels for {n_img} images")
    return missing


def _cifar_files(info: DatasetInfo) -> list[tuple[str, str]]:
    cls = _tv_class(info)
    return [(f, m) for f, m in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])]


def _inspect_cifar(info: DatasetInfo, root: Path) -> list[str]:
    base = root / info.folder
    missing = []
    for fname, md5 in _cifar_files(info):
        path = base / fname
        if not path.is_file():
            missing.append(str(path))
        elif (got := _md5(path)) != md5:
            raise DataIntegrityError(
                path, f"md5 {got} differs from torchvision's {md5} ({path.stat().st_size} bytes; truncated or altered)")
    return missing


def _stamp(info: DatasetInfo, root: Path) -> tuple:
    """Cache key: the files' sizes and mtimes plus the checksum tables in force, so a changed
    file or a patched table is re-verified."""
    if info.is_mnist_family:
        names = [n for f, _ in _mnist_files(info) for n in (f, f[:-3])]
        tables = (tuple(map(tuple, _mnist_files(info))), tuple(sorted(RAW_MD5.get(info.name, {}).items())))
    else:
        names = [f for f, _ in _cifar_files(info)]
        tables = tuple(_cifar_files(info))
    files = []
    for n in names:
        p = root / info.folder / n
        st = p.stat() if p.is_file() else None
        files.append((n, st and (st.st_size, st.st_mtime_ns, st.st_ino)))
    return (info.name, str(root.resolve()), tuple(files), tables)


@functools.lru_cache(maxsize=64)
def _inspect_cached(info: DatasetInfo, root: Path, stamp: tuple) -> tuple[str, ...]:
    # Exceptions are not cached, so a corrupt file keeps raising until it is fixed.
    inspect = _inspect_mnist if info.is_mnist_family else _inspect_cifar
    return tuple(inspect(info, root))


def _inspect(info: DatasetInfo, root: Path) -> list[str]:
    """Verify what is present under ``root``; return the missing files ([] = complete and valid).
    Raises DataIntegrityError on any present file that is bad."""
    return list(_inspect_cached(info, root, _stamp(info, root)))


# --------------------------------------------------------------------------- routes


def _missing_reason(info: DatasetInfo, root: Path, missing: list[str]) -> str:
    if len(missing) == len(_mnist_files(info) if info.is_mnist_family else _cifar_files(info)):
        return f"no {info.folder}/ layout in {root}"
    return f"incomplete layout in {root}: missing {', '.join(Path(m).name for m in missing)}"


def _from_debian(info: DatasetInfo, target: Path) -> str | None:
    """Route 3: copy and gunzip Debian's Fashion-MNIST files into ``target``.
    Returns None on success, else why the route does not apply."""
    src_dir = _system_dir()
    files = _mnist_files(info)
    absent = [f for f, _ in files if not (src_dir / f).is_file()]
    if absent:
        return (f"{src_dir} lacks {', '.join(absent)} -> install the Debian package: "
                f"`sudo apt-get install {DEBIAN_PACKAGE}` (or set LSBOOK_SYSTEM_DATA to its folder)")
    table = RAW_MD5.get(info.name, {})
    for fname, tv_md5 in files:  # verify every source before writing anything
        _check_archive(src_dir / fname, tv_md5, table.get(fname[:-3]))
    _inspect(info, target)  # a corrupt file already in the target raises instead of being overwritten
    raw_dir = target / info.folder
    for fname, _ in files:
        src, gz, raw = src_dir / fname, raw_dir / fname, raw_dir / fname[:-3]
        if not gz.is_file():
            _atomic_write(gz, lambda out, src=src: out.write(src.read_bytes()))
        if not raw.is_file():
            def gunzip(out: BinaryIO, src: Path = src) -> None:
                with gzip.open(src, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            _atomic_write(raw, gunzip)
    return None


def _torchvision_download(info: DatasetInfo, target: Path) -> None:
    """Route 4: torchvision's own download (needs a network). Tests replace this function."""
    cls = _tv_class(info)
    for train in (True, False):
        cls(root=str(target), train=train, download=True)


def _try_root(info: DatasetInfo, root: Path) -> str | None:
    """None if ``root`` holds a complete, valid layout; else why not (corruption raises)."""
    if not (root / info.folder).is_dir():
        return f"no {info.folder}/ in {root}"
    missing = _inspect(info, root)
    return _missing_reason(info, root, missing) if missing else None


# Each route returns (root, route key) on success, or (None, why it failed and what to do).


def _route_explicit(info: DatasetInfo, root, target: Path, download: bool) -> tuple[Path | None, str]:
    hint = f" -> set `root=`/`LSBOOK_DATA` to a folder holding {info.folder}/"
    if root is None and not os.environ.get("LSBOOK_DATA"):
        return None, "no root= given and LSBOOK_DATA is not set" + hint
    key = "root=" if root is not None else "LSBOOK_DATA"
    why = _try_root(info, target)
    return (target, key) if why is None else (None, f"{key} {target}: {why}{hint}")


def _route_search(info: DatasetInfo, root, target: Path, download: bool) -> tuple[Path | None, str]:
    if root is not None or os.environ.get("LSBOOK_DATA"):  # an explicit root is never overridden
        return None, f"not searched: an explicit root ({target}) was given"
    whys = []
    for cand in SEARCH_PATHS:
        cand = Path(cand).expanduser().absolute()  # "./data" means the current directory now
        why = _try_root(info, cand)
        if why is None:
            return cand, "existing"
        whys.append(why)
    places = ", ".join(str(p) for p in SEARCH_PATHS) or "(search list empty)"
    return None, f"{places}: " + ("; ".join(whys) or "nothing to search")


def _route_debian(info: DatasetInfo, root, target: Path, download: bool) -> tuple[Path | None, str]:
    if info.name != "fashion_mnist":
        return None, (f"only Fashion-MNIST is packaged in Debian "
                      f"(`sudo apt-get install {DEBIAN_PACKAGE}`); not {info.name}")
    why = _from_debian(info, target) or _try_root(info, target)
    return (target, "debian") if why is None else (None, why)


def _route_download(info: DatasetInfo, root, target: Path, download: bool) -> tuple[Path | None, str]:
    hint = f" -> run `python -m lsutils data {info.name}` (downloads through torchvision when a network exists)"
    if not download:
        return None, "not tried (download=False)" + hint
    _inspect(info, target)  # never let a download silently replace a corrupt file
    try:
        _torchvision_download(info, target)
    except DataIntegrityError:
        raise
    except Exception as e:  # no network, server error, ...: reported with the other routes
        return None, f"into {target} failed: {type(e).__name__}: {e}{hint}"
    why = _try_root(info, target)
    return (target, "download") if why is None else (None, f"into {target}: {why}{hint}")


_ROUTES = [
    ("1. explicit root", _route_explicit),
    ("2. usual places", _route_search),
    ("3. Debian package", _route_debian),
    ("4. torchvision download", _route_download),
]


def _locate(info: DatasetInfo, root: str | os.PathLike | None, download: bool) -> tuple[Path, str]:
    """Try the routes in order; return (root, route key) of the first that works."""
    target = data_root(root)  # where routes 3 and 4 write
    attempts: list[tuple[str, str]] = []
    for label, route in _ROUTES:
        found, why = route(info, root, target, download)
        if found is not None:
            return found, why
        attempts.append((label, why))
    lines = "\n".join(f"  {label}: {why}" for label, why in attempts)
    raise DataNotFoundError(f"{info.name} data not found. Routes tried, in order:\n{lines}", attempts)


def locate(name: str, root: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Find (or prepare) ``name`` and return the root folder holding its torchvision layout.

    Routes, in order: explicit ``root``/``LSBOOK_DATA``; an existing layout in :data:`SEARCH_PATHS`;
    Debian's ``dataset-fashion-mnist`` (Fashion-MNIST only, copied into ``data_root(root)``);
    torchvision's download into ``data_root(root)`` when ``download=True``.

    Raises:
        ValueError: unknown ``name``.
        DataIntegrityError: a present file is truncated or altered (it is never used or overwritten).
        DataNotFoundError: no route worked; the message says why for each route and what to do.
    """
    return _locate(get_info(name), root, download)[0]


_ROUTE_TEXT = {
    "root=": "found under the explicit root= argument",
    "LSBOOK_DATA": "found under $LSBOOK_DATA",
    "existing": "found an existing layout in a usual place",
    "debian": f"prepared from Debian's {DEBIAN_PACKAGE} files",
    "download": "downloaded through torchvision",
}


def prepare(name: str, root: str | os.PathLike | None = None, download: bool = True) -> tuple[Path, str]:
    """Make ``name`` available (what ``python -m lsutils data NAME`` runs) and print how.

    Returns ``(path, route)``: the root holding the data and which route worked, one of
    ``"root="``, ``"LSBOOK_DATA"``, ``"existing"``, ``"debian"``, ``"download"``.
    """
    info = get_info(name)
    path, route = _locate(info, root, download)
    print(f"{info.name}: ready in {path} ({_ROUTE_TEXT[route]})")
    return path, route


# --------------------------------------------------------------------------- loading


def _torchvision_dataset(info: DatasetInfo, root: Path, train: bool):
    """Instantiate the torchvision class; its errors become DataIntegrityError naming the file."""
    try:
        return _tv_class(info)(root=str(root), train=train, download=False)
    except (RuntimeError, AssertionError, EOFError, ValueError, OSError) as e:
        # torchvision says only "not found or corrupted": find out which file it means.
        _inspect_cached.cache_clear()
        try:
            missing = _inspect(info, root)
        except DataIntegrityError as bad:
            raise DataIntegrityError(bad.path, f"{bad.problem}; torchvision said: {e}") from e
        culprit = missing[0] if missing else root / info.folder
        raise DataIntegrityError(culprit, f"torchvision could not load it: {e}") from e


def _as_tensors(info: DatasetInfo, ds) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(ds.data)
    # MNIST family: (N, H, W) -> (N, 1, H, W); CIFAR: (N, H, W, C) -> (N, C, H, W)
    x = x.unsqueeze(1) if info.is_mnist_family else x.permute(0, 3, 1, 2)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return x.contiguous().to(torch.uint8), y


@functools.lru_cache(maxsize=4)
def _official(info: DatasetInfo, root: Path, stamp: tuple) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y) of the official splits; cached per process and per
    file state (``stamp``), since decoding CIFAR's pickles or 47 MB of IDX takes a while."""
    out = []
    for train in (True, False):
        x, y = _as_tensors(info, _torchvision_dataset(info, root, train))
        if y.numel() and not (0 <= int(y.min()) and int(y.max()) < info.num_classes):
            raise DataIntegrityError(root / info.folder, f"labels outside [0, {info.num_classes})")
        out += [x, y]
    return tuple(out)


def split_indices(n: int, val_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-seed split of ``range(n)``: ``(train_idx, val_idx)``, each sorted.

    ``val`` is the first ``val_size`` entries of ``torch.randperm(n)`` drawn from
    ``torch.Generator().manual_seed(seed)``, ``train`` the rest: the same split on any computer
    with the same torch version.
    """
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in (0, {n}) for {n} training images (got {val_size})")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    # A mask gives both index sets in the official order, in O(n) (sorting is slow on CPU torch).
    is_val = np.zeros(n, dtype=bool)
    is_val[perm[:val_size].numpy()] = True
    return (torch.from_numpy(np.flatnonzero(~is_val).astype(np.int64)),
            torch.from_numpy(np.flatnonzero(is_val).astype(np.int64)))


def load_split(
    name: str,
    split: str,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    download: bool = False,
    *,
    val_size: int | None = None,
    limit: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split of ``name``.

    Args:
        name: ``"fashion_mnist"``, ``"mnist"``, ``"cifar10"`` or ``"cifar100"`` (``-`` also accepted).
        split: ``"train"``/``"val"`` (a ``seed``-fixed split of the official training set, see
            :func:`split_indices`; images keep their official order) or ``"test"`` (the official test set).
        root, download: passed to :func:`locate`.
        seed: seed of the train/val split.
        val_size: size of the validation set; default ``get_info(name).val_size`` (10,000).
        limit: keep only the first ``limit`` images of the split (0: all of them).

    Returns:
        ``(images, labels)``: uint8 ``(N, C, H, W)`` and int64 ``(N,)``. Fresh tensors: changing
        them does not change what later calls return.
    """
    info = get_info(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (got {split!r})")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an integer >= 0 (0: the whole split), got {limit!r}")
    stop = limit or None
    path = _locate(info, root, download)[0]
    train_x, train_y, test_x, test_y = _official(info, path.resolve(), _stamp(info, path))
    if split == "test":
        x, y = test_x[:stop].clone(), test_y[:stop].clone()
    else:
        train_idx, val_idx = split_indices(len(train_y), info.val_size if val_size is None else val_size, seed)
        idx = (train_idx if split == "train" else val_idx)[:stop]
        x, y = train_x.index_select(0, idx), train_y.index_select(0, idx)
    return hooked(split, x, y)


SplitHook = Callable[[str, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
split_hook: SplitHook | None = None
"""Called on every split this module returns (``lsutils.dryrun`` sets it to cut splits short);
None, the default, leaves splits whole."""


def hooked(split: str, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` through :data:`split_hook`, if one is set: what :func:`load_split`
    returns, and what a data set built elsewhere (e.g. scikit-learn's digits) passes through so
    that a shortened test run cuts it too."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (got {split!r})")
    if len(images) != len(labels):
        raise ValueError(f"images and labels must be as many, got {len(images)} and {len(labels)}")
    return (images, labels) if split_hook is None else split_hook(split, images, labels)


def splits_cut() -> bool:
    """True while a hook may cut splits short (in a shortened test run): size checks on a split then
    cannot hold."""
    return split_hook is not None


def clear_cache() -> None:
    """Forget verified files and loaded arrays (e.g. after replacing files within one second)."""
    _inspect_cached.cache_clear()
    _official.cache_clear()
