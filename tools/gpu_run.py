#!/usr/bin/env python3
"""The one command for the GPU machine: every reproduction experiment at its ``gpu`` preset.

On the GPU machine (Python, torch, torchvision, numpy, tqdm, filelock, scipy; no venv, no network),
from the repository root, with the Fashion-MNIST files carried in ``./data/FashionMNIST/raw``::

    make gpu                                              # = PYTHONPATH=. python3 tools/gpu_run.py
    PYTHONPATH=. python3 tools/gpu_run.py --deadline-s 540    # stop, archived, before a 10-minute limit

In order: checks CUDA (``--allow-cpu`` to go on without), points ``LSBOOK_DATA`` at ``./data`` when
unset (the four ``.gz`` files suffice there: they are checked and unpacked), measures training images/s per network with ``lsutils.bench`` (``$OUT/bench.json``), takes
each experiment's cost from the committed plan (``results/plan_gpu.json``, written by ``python -m
lsutils plan --preset gpu --json results/plan_gpu.json``) or, when that is missing or stale, from a
dry run here, and runs the experiments cheapest first through ``results.run(name, "gpu")``, which
resumes from every run already stored. After each experiment, and every ``--refresh-s`` while one
runs (whenever a run was stored), its results are packed into ``$OUT/results-<name>.tar.gz``
(``gpu.json``, ``gpu.npz``, ``gpu.runs/``), so a timeout loses at most the run in progress. ``$OUT``
holds at most 7 files (≤ 5 archives, ``bench.json``, ``log.txt``), each checked against 16 MiB.

``--budget-s``: no experiment is started once the time spent plus its estimated remaining cost
would exceed the budget (the first one always starts, so every call makes progress).
``--deadline-s``: at that time the current experiment is archived and the process exits (code 3);
the next call resumes. ``--dry-run`` does all of it under ``lsutils.dryrun.dry_run`` in a temporary
results directory (archives are named ``dryrun-<name>.tar.gz``), e.g. on a CPU with ``--allow-cpu``.

Back here::

    python3 tools/gpu_run.py unpack DIR        # DIR holding the archives: into results/, checked first

which unpacks every archive into a staging folder (under size caps), checks every file as the
results store would read it, and moves them into place only when all archives of DIR pass:
a bad archive changes nothing and is named in a one-line error (exit code 2).

Exit codes: 0 every selected experiment complete, 1 an experiment failed, 2 cannot start
(no CUDA, no data, bad arguments), 3 stopped by the budget or the deadline with work left.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import zipfile
import zlib
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `python3 tools/gpu_run.py` works without PYTHONPATH=. too

MAX_FILES = 8                  # files that come back from $OUT
MAX_BYTES = 16 * 1024 * 1024   # per file
PRESET = "gpu"
ARCHIVE = re.compile(r"(results|dryrun)-([a-z0-9_]+)\.tar\.gz")
RUN_FILE = re.compile(r"[A-Za-z0-9_.=-]+\.json")
MARKER = f"{PRESET}.recompute.json"  # what an interrupted --recompute leaves (see lsutils.results)
# What unpack reads of one archive: the runner keeps each archive under MAX_BYTES compressed, and its
# members (JSON and an already compressed npz) unpack to a few times that at most.
MAX_MEMBER_BYTES = 2 * MAX_BYTES  # one file
MAX_UNPACKED = 4 * MAX_BYTES      # the whole decompressed tar stream of one archive, headers included
MAX_MEMBERS = 20_000
CHUNK = 1024 * 1024               # bytes read at a time


def _store():
    """``lsutils.results``, with the book's experiments declared (importing the catalogue
    ``lsutils.experiments`` declares them; the store itself knows none)."""
    import lsutils.experiments  # noqa: F401
    from lsutils import results

    return results


def gpu_order() -> list[str]:
    """The experiments this runner computes, in the order it starts them: the reproductions of
    Müller et al., then the later papers' (each part in book order); derived from the declarations."""
    from lsutils import experiments

    return [e.name for part in ("reproduction", "after") for e in experiments.in_part(part)]


# ---------------------------------------------------------------- log and archives

class Log:
    """Lines with the elapsed time, to stdout and to ``$OUT/log.txt`` (appended, flushed)."""

    def __init__(self, path: Path):
        self.t0, self.path = time.monotonic(), path
        self.lock = threading.RLock()  # re-entrant: the SIGTERM handler may log while the main thread does

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def __call__(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        lines = "".join(f"[{stamp} +{self.elapsed():6.0f}s] {line}\n" for line in str(text).splitlines() or [""])
        with self.lock:
            sys.stdout.write(lines)
            sys.stdout.flush()
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(lines)


def _members(folder: Path) -> list[Path]:
    """What an archive of one experiment holds: gpu.json, gpu.npz and gpu.runs/*.json, if present."""
    files = [folder / f"{PRESET}.json", folder / f"{PRESET}.npz"]
    return [f for f in files if f.is_file()] + sorted((folder / f"{PRESET}.runs").glob("*.json"))


def archive(name: str, results_root: Path, out: Path, prefix: str = "results") -> Path | None:
    """Pack ``results_root/name``'s gpu files into ``out/<prefix>-<name>.tar.gz`` (members
    ``<name>/...``), written to a temporary name first and renamed, so ``out`` always holds a
    complete archive. Returns its path, or None when there is nothing to pack yet."""
    members = _members(results_root / name)
    if not members:
        return None
    dest = out / f"{prefix}-{name}.tar.gz"
    tmp = out / f".{dest.name}.part"
    with tarfile.open(tmp, "w:gz") as tar:
        for f in members:
            try:
                tar.add(f, arcname=f"{name}/{f.relative_to(results_root / name).as_posix()}", recursive=False)
            except FileNotFoundError:  # replaced by a writer between listing and reading: next refresh
                pass
    os.replace(tmp, dest)
    return dest


def check_out(out: Path, log: Log) -> None:
    """Warn when ``out`` holds more files, or larger ones, than come back."""
    files = [p for p in out.rglob("*") if p.is_file()]
    if len(files) > MAX_FILES:
        log(f"WARNING: {out} holds {len(files)} files; only {MAX_FILES} come back")
    for p in files:
        if p.stat().st_size > MAX_BYTES:
            log(f"WARNING: {p.name} is {p.stat().st_size / 2**20:.1f} MiB, over the {MAX_BYTES // 2**20} MiB "
                "that come back")


def _check_member(name: str, member: tarfile.TarInfo, archive_path: Path) -> tuple[str, ...] | None:
    """The path of ``member`` below ``<name>/`` if it is an allowed file, None for an allowed
    directory; ValueError for anything else (absolute, '..', links, other files, too large)."""
    path = PurePosixPath(member.name)
    parts = path.parts
    if path.is_absolute() or ".." in parts or not parts or parts[0] != name:
        raise ValueError(f"{archive_path.name}: member {member.name!r} is not under {name}/; nothing unpacked")
    rest = parts[1:]
    if member.isdir() and rest in ((), (f"{PRESET}.runs",)):
        return None
    if member.isfile() and (rest in ((f"{PRESET}.json",), (f"{PRESET}.npz",))
                            or (len(rest) == 2 and rest[0] == f"{PRESET}.runs" and RUN_FILE.fullmatch(rest[1]))):
        if member.size > MAX_MEMBER_BYTES:
            raise ValueError(f"{archive_path.name}: member {member.name!r} is {member.size} bytes, over the "
                             f"{MAX_MEMBER_BYTES} allowed per file; nothing unpacked")
        return rest
    raise ValueError(f"{archive_path.name}: member {member.name!r} is not a {PRESET}.json, {PRESET}.npz or "
                     f"{PRESET}.runs/*.json file; nothing unpacked")


class _Damaged(Exception):
    """Reading an archive failed (truncated, bad gzip data or CRC)."""


class _TooBig(Exception):
    """An archive unpacks to more than the cap."""


class _Bounded:
    """The decompressed stream of an archive, read in the sizes asked for, refusing to yield more
    than ``cap`` bytes (a decompression bomb stops there, never held in memory)."""

    def __init__(self, raw, cap: int):
        self.raw, self.cap, self.count = raw, cap, 0

    def read(self, n: int | None = -1) -> bytes:
        left = self.cap + 1 - self.count
        n = left if n is None or n < 0 else min(n, left)
        try:
            data = self.raw.read(n)
        except (OSError, EOFError, zlib.error) as exc:  # truncated gzip, bad deflate data, CRC mismatch
            raise _Damaged(exc) from exc
        self.count += len(data)
        if self.count > self.cap:
            raise _TooBig()
        return data


def _stage_file(src, dest: Path, size: int) -> None:
    """Copy ``size`` bytes from ``src`` into the new file ``dest``, in chunks, synced to disk."""
    with open(dest, "xb") as f:
        copied = 0
        while copied < size:
            chunk = src.read(min(CHUNK, size - copied))
            if not chunk:
                raise _Damaged(EOFError("member data ends early"))
            f.write(chunk)
            copied += len(chunk)
        f.flush()
        os.fsync(f.fileno())


def _stage_archive(path: Path, name: str, stage: Path) -> None:
    """Unpack the archive ``path`` of experiment ``name`` into ``stage/<name>/``, member names
    checked (``_check_member``), each file under ``MAX_MEMBER_BYTES``, the whole decompressed
    stream under ``MAX_UNPACKED`` and at most ``MAX_MEMBERS`` members, read to the end of the gzip
    stream (its CRC checked). ValueError naming the archive for a bad or damaged one."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise OSError(exc.errno, f"{path.name}: cannot read it ({exc.strerror or exc}); nothing unpacked") from exc
    try:
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            stream = _Bounded(gz, MAX_UNPACKED)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for count, member in enumerate(tar, 1):
                    if count > MAX_MEMBERS:
                        raise ValueError(f"{path.name}: more than {MAX_MEMBERS} members; nothing unpacked")
                    rest = _check_member(name, member, path)
                    if rest is None:
                        continue
                    if rest in seen:
                        raise ValueError(f"{path.name}: member {member.name!r} appears twice; nothing unpacked")
                    seen.add(rest)
                    total += member.size
                    if total > MAX_UNPACKED:
                        raise _TooBig()
                    target = stage.joinpath(name, *rest)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _stage_file(tar.extractfile(member), target, member.size)
            while stream.read(CHUNK):  # to the end of the gzip stream: a truncated or damaged tail fails here
                pass
    except _TooBig:
        raise ValueError(f"{path.name}: unpacks to more than {MAX_UNPACKED} bytes (the most an archive may "
                         "hold); nothing unpacked") from None
    except (_Damaged, tarfile.TarError, EOFError, zlib.error) as exc:
        reason = exc.__cause__ if isinstance(exc, _Damaged) else exc
        raise ValueError(f"{path.name}: truncated or damaged archive ({type(reason).__name__}: "
                         f"{_one_line(reason)}); nothing unpacked") from None
    except OSError as exc:  # writing the staged copy (e.g. disk full)
        raise OSError(exc.errno, f"{path.name}: cannot unpack it into a staging folder "
                                 f"({exc.strerror or exc}); nothing unpacked") from exc
    if not seen:
        raise ValueError(f"{path.name}: holds no {name}/{PRESET}.json, {PRESET}.npz or {PRESET}.runs/*.json; "
                         "nothing unpacked")


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_record(path: Path, what: str, name: str, label: str, key: str | None = None) -> dict:
    """The record in the staged file ``path`` (``what``: its name in the archive), checked as the
    results store checks what it reads: JSON without NaN, the fields of a record, format, checksum;
    then that it is a gpu record of ``name`` and, for a run file, of run ``key``."""
    results = _store()

    def bad(reason: str) -> ValueError:
        return ValueError(f"{label}: {what} {reason}; nothing unpacked")

    try:
        record, _ = results.read_record(path, arrays=False)
    except results.CorruptResultError as exc:
        reason = _one_line(exc).split("; ")[0].replace(f"{path} ", "")   # the store's advice does not apply
        raise bad(reason) from None
    if record["format"] != results.FORMAT:
        raise bad(f"has format {record['format']}, not {results.FORMAT}")
    if (record["experiment"], record["preset"]) != (name, PRESET):
        raise bad(f"holds a result of {record['experiment']}/{record['preset']}, not {name}/{PRESET}")
    if key is not None and record.get("key") != key:
        raise bad(f"holds run {record.get('key')!r}, not {key!r}")
    return record


def _check_npz(path: Path, names, label: str, what: str) -> None:
    """``path`` is an npz of plain arrays named ``names`` whose arrays fit ``MAX_UNPACKED`` once read
    (checked from the zip and npy headers, before anything is decompressed)."""
    def bad(reason: str) -> ValueError:
        return ValueError(f"{label}: {what} {reason}; nothing unpacked")

    import numpy as np

    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise bad(f"unpacks to more than {MAX_UNPACKED} bytes")
            held = sorted(i.filename[:-4] for i in infos if i.filename.endswith(".npy"))
            if len(held) != len(infos) or not isinstance(names, list) or held != sorted(map(str, names)):
                raise bad(f"holds {held}, not the arrays {names} that {PRESET}.json names")
            for info in infos:
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise bad(f"holds {info.filename} in npy format {version}, not 1.0 or 2.0")
                    if dtype.hasobject:
                        raise bad(f"holds {info.filename} of Python objects (pickles)")
                    if math.prod(shape) * dtype.itemsize > info.file_size:
                        raise bad(f"holds {info.filename}, whose header claims more data than it has")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        if str(exc).startswith(f"{label}: "):
            raise
        raise bad(f"is not a readable npz ({type(exc).__name__}: {_one_line(exc)})") from None


@contextlib.contextmanager
def _results_in(folder: Path):
    """The results store reading from ``folder`` for a while (``$LSBOOK_RESULTS``)."""
    old = os.environ.get("LSBOOK_RESULTS")
    os.environ["LSBOOK_RESULTS"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LSBOOK_RESULTS", None)
        else:
            os.environ["LSBOOK_RESULTS"] = old


def _verify(path: Path, name: str, stage: Path) -> bool:
    """Every staged file of ``name`` (in ``stage/<name>``), checked as the results store checks it:
    each run file a gpu record of ``name`` naming its own key; the summary a gpu record of ``name``
    that the store loads (version and config those of the registered experiment, the npz present,
    matching its checksum, readable with ``allow_pickle=False``), its npz only if it names one.
    Returns whether the archive holds a complete result (a summary). ValueError naming the archive."""
    results = _store()

    label, folder = path.name, stage / name
    runs = sorted((folder / f"{PRESET}.runs").glob("*.json"))
    for run in runs:
        _check_record(run, f"{name}/{PRESET}.runs/{run.name}", name, label, key=run.name[:-len(".json")])
    summary, npz = folder / f"{PRESET}.json", folder / f"{PRESET}.npz"
    if not summary.exists():
        if npz.exists():
            raise ValueError(f"{label}: {name}/{PRESET}.npz comes without the {PRESET}.json that vouches for it; "
                             "nothing unpacked")
        return False
    what = f"{name}/{PRESET}.json"
    record = _check_record(summary, what, name, label)
    arrays = record.get("arrays")
    if arrays is None:
        if npz.exists():
            raise ValueError(f"{label}: {name}/{PRESET}.npz comes with a {PRESET}.json that names no arrays; "
                             "nothing unpacked")
    else:
        if not (isinstance(arrays, dict) and arrays.get("file") == f"{PRESET}.npz"
                and isinstance(arrays.get("sha256"), str)):
            raise ValueError(f"{label}: {what} names its arrays wrongly ({arrays!r:.100}); nothing unpacked")
        if not npz.exists():
            raise ValueError(f"{label}: {what} has arrays but the archive holds no {name}/{PRESET}.npz; "
                             "nothing unpacked")
        if _sha256_file(npz) != arrays["sha256"]:
            raise ValueError(f"{label}: {name}/{PRESET}.npz fails the checksum {PRESET}.json gives it; "
                             "nothing unpacked")
        _check_npz(npz, arrays.get("names"), label, f"{name}/{PRESET}.npz")
    try:
        with _results_in(stage):  # the store's own reader: version, config, npz checksum, np.load
            results.load(name, PRESET)
    except (results.ResultError, ValueError, OSError, KeyError, TypeError, MemoryError) as exc:
        reason = _one_line(exc).replace(f"{stage}{os.sep}", "")
        raise ValueError(f"{label}: {what} does not load as a current result ({reason}); nothing unpacked") from None
    return True


class _NotRestored(OSError):
    """A swap failed part-way and putting the previous files back failed too."""


class _Swap:
    """Moves staged files into place with ``os.replace`` (same filesystem: nothing to write), each
    file it replaces or removes first moved aside into ``backup``; ``undo`` puts everything back."""

    def __init__(self, backup: Path):
        self.backup, self.journal, self.moved = backup, [], 0
        backup.mkdir()

    def mkdir(self, folder: Path) -> None:
        if not folder.is_dir():
            folder.mkdir()
            self.journal.append(("dir", folder, None))

    def aside(self, dest: Path) -> None:
        if dest.exists() or dest.is_symlink():
            saved = self.backup / str(len(self.journal))
            os.replace(dest, saved)
            self.journal.append(("file", dest, saved))

    def put(self, src: Path, dest: Path) -> None:
        self.aside(dest)
        self.journal.append(("file", dest, None))
        os.replace(src, dest)

    def undo(self) -> None:
        for kind, dest, saved in reversed(self.journal):
            if kind == "dir":
                with contextlib.suppress(OSError):
                    dest.rmdir()
            elif saved is None:
                dest.unlink(missing_ok=True)
            else:
                os.replace(saved, dest)
        self.journal.clear()


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap_in(root: Path, stage: Path, staged: list[tuple[str, bool]]) -> None:
    """Move every staged experiment into ``root``: per experiment with a summary, its old summary
    and npz go aside first (from then on it reads as partial, never as an old summary with a new
    npz), then the runs, the npz, the summary last, and a recompute marker goes; an experiment
    without one gets its runs. Any failure puts every file of every experiment back as it was."""
    swap = _Swap(stage / ".backup")
    try:
        for name, complete in staged:
            src, dest = stage / name, root / name
            swap.mkdir(dest)
            if complete:
                swap.aside(dest / f"{PRESET}.json")
                swap.aside(dest / f"{PRESET}.npz")
            runs = sorted((src / f"{PRESET}.runs").glob("*.json"))
            if runs:
                swap.mkdir(dest / f"{PRESET}.runs")
            for run in runs:
                swap.put(run, dest / f"{PRESET}.runs" / run.name)
            if complete:
                if (src / f"{PRESET}.npz").exists():
                    swap.put(src / f"{PRESET}.npz", dest / f"{PRESET}.npz")
                swap.put(src / f"{PRESET}.json", dest / f"{PRESET}.json")
                swap.aside(dest / MARKER)  # an interrupted --recompute's marker would hide the result
    except BaseException as exc:  # a full disk, or an interruption: put everything back
        try:
            swap.undo()
        except OSError as undo_exc:
            message = (f"unpacking into {root} failed part-way ({exc!r}) and putting the previous files back "
                       f"failed too ({undo_exc}); they are kept in {swap.backup}")
            errno_ = getattr(exc, "errno", None)
            raise (_NotRestored(errno_, message) if errno_ else _NotRestored(message)) from exc
        if not isinstance(exc, OSError):
            raise
        raise OSError(exc.errno, f"unpacking into {root} failed part-way ({exc.strerror or exc}); every file "
                                 "was put back as it was; nothing unpacked") from exc
    for name, _ in staged:
        _sync_dir(root / name / f"{PRESET}.runs")
        _sync_dir(root / name)


def unpack(folder: str | os.PathLike, results_root: str | os.PathLike | None = None,
           dry_run: bool = False) -> list[str]:
    """Unpack every ``results-<name>.tar.gz`` in ``folder`` (``dryrun-<name>.tar.gz`` with
    ``dry_run``) into ``results_root`` (default: ``results.results_dir()``), all of them or none.

    Each archive is unpacked into a staging folder inside ``results_root`` (so that moving its
    files into place writes nothing), ``<name>`` a registered experiment, every member a regular
    file ``<name>/gpu.json``, ``<name>/gpu.npz`` or ``<name>/gpu.runs/<key>.json`` (no absolute
    paths, no '..', no links, no duplicates), read in chunks under size caps (``MAX_MEMBER_BYTES``
    per file, ``MAX_UNPACKED`` per archive). Then every staged file is verified (``_verify``: the
    checks of the results store; a summary's npz present, matching, free of pickles). Only when
    every archive of ``folder`` verifies are the files moved into place (``_swap_in``: runs, npz,
    the summary last; a stale ``gpu.recompute.json`` marker cleared by a complete result), and a
    failure part-way puts everything back. A bad, truncated or oversized archive raises ValueError
    naming it, a failed write OSError; either way ``results_root`` is left as it was. Dry-run
    archives are refused for the repository's own ``results/``. Returns the experiment names unpacked."""
    results = _store()

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be a directory holding the archives, got {str(folder)!r}")
    root = Path(results_root) if results_root is not None else results.results_dir()
    if dry_run and root.resolve() == (REPO / "results").resolve():
        raise ValueError("dry-run archives hold 2-step trainings: never unpack them into the repository's results/")
    kind = "dryrun" if dry_run else "results"
    archives = []
    for path in sorted(folder.glob(f"{kind}-*.tar.gz")):
        match = ARCHIVE.fullmatch(path.name)
        if not match:
            raise ValueError(f"{path.name}: not a {kind}-<experiment>.tar.gz archive; nothing unpacked")
        try:
            results.get(match.group(2))
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}; nothing unpacked") from None
        archives.append((path, match.group(2)))
    if not archives:
        return []
    created = [p for p in (root, *root.parents) if not p.exists()]  # removed again unless something lands
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))  # same filesystem: os.replace moves, never copies
    keep_stage = False
    try:
        for path, name in archives:
            _stage_archive(path, name, stage)
        staged = [(name, _verify(path, name, stage)) for path, name in archives]
        try:
            _swap_in(root, stage, staged)
        except _NotRestored:
            keep_stage = True  # it holds previous files that could not be put back
            raise
    finally:
        if not keep_stage:
            shutil.rmtree(stage, ignore_errors=True)
        for p in created:  # deepest first; only empty ones (nothing unpacked) go
            with contextlib.suppress(OSError):
                p.rmdir()
    return [name for _, name in archives]


# ---------------------------------------------------------------- the run

def _stored_runs(results_root: Path, name: str) -> int:
    return len(list((results_root / name / f"{PRESET}.runs").glob("*.json")))


def _remaining(name: str, plan: dict, seconds: float, results_root: Path) -> float:
    """Estimated seconds still to go: the whole estimate less the share of runs already stored."""
    results = _store()

    if results.inspect(name, PRESET)[0] == "ok":
        return 0.0
    total = max(1, plan["stored_runs"])
    return seconds * max(0.0, 1 - _stored_runs(results_root, name) / total)


def _load_plan(path: Path | None, names: list[str], log: Log) -> dict:
    """Plans of ``names``: from ``path`` where current (same experiment version and config),
    else from a dry run on this device."""
    from lsutils import dryrun

    results = _store()

    stored = {}
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text())["experiments"]
        except (ValueError, KeyError, TypeError) as exc:
            log(f"plan file {path} unreadable ({exc}); planning by dry runs")
    plans = {}
    for name in names:
        exp, entry = results.get(name), stored.get(name)
        if entry and entry.get("version") == exp.version and entry.get("config") == results.config_dict(exp, PRESET):
            plans[name] = entry
            continue
        why = "not in the plan file" if not entry else "stale in the plan file"
        t0 = time.monotonic()
        plans[name] = dryrun.plan_experiment(name, PRESET, 2, **dryrun.default_limits())
        log(f"{name}: {why}; planned by a dry run here ({time.monotonic() - t0:.0f} s)")
    return plans


def _bench(archs: list[str], dry: bool, steps: int, out: Path, log: Log) -> dict[str, float]:
    """Engine images/s per network (``lsutils.bench``), written to ``out/bench.json``."""
    from lsutils.bench import bench

    figures, rates = {}, {}
    for arch in archs:
        try:
            r = bench(arch, 2 if dry else steps, 16 if dry else 128, None, 0 if dry else 2)
        except Exception as exc:  # a failed measurement leaves the assumed figure, not a failed run
            log(f"bench {arch}: failed ({type(exc).__name__}: {exc}); its estimate uses the assumed images/s")
            continue
        figures[arch], rates[arch] = r, r["engine"]
        log(f"bench {arch}: engine {r['engine']:,.0f} images/s, plain loop {r['plain']:,.0f} ({r['device']})")
    (out / "bench.json").write_text(json.dumps(figures, indent=1) + "\n")
    return rates


def use_carried_data(folder: Path) -> None:
    """Read the data from ``folder`` (e.g. ./data) when it holds ``FashionMNIST/raw`` and
    ``LSBOOK_DATA`` is unset. The four ``.gz`` files are enough (31 MB to carry instead of 85):
    lsutils' own Debian-package route (``LSBOOK_SYSTEM_DATA``) checks them and unpacks them there."""
    raw = folder / "FashionMNIST" / "raw"
    if "LSBOOK_DATA" in os.environ or not raw.is_dir():
        return
    os.environ["LSBOOK_DATA"] = str(folder.resolve())
    os.environ.setdefault("LSBOOK_SYSTEM_DATA", str(raw.resolve()))


def hard_exit(code: int, *folders: Path) -> None:
    """End the process now, from any thread (what is stored is complete: every write is atomic),
    after removing a dry run's temporary results directories among ``folders`` and the current one."""
    results = _store()

    for folder in {results.results_dir(), *folders}:
        if folder.name.startswith("lsbook-dryrun-"):
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    os._exit(code)


class Refresher(threading.Thread):
    """Re-archives the running experiment whenever its files change (checked every ``every`` s)
    and, past ``deadline`` seconds, archives it and ends the process with code 3."""

    def __init__(self, log: Log, root: Path, every: float, deadline: float | None, pack):
        super().__init__(daemon=True)
        self.log, self.root, self.every, self.deadline, self.pack = log, root, every, deadline, pack
        self.current: str | None = None
        self.lock = threading.RLock()  # re-entrant: the SIGTERM handler runs on the main thread
        self._seen: tuple = ()

    def signature(self) -> tuple:
        if self.current is None:
            return ()
        return tuple((f.name, f.stat().st_mtime_ns) for f in _members(self.root / self.current) if f.exists())

    def refresh(self, force: bool = False) -> None:
        """Archive the running experiment if its files changed since the last archive (or ``force``)."""
        with self.lock:
            if self.current is None:
                return
            try:
                sig = self.signature()
            except FileNotFoundError:
                return
            if force or sig != self._seen:
                self.pack(self.current)
                self._seen = sig

    def run(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(1.0)
            if self.deadline is not None and self.log.elapsed() >= self.deadline:
                self.log(f"deadline of {self.deadline:.0f} s reached: archiving {self.current or 'nothing'} and "
                         "stopping; the next call resumes from the stored runs")
                self.refresh(force=True)
                hard_exit(3, self.root)
            if time.monotonic() - last >= self.every:
                last = time.monotonic()
                self.refresh()


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or os.environ.get("OUT") or "")
    if not str(out) or str(out) == ".":
        print("error: set $OUT or --out: the folder whose files come back", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "log.txt")
    import torch

    from lsutils import data, dryrun

    results = _store()

    names = list(dict.fromkeys(args.only or gpu_order()))
    unknown = [n for n in names if n not in results.REGISTRY]
    if unknown:
        log(f"error: unknown experiment(s) {unknown}; registered: {', '.join(sorted(results.REGISTRY))}")
        return 2
    if not torch.cuda.is_available() and not args.allow_cpu:
        log("error: no CUDA device. This command is for the GPU machine; --allow-cpu runs on the CPU anyway "
            "(with --dry-run: a test of this script)")
        return 2
    use_carried_data(Path(args.data))
    try:
        log(f"data: fashion_mnist in {data.locate('fashion_mnist')}")
    except (FileNotFoundError, ValueError) as exc:
        log(f"error: {exc}\nCarry the four Fashion-MNIST files in ./data/FashionMNIST/raw (an ignored folder) "
            "or set LSBOOK_DATA")
        return 2
    if args.commit:  # the GPU machine's copy of the tree may have no .git: results record this commit
        results.git_commit = lambda: args.commit
    elif results.git_commit() == "unknown":
        log("WARNING: no git repository here: results will record commit 'unknown' (pass --commit SHA)")
    log(f"{results.device_name()}, torch {torch.__version__}, python {sys.version.split()[0]}, "
        f"commit {results.git_commit()}, {'DRY RUN, ' if args.dry_run else ''}experiments {', '.join(names)}")

    with contextlib.ExitStack() as stack:
        if args.dry_run:  # never into results/: a 2-step training is not a gpu result
            stack.enter_context(dryrun.temporary_results())
            stack.enter_context(dryrun.dry_run(2, **dryrun.default_limits()))
        root = results.results_dir()
        prefix = "dryrun" if args.dry_run else "results"

        def pack(name: str) -> None:
            path = archive(name, root, out, prefix)
            if path is not None:
                check_out(out, log)

        refresher = Refresher(log, root, args.refresh_s, args.deadline_s, pack)  # deadline: since the start
        refresher.start()

        def on_term(signum, frame):  # a timeout's SIGTERM: keep what is stored
            log(f"signal {signum}: archiving {refresher.current or 'nothing'} and stopping")
            refresher.refresh(force=True)
            hard_exit(128 + signum, root)

        signal.signal(signal.SIGTERM, on_term)
        plan_file = Path(args.plan) if args.plan else None if args.dry_run else REPO / "results" / "plan_gpu.json"
        plans = _load_plan(plan_file, names, log)
        archs = sorted({g["arch"] for p in plans.values() for g in p["groups"]})
        rates = {} if args.no_bench else _bench(archs, args.dry_run, args.bench_steps, out, log)
        costs = {n: dryrun.cost(plans[n]["groups"], rates or None) for n in names}
        order = sorted(names, key=lambda n: (costs[n]["seconds"], n))
        log(dryrun.format_plan({"preset": PRESET, "device": results.device_name(),
                                "experiments": {n: plans[n] for n in order}}, rates or None))
        failed, stopped, started = [], [], False
        for name in order:
            remaining = _remaining(name, plans[name], costs[name]["seconds"], root)
            if args.budget_s is not None and started and log.elapsed() + remaining > args.budget_s:
                stopped = order[order.index(name):]
                log(f"budget: {name} needs about {remaining:.0f} s more; not starting {', '.join(stopped)}")
                break
            started = True
            log(f"{name}: starting ({_stored_runs(root, name)} of {plans[name]['stored_runs']} runs stored, "
                f"about {remaining:.0f} s to go)")
            with refresher.lock:
                refresher.current, refresher._seen = name, ()
            t0 = time.monotonic()
            try:
                res = results.run(name, PRESET, jobs=1 if args.dry_run else args.jobs)
                log(f"{name}: {'already complete' if res.cached else 'done'} in {time.monotonic() - t0:.0f} s "
                    f"({res.describe()})")
            except Exception:
                failed.append(name)
                log(f"{name}: FAILED after {time.monotonic() - t0:.0f} s\n{traceback.format_exc()}")
            refresher.refresh(force=True)
            with refresher.lock:
                refresher.current = None
        log(f"finished: {len(order) - len(failed) - len(stopped)} complete, failed {failed or 'none'}, "
            f"not started {stopped or 'none'}; archives in {out}")
        check_out(out, log)
    return 1 if failed else 3 if stopped else 0


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["unpack"]:
        p = argparse.ArgumentParser(prog="gpu_run.py unpack", description="archives from the GPU machine into results/")
        p.add_argument("folder", help="the folder holding results-<name>.tar.gz")
        p.add_argument("--results", default=None, help="results directory (default: $LSBOOK_RESULTS or results/)")
        p.add_argument("--dry-run", action="store_true", help="unpack dryrun-<name>.tar.gz (never into results/)")
        args = p.parse_args(argv[1:])
        if args.results:
            os.environ["LSBOOK_RESULTS"] = args.results
        results = _store()

        try:
            names = unpack(args.folder, None, args.dry_run)
        except (ValueError, OSError, tarfile.TarError, EOFError, zlib.error) as exc:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return 2
        for name in names:
            state = results.inspect(name, PRESET)[0]
            print(f"{name}: unpacked into {results.results_dir() / name}; gpu preset: {state}")
        if not names:
            print(f"no {'dryrun' if args.dry_run else 'results'}-*.tar.gz in {args.folder}")
        return 0
    p = argparse.ArgumentParser(prog="gpu_run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="folder whose files come back (default: $OUT)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this experiment (repeatable)")
    p.add_argument("--data", default="data", help="carried data folder holding FashionMNIST/raw (default: ./data; "
                                                  "used when LSBOOK_DATA is unset)")
    p.add_argument("--budget-s", type=float, default=None, help="start no experiment that would end past this")
    p.add_argument("--deadline-s", type=float, default=None, help="archive and exit (code 3) at this time")
    p.add_argument("--refresh-s", type=float, default=60.0, help="re-archive the running experiment this often")
    p.add_argument("--plan", default=None, help="plan file (python -m lsutils plan --preset gpu --json FILE); "
                                                "default: results/plan_gpu.json, none with --dry-run")
    p.add_argument("--no-bench", action="store_true", help="skip the images/s measurement (assumed figures)")
    p.add_argument("--bench-steps", type=int, default=40, help="steps per lsutils.bench measurement")
    p.add_argument("--commit", default=None, help="git commit of this code, recorded in the results "
                                                  "(for a copy of the tree without .git)")
    p.add_argument("--dry-run", action="store_true", help="everything under lsutils.dryrun.dry_run, nothing stored")
    p.add_argument("--allow-cpu", action="store_true", help="run without CUDA")
    p.add_argument("--jobs", type=int, choices=range(1, 65), metavar="{1..64}", default=1,
                   help="worker processes per sweep, spread over the visible GPUs (results.run(jobs=N)); "
                        "a dry run uses one")
    args = p.parse_args(argv)
    for name in ("budget_s", "deadline_s", "refresh_s"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            p.error(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if args.bench_steps < 1:
        p.error(f"--bench-steps must be >= 1, got {args.bench_steps}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
