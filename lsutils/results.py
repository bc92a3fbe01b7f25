"""The results store: experiments are declared functions of a frozen config.

An experiment comes in a few named sizes, its :term:`presets <preset>`: the smoke-test settings
(``smoke``), the laptop-scale settings (``cpu``) and the paper-scale settings (``gpu``).
``run(name, preset)`` returns the cached result or computes and stores it. On disk, under
``results/<name>/``: ``<preset>.json`` (config, data, provenance, checksums) and, when the
experiment returns arrays, ``<preset>.npz``. A sweep caches each run under
``<preset>.runs/<key>.json`` through the ``memo`` argument its function receives, so an
interrupted sweep resumes where it stopped. JSON and npz only, never pickle; every write is
atomic (temp file + ``os.replace``); every file carries a SHA-256 that is checked on load.

Writers of one experiment/preset take a file lock (``filelock``), so two processes never
interleave; a reader that finds a half-replaced pair waits for the writer and reads again.
A cache hit takes no lock and writes nothing, so a read-only results folder still serves.
``--recompute`` is resumable: it first writes ``<preset>.recompute.json`` (a generation id)
and removes the old summary; runs stored under that generation are reused if the recompute
is interrupted and started again, and the marker goes when the new summary is written.

With ``jobs`` > 1 a sweep's runs go to spawned worker processes. A failing run or Ctrl-C
cancels the queued runs and stops the workers; every run that finished is stored first, so
the next ``run`` resumes. On Linux the workers also die with their parent, however it dies.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from filelock import FileLock, Timeout
from tqdm import tqdm

from lsutils import fingerprint
from lsutils.table import Runs

PRESETS = ("smoke", "cpu", "gpu")
BOOK_PRESETS = ("gpu", "cpu")  # what a chapter may show, best first; smoke is for tests only
FORMAT = 1
REPO = Path(__file__).resolve().parent.parent


class ResultError(RuntimeError):
    """A stored result is missing, corrupt or stale."""


class CorruptResultError(ResultError):
    """A result file does not parse or does not match its checksum."""


class StaleResultError(ResultError):
    """A result was produced by another experiment version or another config."""


class RunError(RuntimeError):
    """A run of a sweep failed in a worker process: ``key`` names it, and the worker's own
    exception is the ``__cause__``. All arguments go to ``args``, so it pickles."""

    def __init__(self, key: str, message: str):
        super().__init__(key, message)
        self.key, self.message = key, message

    def __str__(self) -> str:
        return self.message


Memo = Callable[..., dict]  # memo(key, compute, run_config=None) -> dict


PARTS = ("theory", "reproduction", "after", "practice")
"""The book's parts an experiment's page may belong to, in the book's order."""


@dataclass(frozen=True)
class Experiment:
    """One experiment, declared once in its own module (:func:`declare`): everything that lists
    experiments (the catalogue ``lsutils.experiments``, the claim tables, the order in which
    experiments are run, the book's tests) is derived from these declarations."""

    name: str
    version: int
    fn: Callable[[Any, Memo], dict]
    presets: dict[str, Any]
    description: str
    page: str | None = None          # the chapter that shows it: path from the book's root, no suffix
    claims: Callable[[dict, dict], list[dict]] | None = None   # claims(data, config) -> verdict rows
    sections: dict[str, str] = field(default_factory=dict)     # claim key -> label of its evidence
    headlines: dict[str, str] = field(default_factory=dict)    # claim key -> the claim in plain words
    reads: tuple[str, ...] = ()      # other experiments whose results its claims read too

    @property
    def part(self) -> str | None:
        """The book's part its page belongs to (``chapters/<part>/…``), or None."""
        if self.page is None:
            return None
        folder = self.page.split("/")[1] if self.page.count("/") >= 2 else ""
        return folder if folder in PARTS else None

    def run(self, preset: str, recompute: bool = False, jobs: int = 1) -> "Result":
        """:func:`run` of this experiment."""
        return run(self.name, preset, recompute, jobs)

    def load(self, preset: str) -> "Result":
        """:func:`load` of this experiment."""
        return load(self.name, preset)

    def best(self) -> "Result":
        """:func:`best` of this experiment: what its chapter shows."""
        return best(self.name)


# The presets as a reader meets them (``Result.note``).
PRESET_WORDS = {"smoke": "smoke-test settings", "cpu": "laptop-scale settings",
                "gpu": "GPU-scale settings (the paper's networks)"}


@dataclass
class Result:
    """One stored result: experiment ``name`` computed at ``preset`` (experiment ``version``),
    with the ``config`` it ran with, the numbers it returned (``data``) and its ``arrays``, and
    its ``provenance`` (code version, software versions, device, compute time, date). ``cached`` is true
    when it was read from the store rather than just computed. :func:`run`, :func:`load` and
    :func:`best` return one."""

    name: str
    preset: str
    version: int
    config: dict
    data: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    cached: bool = False

    @property
    def runs(self) -> Runs:
        """The result's runs as a table (``lsutils.table.Runs``)."""
        if not isinstance(self.data.get("runs"), list):
            raise ResultError(f"{self.name} ({self.preset}) holds no list of runs")
        return Runs(self.data["runs"])

    @property
    def spec(self) -> Any:
        """The preset's declared config object (frozen dataclass), which the stored ``config``
        matches: read a setting as ``res.spec.gates.train_accuracy``, not through the dict."""
        return get(self.name).presets[self.preset]

    @property
    def compute_s(self) -> float:
        """The compute this result took, in seconds. The runs' own time where recorded, since a
        resumed sweep's wall clock undercounts it; else the sweep's wall clock."""
        p = self.provenance
        return p.get("runs_wall_time_s", p.get("wall_time_s", 0))

    def describe(self) -> str:
        """One line saying what produced this result (for captions and provenance tables)."""
        p = self.provenance
        cost = self.compute_s
        runs = f" over {p['runs']} runs" if "runs" in p else ""
        return (f"{self.name} v{self.version}, preset '{self.preset}', {device_text(p)}, "
                f"commit {short_commit(p.get('git_commit', '?'))}, {cost:.0f} s of compute{runs}, "
                f"{p.get('date', '?')[:10]}")

    def note(self) -> str:
        """What produced this result, in a reader's words (Markdown, one line): the settings, how
        many training runs, the compute time and the device, the date, the code's commit, and the
        command that recomputes it."""
        p = self.provenance
        cost = self.compute_s
        minutes = f"{cost / 60:.1f} minutes" if cost >= 60 else f"{cost:.0f} s"
        runs = f"{p['runs']} training runs, " if "runs" in p else ""
        device = device_text(p)
        kind, _, what = device.partition(": ")
        what = what.replace(" (", ", ").rstrip(")")
        device = f"a GPU ({what})" if kind == "cuda" else f"a CPU ({what})" if kind == "cpu" else device
        date = p.get("date", "")[:10]
        try:
            date = _dt.date.fromisoformat(date).strftime("%-d %B %Y")
        except ValueError:
            date = date or "an unknown date"
        return (f"*Computed with the {PRESET_WORDS.get(self.preset, self.preset)}: {runs}{minutes} of "
                f"compute on {device}, {date}, code at commit {short_commit(p.get('git_commit', '?'))} "
                f"(experiment version {self.version}). To recompute: "
                f"`python -m lsutils run {self.name} --preset {self.preset}`.*")


REGISTRY: dict[str, Experiment] = {}


def _check_declaration(name: str, presets: dict[str, Any]) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"name must be lower-case letters, digits and underscores, got {name!r}")
    missing = set(PRESETS) - set(presets)
    if missing:
        raise ValueError(f"experiment {name!r}: presets must define {PRESETS}, missing {sorted(missing)}")
    for preset, cfg in presets.items():
        if not (dataclasses.is_dataclass(cfg) and cfg.__dataclass_params__.frozen):
            raise ValueError(f"experiment {name!r}: preset {preset!r} must be a frozen dataclass")


def declare(name: str, version: int, presets: dict[str, Any], run: Callable[[Any, Memo], dict], *,
            page: str | None = None, claims: Callable | None = None, sections: dict | None = None,
            headlines: dict | None = None, reads: Sequence[str] = ()) -> Experiment:
    """Declare and register experiment ``name``: ``run(config, memo) -> dict`` computes it at one
    preset's config. ``presets`` maps each of smoke/cpu/gpu to a frozen dataclass config. Bump
    ``version`` whenever the code changes what the experiment computes: older results then count
    as stale. ``page`` is the chapter showing it; ``claims(data, config)`` judges its claims
    (with ``reads``, ``data`` and ``config`` are dicts keyed by experiment name), ``sections``
    labels the section holding each claim's evidence, ``headlines`` words a claim for the front page.
    """
    _check_declaration(name, presets)
    if page is not None and not (isinstance(page, str) and page.startswith("chapters/")
                                 and not page.endswith((".ipynb", ".md"))):
        raise ValueError(f"experiment {name!r}: page must be a path like 'chapters/part/page' without "
                         f"a suffix, got {page!r}")
    if claims is not None and page is None:
        raise ValueError(f"experiment {name!r}: claims need the page that discusses them")
    unknown = set(sections or {}) | set(headlines or {})
    if unknown and claims is None:
        raise ValueError(f"experiment {name!r}: sections and headlines name claims, but it has no claims")
    exp = Experiment(name, version, run, dict(presets), (run.__doc__ or "").strip(), page, claims,
                     dict(sections or {}), dict(headlines or {}), tuple(reads))
    REGISTRY[name] = exp
    return exp


def experiment(name: str, version: int, presets: dict[str, Any]):
    """Decorator form of :func:`declare` for an experiment that no chapter shows (tests' toys)."""
    _check_declaration(name, presets)

    def register(fn):
        declare(name, version, presets, fn)
        return fn

    return register


def results_dir() -> Path:
    """``$LSBOOK_RESULTS`` if set (tests use a temporary one), else ``results/`` in the repository.
    Set but empty is refused: ``Path("")`` would silently be the current directory."""
    value = os.environ.get("LSBOOK_RESULTS")
    if value is None:
        return REPO / "results"
    if not value.strip():
        raise ValueError("LSBOOK_RESULTS is set but empty; unset it to use results/ in the repository, "
                         "or set it to a folder")
    return Path(value)


def get(name: str) -> Experiment:
    """The experiment declared as ``name``. The book's experiments are declared when the catalogue
    ``lsutils.experiments`` is imported (this module knows none of them)."""
    if name not in REGISTRY:
        hint = "" if REGISTRY else " (none is: import lsutils.experiments, which declares the book's)"
        raise ValueError(f"unknown experiment {name!r}; registered: {', '.join(sorted(REGISTRY)) or 'none'}{hint}")
    return REGISTRY[name]


def check_preset(preset: str) -> None:
    """``ValueError`` unless ``preset`` is one of :data:`PRESETS`."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")


def result_path(name: str, preset: str) -> Path:
    return results_dir() / name / f"{preset}.json"


# ---------------------------------------------------------------- serialisation

def _jsonable(obj: Any) -> Any:
    """Plain JSON types; numpy and torch scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # A field added after results were stored carries metadata {"omit_if_default": True}: at its
        # default it means "the behaviour before the field existed", so it must not change the
        # identity of configs stored before it existed. Any other value is recorded as usual.
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("omit_if_default") and getattr(obj, f.name) == f.default)}
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # 0-d torch tensor
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a result; use numbers, strings, lists, dicts or np.ndarray")


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temp file and a rename; an OSError (a full disk, a
    read-only folder) is raised again naming ``path``, since a full disk's error names no file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be read by anyone
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from exc
        raise


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` (same errno, hence same OSError subclass) with ``path`` as its file."""
    if exc.errno is None:
        return OSError(f"{path}: {exc}")
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def _write_record(path: Path, record: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays first, then the JSON that vouches for them: a crash leaves no valid JSON
    pointing at a missing or half-written npz."""
    if arrays:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        blob = buf.getvalue()
        npz = path.with_suffix(".npz")
        _atomic_write(npz, blob)
        record["arrays"] = {"file": npz.name, "sha256": hashlib.sha256(blob).hexdigest(),
                            "names": sorted(arrays)}
    try:  # NaN/inf are not JSON: a strict reader would reject the file, and NaN never equals itself
        record["sha256"] = _digest(record)
        text = json.dumps(record, indent=1, sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{path}: a result must not contain NaN or infinity (store None for an undefined "
                         f"value): {exc}") from None
    _atomic_write(path, (text + "\n").encode())


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


# Every record names these; a file without them (or with them of the wrong type) is not a record.
_RECORD_FIELDS = {"format": int, "experiment": str, "version": int, "preset": str,
                  "config": dict, "data": dict, "provenance": dict, "sha256": str}


def read_record(path: Path, arrays: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """The record stored at ``path`` and its arrays (``{}`` when ``arrays`` is False: the npz
    is then neither read nor checked); any unreadable, malformed or non-finite content raises
    ``CorruptResultError`` naming the file (NaN is not JSON, and Python's parser would
    otherwise accept it). Checks the JSON, the fields and their types, and the checksum
    sha256(canonical JSON without it)."""
    try:
        record = json.loads(path.read_bytes().decode(), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, OSError, RecursionError) as exc:  # JSONDecodeError: a ValueError
        raise CorruptResultError(f"{path} is corrupt (not valid JSON: {exc}); "
                                 f"delete it or recompute with --recompute") from exc
    if not isinstance(record, dict) or "sha256" not in record:
        raise CorruptResultError(f"{path} is corrupt (no checksum); delete it or recompute with --recompute")
    bad = [k for k, t in _RECORD_FIELDS.items() if not isinstance(record.get(k), t)]
    if bad:
        raise CorruptResultError(f"{path} is corrupt (missing or malformed fields: {', '.join(bad)}); "
                                 f"recompute with --recompute")
    stored = record.pop("sha256")
    if _digest(record) != stored:
        raise CorruptResultError(f"{path} is corrupt (checksum mismatch: edited or damaged); "
                                 f"recompute with --recompute")
    if "arrays" not in record or not arrays:
        return record, {}
    npz = path.with_name(record["arrays"]["file"])
    try:
        blob = npz.read_bytes()
    except OSError as exc:
        raise CorruptResultError(f"{npz} is missing or unreadable but {path} refers to it") from exc
    if hashlib.sha256(blob).hexdigest() != record["arrays"]["sha256"]:
        raise CorruptResultError(f"{npz} is corrupt (checksum mismatch); recompute with --recompute")
    return record, _read_npz(npz, blob)


def _read_npz(npz: Path, blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of an npz whose checksum matched; anything unreadable in it (not a zip, a
    damaged member, an object array, which would need pickle) is a ``CorruptResultError``."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as exc:
        raise CorruptResultError(f"{npz} is corrupt (not a readable npz of plain arrays: {exc}); "
                                 f"recompute with --recompute") from exc


# ---------------------------------------------------------------- locks, stale temporaries

_LOCKS: dict[Path, FileLock] = {}  # one object per file, so that the lock is re-entrant in-process


def _lock(name: str, preset: str) -> FileLock:
    path = results_dir() / name / f".{preset}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return _LOCKS.setdefault(path, FileLock(path))


@contextmanager
def _writing(name: str, preset: str):
    """Hold the writer lock of ``name``/``preset``; say so when another process has it."""
    lock = _lock(name, preset)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another process writing {name} [{preset}] (lock {lock.lock_file})",
              file=sys.stderr)
        lock.acquire()
    try:
        _remove_stale_temporaries(name, preset)
        yield
    finally:
        lock.release()


def _remove_stale_temporaries(name: str, preset: str) -> None:
    """Temp files of a writer killed between write and rename. Only called under the lock,
    when no writer of this experiment/preset can be running."""
    folder = results_dir() / name
    for tmp in [*folder.glob(f"{preset}.*.tmp"), *(folder / f"{preset}.runs").glob("*.tmp")]:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- provenance

# What "+dirty" ignores: stored results and executed notebooks are outputs, not code; a
# recompute changes them by design and must not mark its own provenance dirty.
NOT_CODE = (":(exclude)results", ":(exclude,glob)**/*.ipynb")


def git_commit() -> str:
    """HEAD of the repository the code runs from, with '+dirty' when the code differs from it:
    a tracked file changed or an untracked, not ignored file exists, outside ``NOT_CODE``
    (stored results and notebooks)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal", "--", ".",
                                *NOT_CODE], cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if head and dirty else "")


def short_commit(commit: str, length: int = 10) -> str:
    """``commit`` cut to ``length`` hex digits, keeping its '+dirty' flag."""
    head, plus, flag = commit.partition("+")
    return head[:length] + plus + flag


def device_text(provenance: dict) -> str:
    """The device a provenance record names, as a reader reads it ("1 thread", also for records
    stored as "1 threads")."""
    return re.sub(r"\b1 threads\b", "1 thread", provenance.get("device", "?"))


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    threads = torch.get_num_threads()
    return (f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores, {threads} "
            f"thread{'s' if threads != 1 else ''})")


def provenance(wall_time_s: float, commit: str | None = None) -> dict:
    """What produced a result. ``commit``: the code's commit as it was when the computation
    started (``run`` reads it first, so edits made while a long sweep runs cannot stamp it)."""
    import torch

    from lsutils import __version__

    return {"git_commit": commit or git_commit(), "lsutils": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "device": device_name(), "wall_time_s": round(wall_time_s, 3),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------- the API

def config_dict(exp: Experiment, preset: str) -> dict:
    """The config of ``exp`` at ``preset`` as it is stored (plain JSON types): what a stored
    result must carry to be current."""
    return _jsonable(exp.presets[preset])


def _check_current(record: dict, exp: Experiment, preset: str, path: Path) -> None:
    if record.get("version") != exp.version:
        raise StaleResultError(f"{path} was produced by version {record.get('version')} of "
                               f"{exp.name!r}, the code is version {exp.version}; rerun "
                               f"`python -m lsutils run {exp.name} --preset {preset}`")
    if record.get("config") != config_dict(exp, preset):
        raise StaleResultError(f"{path} was produced with another config than preset {preset!r} "
                               f"has now; rerun `python -m lsutils run {exp.name} --preset {preset} --recompute`")
    changed = _code_changed(record, exp)
    if changed:
        raise StaleResultError(f"{path} was computed by other code than there is now (changed: "
                               f"{', '.join(changed)}); rerun `python -m lsutils run {exp.name} --preset {preset}`")


def code_of(exp: Experiment) -> dict[str, str]:
    """The fingerprint of the code ``exp`` depends on (``lsutils.fingerprint``): stored with each
    result and run, and compared when they are read."""
    return fingerprint.run_fingerprint(exp.fn.__module__, exp.fn.__name__)


def _code_changed(record: dict, exp: Experiment) -> list[str]:
    """The modules whose code changed since ``record`` was computed; none for a record made before
    the store kept fingerprints (it carries no ``code``)."""
    stored = record.get("code")
    return [] if stored is None else fingerprint.stale_modules(stored, exp.fn.__module__, exp.fn.__name__)


def restamp(name: str, preset: str) -> int:
    """Re-record the code fingerprint of ``name``/``preset``'s stored summary and runs under the
    current rule (``fingerprint.run_fingerprint``), for records that are current under the rule
    they were stored with and do not carry it yet; returns how many were rewritten. A record made
    by other code than there is now is left as it is (stale), never restamped."""
    exp = get(name)
    check_preset(preset)
    paths = [result_path(name, preset), *sorted(result_path(name, preset).with_suffix(".runs").glob("*.json"))]
    current, done = code_of(exp), 0
    with _writing(name, preset):
        for path in paths:
            if not path.exists():
                continue
            record, _ = read_record(path, arrays=False)
            stored = record.get("code")
            if stored is None or stored == current or _code_changed(record, exp):
                continue
            record["code"] = current
            _write_record(path, record, {})
            done += 1
    return done


def _marker_path(name: str, preset: str) -> Path:
    return results_dir() / name / f"{preset}.recompute.json"


def _recompute_generation(name: str, preset: str) -> str | None:
    """The id of an unfinished ``--recompute`` of ``name``/``preset``, or None."""
    marker = _marker_path(name, preset)
    if not marker.exists():
        return None
    try:
        generation = json.loads(marker.read_text())["generation"]
        if isinstance(generation, str) and generation:
            return generation
    except (ValueError, KeyError, TypeError, OSError):
        pass
    return "unreadable-marker"  # matches no run: the recompute starts over, which is safe


def _start_recompute(name: str, preset: str) -> str:
    """Mark the stored result superseded (marker first, then the summary goes), so that an
    interruption from here on leaves nothing that reads as current."""
    generation = uuid.uuid4().hex
    marker = json.dumps({"generation": generation, "started": _dt.datetime.now(_dt.timezone.utc)
                         .isoformat(timespec="seconds")})
    _atomic_write(_marker_path(name, preset), (marker + "\n").encode())
    for f in (result_path(name, preset), result_path(name, preset).with_suffix(".npz")):
        f.unlink(missing_ok=True)
    return generation


def _finish_recompute(name: str, preset: str, used: set[str]) -> None:
    """Drop run files the new sweep did not use (older generations), then the marker."""
    for f in (results_dir() / name / f"{preset}.runs").glob("*.json"):
        if f.stem not in used:
            f.unlink(missing_ok=True)
    _marker_path(name, preset).unlink(missing_ok=True)


def _read_current(name: str, preset: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read the summary; if it reads as corrupt while another process holds the writer lock
    (a pair being replaced), wait for that writer and read again."""
    path = result_path(name, preset)
    try:
        return read_record(path)
    except CorruptResultError:
        lock = _lock(name, preset)
        try:
            lock.acquire(timeout=0)  # re-entrant: succeeds at once if this process writes
        except Timeout:
            with lock:
                return read_record(path)
        except OSError:  # a read-only folder: no lock can be taken there, so no writer holds one
            pass
        else:
            lock.release()
        raise


def load(name: str, preset: str) -> Result:
    """The stored result; raises ``ResultError`` (missing, corrupt, stale or being
    recomputed), never computes."""
    exp, path = get(name), result_path(name, preset)
    check_preset(preset)
    if _marker_path(name, preset).exists():
        raise ResultError(f"{name!r} preset {preset!r} is being recomputed (or a --recompute was "
                          f"interrupted); finish it with `python -m lsutils run {name} --preset {preset}`")
    if not path.exists():
        raise ResultError(f"no stored result for {name!r} preset {preset!r} in {path.parent} ({path.name}); "
                          f"compute it with `python -m lsutils run {name} --preset {preset}`")
    record, arrays = _read_current(name, preset)
    _check_current(record, exp, preset, path)
    return Result(name, preset, record["version"], record["config"], record["data"], arrays,
                  record["provenance"], cached=True)


def best(name: str) -> Result:
    """The best book preset stored for ``name`` (gpu, else cpu): what a chapter shows."""
    problems = []
    for preset in BOOK_PRESETS:
        if result_path(name, preset).exists() or _marker_path(name, preset).exists():
            return load(name, preset)  # a corrupt or stale best result is an error, not a fallback
        problems.append(preset)
    raise ResultError(f"no stored {'/'.join(problems)} result for {name!r} in {results_dir() / name}; "
                      f"compute one with `python -m lsutils run {name} --preset cpu`")


def _reusable(record: dict, exp: Experiment, preset: str, key: str, wanted: dict,
              generation: str | None) -> str | None:
    """None if a stored run may stand for run ``key``; else why not."""
    if (record["experiment"], record["preset"], record.get("key")) != (exp.name, preset, key):
        return (f"holds run {record.get('key')!r} of {record['experiment']}/{record['preset']}, "
                f"not {key!r}")
    if generation is not None and record.get("generation") != generation:
        return _SUPERSEDED
    if record["version"] != exp.version or record["config"] != wanted:
        return "is from another version/config"
    changed = _code_changed(record, exp)
    if changed:
        return f"was computed by other code (changed: {', '.join(changed)})"
    return None


_SUPERSEDED = "predates the --recompute in progress"  # expected under a recompute: no warning


def _memo_for(exp: Experiment, preset: str, config: dict, run_times: list[float],
              generation: str | None = None, used: set[str] | None = None,
              commit: str | None = None, jobs: int = 1) -> Memo:
    """The memo an experiment function receives; appends each run's compute time (cached or
    fresh) to ``run_times``, so a resumed sweep still reports what its runs cost. Under a
    recompute (``generation``), only runs stored by that recompute are reused. ``memo.many``
    computes several independent runs, in ``jobs`` worker processes when ``jobs`` > 1."""
    runs = results_dir() / exp.name / f"{preset}.runs"
    used = set() if used is None else used

    def wanted_for(key: str, run_config: Any) -> dict:
        if not key.replace("-", "").replace("_", "").replace(".", "").replace("=", "").isalnum():
            raise ValueError(f"run key must be letters, digits and -_.= only, got {key!r}")
        used.add(key)
        return config if run_config is None else _jsonable(run_config)

    def lookup(key: str, wanted: dict) -> dict | None:
        path = runs / f"{key}.json"
        if not path.exists():
            return None
        try:
            record, _ = read_record(path)
            why = _reusable(record, exp, preset, key, wanted, generation)
            if why is None:
                run_times.append(record["provenance"]["wall_time_s"])
                return record["data"]
            if why is not _SUPERSEDED:
                warnings.warn(f"{path} {why}; recomputing this run")
        except (CorruptResultError, KeyError, TypeError) as exc:
            warnings.warn(f"{exc}; recomputing this run")
        return None

    def store(key: str, wanted: dict, data: dict, wall: float) -> dict:
        run_times.append(wall)
        record = {"format": FORMAT, "experiment": exp.name, "version": exp.version,
                  "preset": preset, "key": key, "config": wanted, "data": data,
                  "provenance": provenance(wall, commit), "code": code_of(exp)}
        if generation is not None:
            record["generation"] = generation
        _write_record(runs / f"{key}.json", record, {})
        return data

    def memo(key: str, compute: Callable[[], dict], run_config: Any = None) -> dict:
        """The cached data of run ``key``, or ``compute()`` stored under it.

        A run is reused when the file names this run (experiment, preset, key) and its
        experiment version and config match. ``run_config`` is what this run depends on
        (e.g. network, ε, seed); without it the whole experiment config counts, so that
        adding a seed to a sweep would recompute every run.
        """
        wanted = wanted_for(key, run_config)
        cached = lookup(key, wanted)
        if cached is not None:
            return cached
        data, wall = _timed(compute)
        return store(key, wanted, data, wall)

    def many(items: Sequence[tuple[str, Callable[[], dict], Any]]) -> list[dict]:
        """``[memo(key, compute, run_config) for key, compute, run_config in items]``, for runs
        that do not depend on one another: the missing ones are computed in ``jobs`` worker
        processes (``concurrent.futures`` with spawned workers, each on its own share of the
        CPU threads and, where there are GPUs, on GPU ``worker % n_gpus``); each is stored as
        soon as it finishes, so an interrupted sweep resumes. With ``jobs`` > 1 every compute
        must be picklable: a ``functools.partial`` of a module-level function, not a lambda; a
        run's error is then raised as ``RunError`` naming the run, after the queued runs are
        cancelled, the workers stopped and the runs that finished stored."""
        keyed = [(key, compute, wanted_for(key, run_config)) for key, compute, run_config in items]
        out = {key: lookup(key, wanted) for key, _, wanted in keyed}
        todo = [(key, compute, wanted) for key, compute, wanted in keyed if out[key] is None]
        with tqdm(total=len(todo), desc=exp.name, leave=False, disable=not todo) as bar:
            if len(todo) > 1 and jobs > 1:
                wanted_of = {key: wanted for key, _, wanted in todo}

                def keep(key: str, data: dict, wall: float) -> None:
                    out[key] = store(key, wanted_of[key], data, wall)
                    bar.update()

                _in_workers([(k, c) for k, c, _ in todo], jobs, keep)
            else:
                for key, compute, wanted in todo:
                    data, wall = _timed(compute)
                    out[key] = store(key, wanted, data, wall)
                    bar.update()
        return [out[key] for key, _, _ in keyed]

    memo.many = many
    return memo


def _timed(compute: Callable[[], dict]) -> tuple[dict, float]:
    t0 = time.perf_counter()
    data = _jsonable(compute())
    return data, time.perf_counter() - t0


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _worker_init(threads: int, gpus, parent: int) -> None:
    """Each worker: dies with its parent, leaves Ctrl-C to it (the parent stops the workers),
    takes its share of the CPU threads, and one GPU (taken from the queue) if any."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read when torch is first imported
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # already imported (e.g. by the parent's main module, run again here)
        sys.modules["torch"].set_num_threads(threads)


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this worker when its parent dies, even by SIGKILL or
    ``os._exit``, which run no clean-up: an orphan would compute runs nobody stores. Elsewhere
    nothing is done (there a killed parent can leave its workers running)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        warnings.warn(f"prctl(PR_SET_PDEATHSIG) failed (errno {ctypes.get_errno()}); this worker "
                      f"outlives its parent if that is killed")
        return
    if os.getppid() != parent:  # the parent died before the call above: no signal will come
        os._exit(1)


def _check_picklable(todo: list[tuple[str, Callable[[], dict]]]) -> None:
    import pickle

    for key, compute in todo:
        try:
            pickle.dumps(compute)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ValueError(f"run {key!r}: with jobs > 1 a run's compute must be picklable (a "
                             f"functools.partial of a module-level function), got {compute!r}: {exc}") from exc


def _pool(workers: int):
    """``workers`` spawned processes (fork is unsafe once torch or CUDA has started), each on its
    share of the CPU threads and, where there are GPUs, on GPU ``worker % n_gpus``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    n_gpus = _visible_gpus()
    gpus = None
    if n_gpus:
        gpus = ctx.Queue()
        for w in range(workers):
            gpus.put(w % n_gpus)
    threads = max(1, _cpus() // workers)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(threads, gpus, os.getpid()))


def _in_workers(todo: list[tuple[str, Callable[[], dict]]], jobs: int,
                keep: Callable[[str, dict, float], None]) -> None:
    """Compute each (key, compute) in ``jobs`` workers, calling ``keep(key, data, wall)`` as each
    finishes. On a run's error (raised as ``RunError`` naming it) or an interruption, the queued
    runs are cancelled and the workers stopped, since their results would be thrown away; the
    runs that finished meanwhile are kept before the error goes on."""
    from concurrent.futures import as_completed

    _check_picklable(todo)
    pool = _pool(min(jobs, len(todo)))
    futures: dict = {}
    kept: set = set()
    try:
        for key, compute in todo:
            futures[pool.submit(_timed, compute)] = key
        for done in as_completed(futures):
            _keep(done, futures[done], kept, keep)
    except BaseException:
        _stop(pool)
        for done in futures:
            if done not in kept and done.done() and not done.cancelled() and done.exception() is None:
                _keep(done, futures[done], kept, keep)
        raise
    pool.shutdown()


def _keep(done, key: str, kept: set, keep: Callable[[str, dict, float], None]) -> None:
    kept.add(done)  # before keep(): a run whose storing failed is not stored again on the way out
    try:
        data, wall = done.result()
    except Exception as exc:
        raise RunError(key, f"run {key!r}: {type(exc).__name__}: {exc}") from exc
    keep(key, data, wall)


def _stop(pool) -> None:
    """End the running runs now and cancel the queued ones. ``ProcessPoolExecutor`` can only
    wait for running calls; before Python 3.14 (``terminate_workers``) its processes are reached
    through ``_processes``. The pool then sees its workers gone and fails their futures."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
    else:
        for process in list((pool._processes or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run(name: str, preset: str, recompute: bool = False, jobs: int = 1) -> Result:
    """Return the cached result of ``name`` at ``preset``, computing and storing it if needed.

    ``jobs`` > 1 computes the independent runs of a sweep (those the experiment hands to
    ``memo.many``) in that many worker processes; the stored runs are the same either way.
    More jobs than ``max_jobs()`` (CPUs, and memory at ``WORKER_MEMORY`` a worker) is a
    ``ValueError``. A cache hit takes no lock, so it works on a read-only results folder.

    A corrupt or stale cache file is reported with a warning and recomputed. ``recompute``
    supersedes the result and every cached run of its sweep; an interrupted recompute is
    resumed by the next ``run`` (with or without ``recompute``), reusing the runs it finished.
    """
    exp = get(name)
    check_preset(preset)
    _check_jobs(jobs)
    path = result_path(name, preset)
    if not recompute:
        try:  # a cache hit writes nothing: no lock, so that a read-only results folder serves
            return load(name, preset)
        except ResultError:
            pass  # missing, stale, corrupt or being recomputed: decided again under the lock
    with _writing(name, preset):
        generation = _recompute_generation(name, preset)
        if generation is not None:
            print(f"{name} [{preset}]: resuming an interrupted --recompute", file=sys.stderr)
        elif recompute:
            generation = _start_recompute(name, preset)
        elif path.exists():
            try:
                return load(name, preset)
            except ResultError as exc:
                warnings.warn(f"{exc}; recomputing")
        config, commit = config_dict(exp, preset), git_commit()
        t0, run_times, used = time.perf_counter(), [], set()
        out = exp.fn(exp.presets[preset], _memo_for(exp, preset, config, run_times, generation, used,
                                                    commit, jobs))
        wall = time.perf_counter() - t0
        arrays = {k: np.asarray(v) for k, v in out.items() if isinstance(v, np.ndarray)}
        data = _jsonable({k: v for k, v in out.items() if k not in arrays})
        prov = provenance(wall, commit)
        if run_times:  # a resumed sweep's own call is short; the runs are what it cost
            prov["runs"] = len(run_times)
            prov["runs_wall_time_s"] = round(sum(run_times), 3)
        if jobs > 1:
            prov["jobs"] = jobs
        record = {"format": FORMAT, "experiment": name, "version": exp.version, "preset": preset,
                  "config": config, "data": data, "provenance": prov, "code": code_of(exp)}
        if not arrays:
            path.with_suffix(".npz").unlink(missing_ok=True)
        _write_record(path, record, arrays)
        if generation is not None:
            _finish_recompute(name, preset, used)
    return Result(name, preset, exp.version, config, data, arrays, record["provenance"], cached=False)


WORKER_MEMORY = 700 * 2**20
"""Host memory one worker process takes (Python, torch, a network and its data): ≈ 680 MB
measured, rounded up."""


def max_jobs() -> int:
    """How many worker processes this machine can hold: one per CPU this process may use, and
    at most one per ``WORKER_MEMORY`` of available memory (where the system says how much)."""
    memory = _available_memory()
    by_memory = _cpus() if memory is None else memory // WORKER_MEMORY
    return max(1, min(_cpus(), by_memory))


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where there is one, e.g. under taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _available_memory() -> int | None:
    """Bytes of memory available without swapping (Linux: MemAvailable in /proc/meminfo), or
    None where that is not known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_jobs(jobs: int) -> None:
    """``jobs`` must be an integer from 1 to ``max_jobs()``: more workers than CPUs only share
    them, and more than memory holds end in the out-of-memory killer."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    limit = max_jobs()
    if jobs > limit:
        memory = _available_memory()
        room = "" if memory is None else (f", {memory / 2**30:.1f} GiB of memory available at "
                                          f"≈ {WORKER_MEMORY // 2**20} MiB a worker")
        raise ValueError(f"jobs must be at most {limit} on this machine ({_cpus()} CPUs{room}), got {jobs}")


def inspect(name: str, preset: str) -> tuple[str, str]:
    """(state, why) of one preset: state is 'ok', 'missing', 'stale', 'corrupt',
    'recomputing (n runs)' or 'partial (n runs)'; why is the loader's message (``""`` when ok)."""
    runs = len(list((results_dir() / name / f"{preset}.runs").glob("*.json")))
    if _marker_path(name, preset).exists():
        return f"recomputing ({runs} runs)", "an interrupted --recompute; `run` resumes it"
    try:
        load(name, preset)
        return "ok", ""
    except CorruptResultError as exc:
        return "corrupt", str(exc)
    except StaleResultError as exc:
        return "stale", str(exc)
    except ResultError as exc:
        return (f"partial ({runs} runs)" if runs else "missing"), str(exc)


def status(name: str) -> dict[str, str]:
    """For each preset: 'ok', 'missing', 'stale', 'corrupt', 'recomputing (n runs)' or
    'partial (n runs)'."""
    return {preset: inspect(name, preset)[0] for preset in PRESETS}


def provenance_rows(experiments: Sequence[Experiment], presets: Sequence[str] = BOOK_PRESETS) -> list[dict]:
    """One row per experiment (by name) and preset: what the provenance page shows.
    ``commit`` keeps its '+dirty' flag; a preset not run, corrupt or stale says so in ``state``."""
    rows = []
    for exp in sorted(experiments, key=lambda e: e.name):
        name = exp.name
        for preset in presets:
            state, _ = inspect(name, preset)
            row = {"experiment": name, "version": exp.version, "preset": preset,
                   "state": state, "device": "", "commit": "", "compute_min": None, "date": ""}
            if state == "ok":
                res = load(name, preset)
                p = res.provenance
                row.update(device=device_text(p), commit=short_commit(p["git_commit"], 12),
                           compute_min=res.compute_s / 60,
                           date=p["date"][:10])
            rows.append(row)
    return rows
