"""Tests of lsutils.data on tiny fixtures in the real on-disk formats (see fixtures_data.py).

Every route of ``locate``, the integrity checks and the train/val/test splits are exercised
without the real data and without any network; one test uses Debian's real Fashion-MNIST files
when they are installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

import fixtures_data as fd
from lsutils import data

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")


class _DownloadAttempted(BaseException):
    """BaseException, so that locate's ``except Exception`` cannot swallow it."""


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the user's data, the real Debian files, or the network."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LSBOOK_DATA", raising=False)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "no-system-data"))
    monkeypatch.setattr(data, "SEARCH_PATHS", [])

    def no_download(info, target):
        raise _DownloadAttempted(f"a test tried to download {info.name}")

    monkeypatch.setattr(data, "_torchvision_download", no_download)
    data.clear_cache()
    yield
    data.clear_cache()


@pytest.fixture
def fmnist(tmp_path, monkeypatch):
    """A Fashion-MNIST layout (20 train / 10 test) under tmp_path/root, checksums patched."""
    fx = fd.write_mnist_layout(tmp_path / "root", "FashionMNIST")
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", fx)
    return fx


def _root(fx) -> Path:
    return fx.folder.parents[1]  # <root>/FashionMNIST/raw -> <root>


# --------------------------------------------------------------------------- table and names


def test_datasets_table():
    fm = data.get_info("fashion-mnist")
    assert fm is data.DATASETS["fashion_mnist"] is data.get_info("Fashion_MNIST")
    assert fm.class_names[0] == "T-shirt/top" and fm.class_names[-1] == "Ankle boot"
    assert (fm.channels, fm.image_size) == (1, (28, 28))
    assert data.get_info("cifar-100").num_classes == 100
    for info in data.DATASETS.values():
        assert len(info.class_names) == len(set(info.class_names)) == info.num_classes
        assert info.val_size == 10_000
    assert {n: i.train_size - i.val_size for n, i in data.DATASETS.items()} == {
        "fashion_mnist": 50_000, "mnist": 50_000, "cifar10": 40_000, "cifar100": 40_000}


def test_data_root_precedence(tmp_path, monkeypatch):
    assert data.data_root() == tmp_path / "home" / ".cache" / "lsbook" / "data"
    monkeypatch.setenv("LSBOOK_DATA", str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "explicit") == tmp_path / "explicit"


@pytest.mark.parametrize("call", [
    lambda: data.load_split("svhn", "train"),
    lambda: data.locate("imagenet"),
    lambda: data.prepare("fashion mnist"),
])
def test_bad_name(call):
    with pytest.raises(ValueError, match=r"name must be one of .*fashion_mnist.*mnist"):
        call()


@pytest.mark.parametrize("split", ["valid", "training", "", "TEST"])
def test_bad_split(fmnist, split):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'val', 'test'\)"):
        data.load_split("fashion_mnist", split, root=_root(fmnist))


def test_bad_val_size(fmnist):
    for v in (0, 20, 25):  # 20 training images: val must leave at least one for train
        with pytest.raises(ValueError, match="val_size"):
            data.load_split("fashion_mnist", "val", root=_root(fmnist), val_size=v)
    with pytest.raises(ValueError, match="val_size"):  # the real default (10,000) does not fit 20 images
        data.load_split("fashion_mnist", "train", root=_root(fmnist))


def test_limit_keeps_the_first_images_of_the_split(fmnist):
    for split in ("train", "val", "test"):
        x, y = data.load_split("fashion_mnist", split, root=_root(fmnist), val_size=5)
        xs, ys = data.load_split("fashion_mnist", split, root=_root(fmnist), val_size=5, limit=3)
        assert torch.equal(xs, x[:3]) and torch.equal(ys, y[:3])
        x0, _ = data.load_split("fashion_mnist", split, root=_root(fmnist), val_size=5, limit=0)
        assert torch.equal(x0, x)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            data.load_split("fashion_mnist", "test", root=_root(fmnist), limit=bad)


# --------------------------------------------------------------------------- routes


def test_route_explicit_root(fmnist, capsys):
    root = _root(fmnist)
    assert data.locate("fashion_mnist", root=root) == root
    assert data.prepare("fashion-mnist", root=str(root)) == (root, "root=")
    assert str(root) in capsys.readouterr().out


def test_route_env(fmnist, monkeypatch):
    monkeypatch.setenv("LSBOOK_DATA", str(_root(fmnist)))
    assert data.prepare("fashion_mnist", download=False) == (_root(fmnist), "LSBOOK_DATA")
    x, y = data.load_split("fashion_mnist", "test")
    assert torch.equal(x[:, 0], torch.from_numpy(fmnist.arrays["t10k-images-idx3-ubyte"]))


def test_route_search_list(tmp_path, monkeypatch):
    fx = fd.write_mnist_layout(tmp_path / "second", "MNIST")
    fd.patch_mnist_checksums(monkeypatch, "mnist", fx)
    (tmp_path / "first").mkdir()
    monkeypatch.setattr(data, "SEARCH_PATHS", [tmp_path / "first", tmp_path / "second"])
    assert data.prepare("mnist", download=False) == (tmp_path / "second", "existing")


@pytest.mark.parametrize("how", ["root=", "LSBOOK_DATA"])
def test_wrong_explicit_root_is_an_error_not_ignored(tmp_path, monkeypatch, how):
    """An explicit root without the data used to fall through to the usual places and quietly
    read another copy; a typo in LSBOOK_DATA went unnoticed."""
    fx = fd.write_mnist_layout(tmp_path / "usual", "MNIST")
    fd.patch_mnist_checksums(monkeypatch, "mnist", fx)
    monkeypatch.setattr(data, "SEARCH_PATHS", [tmp_path / "usual"])
    typo = tmp_path / "typo"
    kwargs = {"root": typo} if how == "root=" else {}
    if how == "LSBOOK_DATA":
        monkeypatch.setenv("LSBOOK_DATA", str(typo))
    with pytest.raises(data.DataNotFoundError) as err:
        data.locate("mnist", **kwargs)
    assert f"{how} {typo}" in str(err.value) and "not searched: an explicit root" in str(err.value)
    if how == "root=":  # without an explicit root the usual place is still found
        assert data.locate("mnist") == tmp_path / "usual"


def test_integrity_error_names_the_data_set(tmp_path):
    err = data.DataIntegrityError(tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte", "altered")
    assert "python -m lsutils data fashion_mnist" in str(err) and "<name>" not in str(err)
    err = data.DataIntegrityError(tmp_path / "cifar-100-python" / "train", "altered")
    assert "python -m lsutils data cifar100" in str(err)


def test_explicit_root_wins_over_search_list(tmp_path, monkeypatch, fmnist):
    other = fd.write_mnist_layout(tmp_path / "other", "FashionMNIST", fmnist.arrays)
    monkeypatch.setattr(data, "SEARCH_PATHS", [other.folder.parents[1]])
    assert data.prepare("fashion_mnist", root=_root(fmnist))[1] == "root="
    assert data.prepare("fashion_mnist")[1] == "existing"


def test_route_debian(tmp_path, monkeypatch):
    fx = fd.write_gz_dir(tmp_path / "system")
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", fx)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    target = tmp_path / "target"
    assert data.prepare("fashion_mnist", root=target, download=False) == (target, "debian")
    raw = target / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(fd.IDX_FILES + tuple(f + ".gz" for f in fd.IDX_FILES))
    for f in fd.IDX_FILES:  # the .gz copied as is, the IDX decompressed
        assert (raw / (f + ".gz")).read_bytes() == (tmp_path / "system" / (f + ".gz")).read_bytes()
        assert (raw / f).read_bytes() == fd.idx_bytes(fx.arrays[f])
    assert data.prepare("fashion_mnist", root=target)[1] == "root="  # prepared once, then found
    x, y = data.load_split("fashion_mnist", "test", root=target)
    assert torch.equal(y, torch.from_numpy(fx.arrays["t10k-labels-idx1-ubyte"]).long())


def test_route_debian_recompressed_archives_accepted(tmp_path, monkeypatch):
    """Debian's .gz md5s differ from torchvision's (recompressed); the content md5 decides."""
    official = fd.write_gz_dir(tmp_path / "upstream", level=9)
    debian = fd.write_gz_dir(tmp_path / "system", official.arrays, level=1)
    assert official.gz != debian.gz and official.raw == debian.raw
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", official)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    assert data.prepare("fashion_mnist", root=tmp_path / "t")[1] == "debian"
    data.clear_cache()
    assert data.load_split("fashion_mnist", "val", root=tmp_path / "t", val_size=4)[0].shape == (4, 1, 28, 28)


def test_debian_route_is_fashion_mnist_only(tmp_path, monkeypatch):
    fx = fd.write_gz_dir(tmp_path / "system")
    fd.patch_mnist_checksums(monkeypatch, "mnist", fx)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    with pytest.raises(data.DataNotFoundError, match="only Fashion-MNIST"):
        data.locate("mnist", root=tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_not_found_names_every_route(tmp_path):
    with pytest.raises(data.DataNotFoundError) as err:
        data.locate("fashion_mnist", root=tmp_path / "missing")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for needle in ("root=", "LSBOOK_DATA", "apt-get install dataset-fashion-mnist",
                   "python -m lsutils data fashion_mnist", str(tmp_path / "missing"),
                   str(tmp_path / "no-system-data"), "download=False"):
        assert needle in msg, needle
    assert [route[:2] for route, _ in err.value.attempts] == ["1.", "2.", "3.", "4."]


def test_not_found_cifar_mentions_cli(tmp_path):
    with pytest.raises(data.DataNotFoundError, match=r"python -m lsutils data cifar100") as err:
        data.load_split("cifar-100", "test")
    assert "LSBOOK_DATA" in str(err.value) and "only Fashion-MNIST" in str(err.value)


def test_route_download_only_when_asked(tmp_path, monkeypatch):
    calls = []

    def fake_download(info, target):  # stands in for torchvision's network download
        calls.append((info.name, target))
        fd.patch_cifar_checksums(monkeypatch, "CIFAR10", fd.write_cifar_layout(target, "CIFAR10"))

    monkeypatch.setattr(data, "_torchvision_download", fake_download)
    with pytest.raises(data.DataNotFoundError):
        data.locate("cifar10", root=tmp_path / "dl")
    assert calls == []
    assert data.prepare("cifar10", root=tmp_path / "dl") == (tmp_path / "dl", "download")
    assert calls == [("cifar10", tmp_path / "dl")]


def test_download_never_replaces_a_corrupt_file(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "_torchvision_download", lambda info, target: calls.append(target))
    fx = fd.write_cifar_layout(data.data_root(), "CIFAR10")  # default root: only route 4 looks there
    fd.patch_cifar_checksums(monkeypatch, "CIFAR10", fx)
    (fx.folder / "data_batch_5").unlink()
    _corrupt(fx.folder / "data_batch_2", "flip")
    with pytest.raises(data.DataIntegrityError, match="data_batch_2"):
        data.prepare("cifar10", download=True)
    assert calls == []


def test_download_failure_is_reported(tmp_path, monkeypatch):
    def offline(info, target):
        raise OSError("Name or service not known")

    monkeypatch.setattr(data, "_torchvision_download", offline)
    with pytest.raises(data.DataNotFoundError, match="Name or service not known"):
        data.prepare("mnist", root=tmp_path / "dl", download=True)


# --------------------------------------------------------------------------- integrity


def _corrupt(path: Path, how: str) -> None:
    blob = path.read_bytes()
    if how == "truncate":
        path.write_bytes(blob[: len(blob) - 7])
    elif how == "flip":
        mid = len(blob) // 2
        path.write_bytes(blob[:mid] + bytes([blob[mid] ^ 0xFF]) + blob[mid + 1:])


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_bad_gz_in_layout(fmnist, how):
    gz = fmnist.folder / "train-images-idx3-ubyte.gz"
    _corrupt(gz, how)
    with pytest.raises(data.DataIntegrityError, match="train-images-idx3-ubyte.gz") as err:
        data.load_split("fashion_mnist", "test", root=_root(fmnist))
    assert err.value.path == gz and isinstance(err.value, ValueError)


def test_altered_gz_with_valid_gzip_content(fmnist):
    """A well-formed archive of different content: both md5s disagree."""
    arr = fmnist.arrays["train-labels-idx1-ubyte"].copy()
    arr[0] = (arr[0] + 1) % 10
    (fmnist.folder / "train-labels-idx1-ubyte.gz").write_bytes(fd.gz_bytes(fd.idx_bytes(arr)))
    with pytest.raises(data.DataIntegrityError, match="differs from the official"):
        data.locate("fashion_mnist", root=_root(fmnist))


@pytest.mark.parametrize("where", ["debian", "layout"])
def test_truncated_gz_debian_source(tmp_path, monkeypatch, where):
    fx = fd.write_gz_dir(tmp_path / "system")
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", fx)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    bad = tmp_path / "system" / "t10k-labels-idx1-ubyte.gz"
    _corrupt(bad, "truncate")
    with pytest.raises(data.DataIntegrityError, match="cannot be decompressed") as err:
        data.prepare("fashion_mnist", root=tmp_path / "target")
    assert err.value.path == bad
    assert not (tmp_path / "target" / "FashionMNIST").exists()  # nothing written from bad sources


def test_truncated_idx_caught_structurally(fmnist, monkeypatch):
    """No archive, no content md5: only the IDX header/length check can catch it."""
    for f in fd.IDX_FILES:
        (fmnist.folder / (f + ".gz")).unlink()
    monkeypatch.setitem(data.RAW_MD5, "fashion_mnist", {})
    raw = fmnist.folder / "train-images-idx3-ubyte"
    raw.write_bytes(raw.read_bytes()[:-1])
    with pytest.raises(data.DataIntegrityError, match=r"train-images-idx3-ubyte: 15695 bytes but its header "
                                                      r"\(20, 28, 28\) needs exactly 15696"):
        data.load_split("fashion_mnist", "test", root=_root(fmnist))


@pytest.mark.parametrize("blob, problem", [
    (b"\x00\x00\x08", "shorter than an IDX header"),
    (b"\x00\x00\x0d\x01" + (10).to_bytes(4, "big") + bytes(10), "bad IDX magic"),  # float type
    (fd.idx_bytes(np.zeros((10, 2), np.uint8)), "bad IDX magic"),  # 2 dims for labels
])
def test_malformed_idx(fmnist, monkeypatch, blob, problem):
    monkeypatch.setitem(data.RAW_MD5, "fashion_mnist", {})
    (fmnist.folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (fmnist.folder / "t10k-labels-idx1-ubyte").write_bytes(blob)
    with pytest.raises(data.DataIntegrityError, match=problem):
        data.locate("fashion_mnist", root=_root(fmnist))


def test_wrong_image_size_and_count_mismatch(fmnist, monkeypatch):
    monkeypatch.setitem(data.RAW_MD5, "fashion_mnist", {})
    (fmnist.folder / "t10k-images-idx3-ubyte.gz").unlink()
    (fmnist.folder / "t10k-images-idx3-ubyte").write_bytes(fd.idx_bytes(np.zeros((10, 32, 32), np.uint8)))
    with pytest.raises(data.DataIntegrityError, match=r"expected \(N, 28, 28\)"):
        data.locate("fashion_mnist", root=_root(fmnist))
    (fmnist.folder / "t10k-images-idx3-ubyte").write_bytes(fd.idx_bytes(np.zeros((9, 28, 28), np.uint8)))
    with pytest.raises(data.DataIntegrityError, match="10 labels for 9 images"):
        data.locate("fashion_mnist", root=_root(fmnist))


def test_altered_idx_same_length(fmnist):
    raw = fmnist.folder / "t10k-images-idx3-ubyte"
    _corrupt(raw, "flip")
    with pytest.raises(data.DataIntegrityError, match="t10k-images-idx3-ubyte: md5 .* differs from the official"):
        data.load_split("fashion_mnist", "test", root=_root(fmnist))


def test_corrupt_file_is_not_prepared_over(tmp_path, monkeypatch):
    fx = fd.write_gz_dir(tmp_path / "system")
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", fx)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    # The default data root: with no root=/LSBOOK_DATA and an empty search list, only the Debian
    # route looks at it, and it must check what is there before writing.
    target = data.data_root()
    layout = fd.write_mnist_layout(target, "FashionMNIST", fx.arrays, with_gz=False)
    (layout.folder / "t10k-labels-idx1-ubyte").unlink()
    bad = layout.folder / "train-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:-3])
    with pytest.raises(data.DataIntegrityError, match="train-labels-idx1-ubyte"):
        data.prepare("fashion_mnist")
    assert len(bad.read_bytes()) == len(fd.idx_bytes(fx.arrays["train-labels-idx1-ubyte"])) - 3
    assert not (layout.folder / "t10k-labels-idx1-ubyte").exists()


def test_incomplete_layout_is_completed_from_debian(tmp_path, monkeypatch):
    fx = fd.write_gz_dir(tmp_path / "system")
    fd.patch_mnist_checksums(monkeypatch, "fashion_mnist", fx)
    monkeypatch.setenv("LSBOOK_SYSTEM_DATA", str(tmp_path / "system"))
    layout = fd.write_mnist_layout(tmp_path / "target", "FashionMNIST", fx.arrays)
    (layout.folder / "t10k-images-idx3-ubyte").unlink()
    assert data.prepare("fashion_mnist", root=tmp_path / "target")[1] == "debian"
    assert (layout.folder / "t10k-images-idx3-ubyte").read_bytes() == fd.idx_bytes(fx.arrays["t10k-images-idx3-ubyte"])
    assert not list(layout.folder.glob(".*.tmp"))


@pytest.mark.parametrize("tv_class, bad_file", [("CIFAR10", "data_batch_3"), ("CIFAR10", "batches.meta"),
                                                ("CIFAR100", "train")])
def test_corrupt_cifar_file(tmp_path, monkeypatch, tv_class, bad_file):
    fx = fd.write_cifar_layout(tmp_path / "root", tv_class)
    fd.patch_cifar_checksums(monkeypatch, tv_class, fx)
    _corrupt(fx.folder / bad_file, "truncate")
    with pytest.raises(data.DataIntegrityError, match=bad_file) as err:
        data.load_split(tv_class.lower(), "test", root=tmp_path / "root")
    assert err.value.path == fx.folder / bad_file


def test_torchvision_cifar_error_is_converted(tmp_path, monkeypatch):
    """torchvision's own md5 check says only 'not found or corrupted'; we name the file."""
    fx = fd.write_cifar_layout(tmp_path / "root", "CIFAR10")
    fd.patch_cifar_checksums(monkeypatch, "CIFAR10", fx)
    _corrupt(fx.folder / "test_batch", "flip")
    with pytest.raises(RuntimeError, match="corrupted"):
        tvd.CIFAR10(str(tmp_path / "root"), train=False, download=False)
    with pytest.raises(data.DataIntegrityError, match="test_batch: md5") as err:
        data._torchvision_dataset(data.get_info("cifar10"), tmp_path / "root", train=False)
    assert isinstance(err.value.__cause__, RuntimeError)


# --------------------------------------------------------------------------- loading and splits


@pytest.mark.parametrize("name, tv_class, chw", [
    ("fashion_mnist", "FashionMNIST", (1, 28, 28)), ("mnist", "MNIST", (1, 28, 28)),
    ("cifar10", "CIFAR10", (3, 32, 32)), ("cifar100", "CIFAR100", (3, 32, 32)),
])
def test_shapes_dtypes_and_content(tmp_path, monkeypatch, name, tv_class, chw):
    root = tmp_path / "root"
    if chw[0] == 1:
        fx = fd.write_mnist_layout(root, tv_class)
        fd.patch_mnist_checksums(monkeypatch, name, fx)
        train_x = fx.arrays["train-images-idx3-ubyte"][:, None]
        test_x, test_y = fx.arrays["t10k-images-idx3-ubyte"][:, None], fx.arrays["t10k-labels-idx1-ubyte"]
    else:
        fx = fd.write_cifar_layout(root, tv_class)
        fd.patch_cifar_checksums(monkeypatch, tv_class, fx)
        train_x, test_x, test_y = fx.train_x, fx.test_x, fx.test_y
    sizes = {"train": 14, "val": 6, "test": 10}
    for split, n in sizes.items():
        x, y = data.load_split(name, split, root=root, val_size=6)
        assert x.shape == (n, *chw) and x.dtype == torch.uint8 and x.is_contiguous()
        assert y.shape == (n,) and y.dtype == torch.int64
    x, y = data.load_split(name, "test", root=root)
    assert np.array_equal(x.numpy(), test_x) and np.array_equal(y.numpy(), test_y)
    x, _ = data.load_split(name, "val", root=root, val_size=6)
    assert np.array_equal(x.numpy(), train_x[x[:, 0, 0, 0].numpy()])  # pixel 0 holds the official index


def _ids(x: torch.Tensor) -> list[int]:
    return x[:, 0, 0, 0].tolist()  # the fixtures' official index of each image


def test_split_partition_and_determinism(fmnist):
    root = _root(fmnist)
    get = lambda split, seed: data.load_split("fashion_mnist", split, root=root, seed=seed, val_size=5)
    (tx, ty), (vx, vy) = get("train", 0), get("val", 0)
    assert len(tx) == 15 and len(vx) == 5
    assert sorted(_ids(tx) + _ids(vx)) == list(range(20))  # disjoint, union = official train
    labels = fmnist.arrays["train-labels-idx1-ubyte"]
    assert ty.tolist() == labels[_ids(tx)].tolist() and vy.tolist() == labels[_ids(vx)].tolist()
    assert _ids(get("val", 0)[0]) == _ids(vx)  # same seed, same split
    assert _ids(get("val", 1)[0]) != _ids(vx)  # another seed, another split
    data.clear_cache()
    assert _ids(get("val", 0)[0]) == _ids(vx)  # not an artefact of the cache


def test_split_indices_full_size():
    tr, va = data.split_indices(60_000, 10_000, seed=0)
    assert len(tr) == 50_000 and len(va) == 10_000
    assert torch.equal(torch.cat([tr, va]).sort().values, torch.arange(60_000))
    assert torch.equal(data.split_indices(60_000, 10_000, seed=0)[1], va)
    assert not torch.equal(data.split_indices(60_000, 10_000, seed=1)[1], va)


def test_returned_tensors_do_not_alias_the_cache(fmnist):
    root = _root(fmnist)
    for split in ("test", "train"):
        x, y = data.load_split("fashion_mnist", split, root=root, val_size=5)
        x.zero_(), y.fill_(7)
        x2, y2 = data.load_split("fashion_mnist", split, root=root, val_size=5)
        assert x2.any() and not (y2 == 7).all()


def test_changed_file_is_reverified_after_caching(fmnist):
    root = _root(fmnist)
    data.load_split("fashion_mnist", "test", root=root)
    _corrupt(fmnist.folder / "t10k-labels-idx1-ubyte", "truncate")  # size changes -> new cache key
    with pytest.raises(data.DataIntegrityError, match="t10k-labels-idx1-ubyte"):
        data.load_split("fashion_mnist", "test", root=root)


# --------------------------------------------------------------------------- the real data


@pytest.mark.skipif(not all((DEBIAN_FMNIST / (f + ".gz")).is_file() for f in fd.IDX_FILES),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist(tmp_path, monkeypatch):
    """The real files, through the Debian route, with torchvision's real checksum tables."""
    monkeypatch.delenv("LSBOOK_SYSTEM_DATA")
    target = tmp_path / "real"
    assert data.prepare("fashion_mnist", root=target, download=False) == (target, "debian")
    sizes = {"train": 50_000, "val": 10_000, "test": 10_000}
    for split, n in sizes.items():
        x, y = data.load_split("fashion_mnist", split, root=target)
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
        assert int(y.min()) == 0 and int(y.max()) == 9
        share = torch.bincount(y, minlength=10).double() / n
        assert torch.all((share - 0.1).abs() < 0.015), share
        assert 60 < x.double().mean() < 90  # Fashion-MNIST's mean pixel is about 72.9
