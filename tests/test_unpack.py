"""``tools/gpu_run.py unpack`` against hostile and damaged archives: every archive is staged under
size caps and verified as the results store reads it, and the results folder changes only when
every archive of the folder passes, all at once (a failure part-way puts everything back)."""

import errno
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lsutils import results
from tests.test_cli_plan import gpu_run   # tools/gpu_run.py, loaded once

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cfg:
    n: int = 2


OFFSET = {"v": 0}  # what the toy computes depends on it: an old and a new result differ


def _sweep(cfg: Cfg, memo):
    runs = [memo(f"i={i}", lambda i=i: {"i": i, "v": i + OFFSET["v"]}) for i in range(cfg.n)]
    return {"runs": runs, "values": np.array([r["v"] for r in runs], dtype=float)}


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """Three toy experiments computed at their gpu preset in ``src`` and archived into ``out``
    (as the GPU machine does); ``dest`` holds an older gpu result of ``toy`` and is the results
    directory the store reads."""
    monkeypatch.setattr(results, "REGISTRY", {})
    for name in ("toy", "toy_b", "toy_c"):
        results.experiment(name, 1, {"smoke": Cfg(), "cpu": Cfg(), "gpu": Cfg(n=3)})(_sweep)
    src, dest, out = tmp_path / "src", tmp_path / "dest", tmp_path / "out"
    monkeypatch.setenv("LSBOOK_RESULTS", str(dest))
    monkeypatch.setitem(OFFSET, "v", 0)
    results.run("toy", "gpu")                                   # the previous result, in dest
    monkeypatch.setenv("LSBOOK_RESULTS", str(src))
    monkeypatch.setitem(OFFSET, "v", 100)
    out.mkdir()
    for name in ("toy", "toy_b", "toy_c"):
        results.run(name, "gpu")                                # the new ones, on the "GPU machine"
        gpu_run.archive(name, src, out)
    monkeypatch.setenv("LSBOOK_RESULTS", str(dest))
    return SimpleNamespace(src=src, dest=dest, out=out)


def _archive(toys, name: str) -> Path:
    return toys.out / f"results-{name}.tar.gz"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _write(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def _sign(record: dict) -> bytes:
    """``record`` as the results store writes it, with its checksum."""
    record = {k: v for k, v in record.items() if k != "sha256"}
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    record["sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()


def _snapshot(root: Path):
    """Every path under ``root`` with its bytes (None for a folder); None when ``root`` is absent."""
    if not root.exists():
        return None
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


def _old_result_intact(toys, before) -> None:
    assert _snapshot(toys.dest) == before
    res = results.load("toy", "gpu")
    assert res.data["runs"] == [{"i": i, "v": i} for i in range(3)]
    np.testing.assert_array_equal(res.arrays["values"], [0, 1, 2])


def _refused(toys, match: str, exc=ValueError):
    before = _snapshot(toys.dest)
    with pytest.raises(exc, match=match) as info:
        gpu_run.unpack(toys.out, toys.dest)
    assert "\n" not in str(info.value)
    _old_result_intact(toys, before)
    return info.value


# ----------------------------------------------------------------------------- what goes in

def test_complete_result_replaces_the_old_one_and_clears_a_stale_marker(toys):
    marker = toys.dest / "toy" / "gpu.recompute.json"    # an interrupted --recompute, as the store leaves it
    marker.write_text(json.dumps({"generation": "0123abcd", "started": "2026-01-01T00:00:00+00:00"}) + "\n")
    for f in ("gpu.json", "gpu.npz"):
        (toys.dest / "toy" / f).unlink()
    assert results.inspect("toy", "gpu")[0].startswith("recomputing")
    assert gpu_run.unpack(toys.out, toys.dest) == ["toy", "toy_b", "toy_c"]
    assert not marker.exists()
    for name in ("toy", "toy_b", "toy_c"):
        res = results.load(name, "gpu")
        assert res.data["runs"] == [{"i": i, "v": i + 100} for i in range(3)]
        np.testing.assert_array_equal(res.arrays["values"], [100, 101, 102])
        for f in ("gpu.json", "gpu.npz", "gpu.runs/i=0.json", "gpu.runs/i=2.json"):
            assert (toys.dest / name / f).read_bytes() == (toys.src / name / f).read_bytes()
    assert not list(toys.dest.glob(".unpack-*"))           # the staging folder is gone


def test_a_runs_only_archive_keeps_the_marker_and_the_stored_summary(toys):
    marker = toys.dest / "toy" / "gpu.recompute.json"
    marker.write_text(json.dumps({"generation": "0123abcd"}) + "\n")
    members = _members(_archive(toys, "toy"))
    _write(_archive(toys, "toy"), {k: v for k, v in members.items() if "gpu.runs/" in k})
    for name in ("toy_b", "toy_c"):
        _archive(toys, name).unlink()
    assert gpu_run.unpack(toys.out, toys.dest) == ["toy"]
    assert marker.exists() and results.inspect("toy", "gpu")[0] == "recomputing (3 runs)"


# ----------------------------------------------------------------------------- what stays out

def test_a_summary_failing_its_checksum_changes_nothing(toys):
    members = _members(_archive(toys, "toy"))
    record = json.loads(members["toy/gpu.json"])
    record["data"]["runs"][0]["v"] = 7                       # edited, the checksum left as it was
    members["toy/gpu.json"] = (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: toy/gpu\.json is corrupt \(checksum mismatch")


def test_a_summary_without_its_npz_changes_nothing(toys):
    members = _members(_archive(toys, "toy"))
    del members["toy/gpu.npz"]
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: toy/gpu\.json has arrays but the archive holds no toy/gpu\.npz")


def test_an_npz_not_matching_its_summary_changes_nothing(toys):
    members = _members(_archive(toys, "toy"))
    buf = io.BytesIO()
    np.savez_compressed(buf, values=np.array([1.0, 2.0, 3.0]))
    members["toy/gpu.npz"] = buf.getvalue()
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: toy/gpu\.npz fails the checksum")


@pytest.mark.parametrize("kind", ["bomb", "pickle"])
def test_an_npz_bomb_or_pickle_is_refused_before_it_is_read(toys, monkeypatch, kind):
    """A summary that vouches for an npz (correct checksum) whose arrays unpack past the cap, or hold
    Python objects: refused from the zip and npy headers."""
    monkeypatch.setattr(gpu_run, "MAX_UNPACKED", 2**20)
    buf = io.BytesIO()
    if kind == "bomb":
        np.savez_compressed(buf, values=np.zeros(2**19))           # 4 MiB of zeros, a few KiB compressed
    else:
        np.savez(buf, values=np.array([{"a": 1}, None], dtype=object))
    members = _members(_archive(toys, "toy"))
    record = json.loads(members["toy/gpu.json"])
    record["arrays"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    members["toy/gpu.json"], members["toy/gpu.npz"] = _sign(record), buf.getvalue()
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: toy/gpu\.npz " + ("unpacks to more than" if kind == "bomb"
                                                              else "holds values.npy of Python objects"))


@pytest.mark.parametrize("run, blob, match", [
    ("i=1", b"\x00not json at all", r"toy/gpu\.runs/i=1\.json is corrupt \(not valid JSON"),
    ("i=1", b'{"x": NaN}', r"toy/gpu\.runs/i=1\.json is corrupt \(not valid JSON"),
    ("i=1", b"{}", r"toy/gpu\.runs/i=1\.json is corrupt \((no checksum|missing or malformed fields)"),
    ("i=1", "toy:i=0", r"toy/gpu\.runs/i=1\.json holds run 'i=0', not 'i=1'"),
    ("i=0", "toy_b:i=0", r"toy/gpu\.runs/i=0\.json holds a result of toy_b/gpu, not toy/gpu"),
    ("junk", b"[1, 2, 3]", r"toy/gpu\.runs/junk\.json is corrupt \((no checksum|missing or malformed fields)"),
])
def test_junk_run_files_change_nothing(toys, run, blob, match):
    members = _members(_archive(toys, "toy"))
    if isinstance(blob, str):                                # a real run file of another key or experiment
        exp, key = blob.split(":")
        blob = (toys.src / exp / "gpu.runs" / f"{key}.json").read_bytes()
    members[f"toy/gpu.runs/{run}.json"] = blob
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: " + match)


def test_a_summary_of_another_preset_or_config_changes_nothing(toys):
    members = _members(_archive(toys, "toy"))
    record = json.loads(members["toy/gpu.json"])
    record["config"] = {"n": 2}                              # signed, but not the gpu preset's config
    members["toy/gpu.json"] = _sign(record)
    _write(_archive(toys, "toy"), members)
    _refused(toys, r"^results-toy\.tar\.gz: toy/gpu\.json does not load as a current result")


def test_a_member_twice_changes_nothing(toys):
    path = _archive(toys, "toy")
    members = _members(path)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in [*members.items(), ("toy/gpu.runs/i=0.json", b"{}")]:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    _refused(toys, r"^results-toy\.tar\.gz: member 'toy/gpu\.runs/i=0\.json' appears twice")


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, never all in memory."""

    def __init__(self, size: int):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


@pytest.mark.parametrize("layout", ["one 40 MB member", "three 30 MB members", "100 MB after the tar"])
def test_a_decompression_bomb_is_stopped_at_the_cap_in_bounded_memory(toys, layout):
    """A few hundred KB that unpack to 40-100 MB: refused at the per-file or per-archive cap, read
    in chunks (the old code held each member whole in memory and wrote the junk)."""
    path = _archive(toys, "toy")
    members = _members(path)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w|") as tar:
            for name, blob in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
            sizes = {"one 40 MB member": [40_000_000], "three 30 MB members": [30_000_000] * 3}.get(layout, [])
            for i, size in enumerate(sizes):
                info = tarfile.TarInfo(f"toy/gpu.runs/zeros{i}.json")
                info.size = size
                tar.addfile(info, _Zeros(size))
        if layout == "100 MB after the tar":
            zeros = bytes(2**20)
            for _ in range(100):
                gz.write(zeros)
    assert path.stat().st_size < 2**20
    match = {"one 40 MB member": r"member 'toy/gpu\.runs/zeros0\.json' is 40000000 bytes"}.get(
        layout, rf"unpacks to more than {gpu_run.MAX_UNPACKED} bytes")
    before = _snapshot(toys.dest)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^results-toy\.tar\.gz: " + match):
            gpu_run.unpack(toys.out, toys.dest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    _old_result_intact(toys, before)


def test_a_bad_third_archive_after_two_good_ones_writes_nothing(toys):
    members = _members(_archive(toys, "toy_c"))
    members["toy_c/gpu.runs/i=1.json"] = b"garbage"
    _write(_archive(toys, "toy_c"), members)
    _refused(toys, r"^results-toy_c\.tar\.gz: toy_c/gpu\.runs/i=1\.json is corrupt \(not valid JSON")
    assert not (toys.dest / "toy_b").exists() and not (toys.dest / "toy_c").exists()


@pytest.mark.parametrize("damage", ["first 20 bytes", "first half", "all but the gzip trailer", "a flipped byte"])
def test_a_truncated_or_damaged_archive_is_a_one_line_error(toys, damage):
    path = _archive(toys, "toy_b")
    blob = path.read_bytes()
    if damage == "a flipped byte":
        middle = len(blob) // 2
        blob = blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1:]
    else:
        blob = {"first 20 bytes": blob[:20], "first half": blob[:len(blob) // 2],
                "all but the gzip trailer": blob[:-8]}[damage]
    path.write_bytes(blob)
    error = _refused(toys, r"^results-toy_b\.tar\.gz: ")
    if damage != "a flipped byte":                           # a flipped byte may also read as bad content
        assert "truncated or damaged archive" in str(error)


# ----------------------------------------------------------------------------- a disk filling up

def _enospc():
    return OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_staging_changes_nothing(toys, monkeypatch):
    stage_file, calls = gpu_run._stage_file, []

    def fill_up(*args):
        calls.append(args)
        if len(calls) == 7:                                 # the second file of the second archive
            raise _enospc()
        return stage_file(*args)

    monkeypatch.setattr(gpu_run, "_stage_file", fill_up)
    error = _refused(toys, r"^\[Errno 28\] results-toy_b\.tar\.gz: cannot unpack it", exc=OSError)
    assert error.errno == errno.ENOSPC


def test_disk_full_at_any_step_of_the_swap_puts_everything_back(toys, monkeypatch):
    """The n-th ``os.replace`` fails, for every n until an unpack succeeds: each time the previous
    result is left as it was, readable; then the new one is in."""
    real_replace, failed = os.replace, []
    for fail_at in range(1, 100):
        calls = []

        def replace(src, dst, *args, **kwargs):
            calls.append(dst)
            if len(calls) == fail_at:
                raise _enospc()
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)
        before = _snapshot(toys.dest)
        try:
            gpu_run.unpack(toys.out, toys.dest)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC and "every file was put back" in str(exc)
            monkeypatch.setattr(os, "replace", real_replace)
            _old_result_intact(toys, before)
            failed.append(fail_at)
            continue
        monkeypatch.setattr(os, "replace", real_replace)
        break
    assert len(failed) == 20  # toy: 2 set aside, 3 runs set aside and put, npz, summary; toy_b, toy_c: 5 each
    assert results.load("toy", "gpu").data["runs"][0]["v"] == 100


# ----------------------------------------------------------------------------- the command line

def test_the_command_line_says_what_is_wrong_in_one_line(toys, capsys):
    members = _members(_archive(toys, "toy"))
    del members["toy/gpu.npz"]
    _write(_archive(toys, "toy"), members)
    before = _snapshot(toys.dest)
    assert gpu_run.main(["unpack", str(toys.out), "--results", str(toys.dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: results-toy.tar.gz: toy/gpu.json has arrays") and err.count("\n") == 1
    assert _snapshot(toys.dest) == before


def test_the_command_line_on_a_truncated_archive_exits_2_without_a_traceback(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    path = src / "results-first_experiment.tar.gz"
    _write(path, {"first_experiment/gpu.runs/eps=0.0_seed=0.json": b'{"x": 1}' * 2000})
    path.write_bytes(path.read_bytes()[:-30])
    env = {**os.environ, "LSBOOK_RESULTS": str(tmp_path / "results")}
    out = subprocess.run([sys.executable, str(REPO / "tools" / "gpu_run.py"), "unpack", str(src)], env=env,
                         capture_output=True, text=True, timeout=300, cwd=REPO, stdin=subprocess.DEVNULL)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("error: results-first_experiment.tar.gz: truncated or damaged archive")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists()
