"""Edges of the results store and the CLI seen in use: an empty ``LSBOOK_RESULTS``, a read-only
results folder, an npz that is not one, a figures file without "engine", a full disk, a bench
output path that cannot be written. Each test failed before its fix; toy experiments, in process.
"""

import errno
import hashlib
import io
import json
import os
import re
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from lsutils import __main__ as cli
from lsutils import results
from lsutils.results import CorruptResultError, ResultError


@dataclass(frozen=True)
class Cfg:
    n: int = 3


def _toy(cfg: Cfg, memo):
    """Runs i=0..n-1 through the memo, and an array: a JSON summary with an npz beside it."""
    runs = [memo(f"i={i}", lambda i=i: {"i": i}) for i in range(cfg.n)]
    return {"runs": runs, "squares": np.arange(cfg.n) ** 2}


@pytest.fixture
def toy(results_tmp, monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    for name in ("a_toy", "b_toy"):
        results.experiment(name, 1, {"smoke": Cfg(), "cpu": Cfg(n=4), "gpu": Cfg(n=5)})(_toy)
    return results_tmp


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------- 5. LSBOOK_RESULTS, "not found"

@pytest.mark.parametrize("value", ["", "  "])
def test_empty_results_variable_is_refused(monkeypatch, value):
    monkeypatch.setenv("LSBOOK_RESULTS", value)
    with pytest.raises(ValueError, match="LSBOOK_RESULTS is set but empty"):
        results.results_dir()


def test_cli_with_empty_results_variable_is_one_line(toy, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LSBOOK_RESULTS", "")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "a_toy", "--preset", "smoke"]) == 1
    assert "LSBOOK_RESULTS" in _one_line_error(capsys)
    assert not (tmp_path / "a_toy").exists()  # nothing stored in the current directory


def test_missing_result_messages_name_the_folder_searched(toy):
    folder = re.escape(str(toy / "a_toy"))
    with pytest.raises(ResultError, match=folder):
        results.load("a_toy", "smoke")
    with pytest.raises(ResultError, match=folder):
        results.best("a_toy")


# ----------------------------------------------------------------------------- 6. a read-only results folder

def test_cache_hit_takes_no_lock_and_writes_nothing(toy, monkeypatch):
    """What a read-only folder does to the writer lock, played with monkeypatch (root ignores
    permissions, so chmod alone cannot show it when tests run as root)."""
    results.run("a_toy", "smoke")

    def no_lock(name, preset):
        raise PermissionError(errno.EACCES, "Permission denied", str(toy / name / f".{preset}.lock"))

    def no_write(path, blob):
        raise AssertionError(f"a cache hit wrote {path}")

    monkeypatch.setattr(results, "_lock", no_lock)
    monkeypatch.setattr(results, "_atomic_write", no_write)
    res = results.run("a_toy", "smoke")
    assert res.cached and res.data["runs"][2] == {"i": 2}
    with pytest.raises(PermissionError, match=r"\.cpu\.lock"):  # a miss must write: that still fails, naming why
        results.run("a_toy", "cpu")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_cache_hit_on_a_read_only_folder(toy):
    results.run("a_toy", "smoke")
    (toy / "a_toy" / ".smoke.lock").unlink(missing_ok=True)  # as in a fresh checkout: no lock files
    folders = [toy, toy / "a_toy", toy / "a_toy" / "smoke.runs"]
    for f in folders:
        f.chmod(0o555)
    try:
        assert results.run("a_toy", "smoke").cached
    finally:
        for f in folders:
            f.chmod(0o755)


# ----------------------------------------------------------------------------- 7. an npz that is not one

def _replace_npz(name: str, blob: bytes) -> None:
    """Put ``blob`` in place of the stored npz, with checksums that vouch for it."""
    path = results.result_path(name, "smoke")
    record = json.loads(path.read_text())
    path.with_suffix(".npz").write_bytes(blob)
    record["arrays"]["sha256"] = hashlib.sha256(blob).hexdigest()
    record.pop("sha256")
    record["sha256"] = results._digest(record)
    path.write_text(json.dumps(record))


def _object_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, squares=np.array([{"pickled": True}], dtype=object))
    return buf.getvalue()


@pytest.mark.parametrize("blob", [b"PK\x03\x04 not a zip", b"\x93NUMPY junk", b"", _object_npz()],
                         ids=["bad-zip", "bad-npy", "empty", "object-array"])
def test_unreadable_npz_is_corrupt_naming_it(toy, blob):
    results.run("a_toy", "smoke")
    _replace_npz("a_toy", blob)
    npz = re.escape(str(results.result_path("a_toy", "smoke").with_suffix(".npz")))
    with pytest.raises(CorruptResultError, match=f"{npz} is corrupt"):
        results.load("a_toy", "smoke")
    assert results.status("a_toy")["smoke"] == "corrupt"


@pytest.mark.parametrize("blob", [b"PK\x03\x04 not a zip", _object_npz()], ids=["bad-zip", "object-array"])
def test_list_goes_on_past_an_unreadable_npz(toy, blob, capsys):
    results.run("a_toy", "smoke")
    results.run("b_toy", "smoke")
    _replace_npz("a_toy", blob)
    assert cli.main(["list"]) == 0
    captured = capsys.readouterr()
    a, b = captured.out.split("b_toy")
    assert "smoke  corrupt" in a and "smoke  ok" in b
    assert str(results.result_path("a_toy", "smoke").with_suffix(".npz")) in captured.err


# ----------------------------------------------------------------------------- 8. a figures file without "engine"

@pytest.mark.parametrize("content, match", [
    ({"resnet20": {"arch": "resnet20", "plain": 900.0}}, "entry 'resnet20' lacks the key \"engine\""),
    ({"arch": "mlp", "plain": 900.0}, "entry 'mlp' lacks the key \"engine\""),
    ("{not json", "is not valid JSON"),
])
def test_figures_file_errors_are_one_line_naming_file_and_key(tmp_path, capsys, content, match):
    figures = tmp_path / "figures.json"
    figures.write_text(content if isinstance(content, str) else json.dumps(content))
    assert cli.main(["plan", "--preset", "smoke", "--images-per-s", str(figures)]) == 1
    err = _one_line_error(capsys)
    assert str(figures) in err and match in err


# ----------------------------------------------------------------------------- 9. a full disk, an output path

def _disk_full(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_names_the_file(tmp_path, monkeypatch):
    target = tmp_path / "x" / "record.json"
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError) as caught:
        results._atomic_write(target, b"{}")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(target) in str(caught.value) and "No space left" in str(caught.value)
    assert not list(target.parent.iterdir())  # no temp file left behind


def test_disk_full_during_a_run_is_one_line_naming_the_run_file(toy, monkeypatch, capsys):
    monkeypatch.setattr(os, "fsync", _disk_full)
    assert cli.main(["run", "a_toy", "--preset", "smoke"]) == 1
    err = _one_line_error(capsys)
    assert str(toy / "a_toy" / "smoke.runs" / "i=0.json") in err and "No space left" in err


@pytest.mark.parametrize("where", ["missing/bench.json", "."])
def test_bench_json_path_is_checked_before_the_benchmark(tmp_path, monkeypatch, capsys, where):
    calls = []
    stub = types.ModuleType("lsutils.bench")
    stub.bench = lambda *a: calls.append(a) or {}
    monkeypatch.setitem(sys.modules, "lsutils.bench", stub)
    target = tmp_path / where
    assert cli.main(["bench", "--json", str(target)]) == 1
    err = _one_line_error(capsys)
    assert "--json" in err and str(target) in err
    assert calls == []  # refused before benchmarking
