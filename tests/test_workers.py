"""Worker processes of ``memo.many`` (``results.run(..., jobs=N)``) under faults: a failing run,
Ctrl-C, the book's own exceptions on their way back, a killed parent, more jobs than the machine
holds. Real spawned workers on toy runs (module-level functions, so that workers can unpickle
them); each test takes a few seconds. Workers import this module to find the runs, so it imports
nothing heavy at the top (lsutils.data and lsutils.train import torch).
"""

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from lsutils import __main__ as cli
from lsutils import results
from lsutils.results import CorruptResultError, ResultError, RunError, StaleResultError

REPO = results.REPO


@dataclass(frozen=True)
class Cfg:
    n: int = 6


# ----------------------------------------------------------------------------- toy runs, run in workers

def _job(i: int, folder: str, fail: int = -1, fast: int = 2, slow_s: float = 8.0) -> dict:
    """Run ``i``: notes its start and pid in ``folder``; run ``fail`` raises after 0.8 s, runs
    below ``fast`` take 0.1 s, the others ``slow_s`` (they are meant to be stopped, not to finish)."""
    Path(folder, f"start-{i}").write_text(str(os.getpid()))
    if i == fail:
        time.sleep(0.8)
        raise ValueError("boom")
    time.sleep(0.1 if i < fast else slow_s)
    Path(folder, f"end-{i}").write_text("")
    return {"i": i}


def _raise(kind: str) -> dict:
    """Raise one of the book's own exceptions, as a run in a worker would."""
    raise _EXCEPTIONS[kind]()


def _data():
    from lsutils import data

    return data


_EXCEPTIONS = {
    "DataNotFoundError": lambda: _data().DataNotFoundError("no route found fashion_mnist", [("cache", "empty")]),
    "DataIntegrityError": lambda: _data().DataIntegrityError("/d/FashionMNIST/raw/t10k-labels-idx1-ubyte",
                                                             "truncated"),
    "ResultError": lambda: ResultError("missing"),
    "CorruptResultError": lambda: CorruptResultError("x.json is corrupt"),
    "StaleResultError": lambda: StaleResultError("x.json is stale"),
    "DivergedError": lambda: __import__("lsutils.train").train.DivergedError("loss is nan", 7, "mlp lr=1"),
    "RunError": lambda: RunError("seed=1", "run 'seed=1': ValueError: boom"),
}


def _same(a: BaseException, b: BaseException) -> bool:
    return type(a) is type(b) and a.args == b.args and str(a) == str(b) and vars(a) == vars(b)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its new parent) counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel (a zombie then counts as alive)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _gone_within(pids, seconds: float) -> list[int]:
    """The ``pids`` still alive after ``seconds``."""
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _pids(folder: Path) -> list[int]:
    return sorted({int(f.read_text()) for f in folder.glob("start-*") if f.read_text()})


@pytest.fixture
def sweep(results_tmp, monkeypatch, tmp_path):
    """Experiment "sweep": Cfg.n runs of ``_job`` through memo.many; returns the folder where
    the runs note their starts. ``SWEEP`` holds the keyword arguments of ``_job``."""
    notes = tmp_path / "notes"
    notes.mkdir()
    kwargs: dict = {}
    monkeypatch.setattr(results, "REGISTRY", {})
    monkeypatch.setattr(results, "_visible_gpus", lambda: 0)  # a toy: no GPU, and no torch import

    def fn(cfg: Cfg, memo):
        return {"runs": memo.many([(f"i={i}", partial(_job, i, str(notes), **kwargs), {"i": i})
                                   for i in range(cfg.n)])}

    results.experiment("sweep", 1, {"smoke": Cfg(), "cpu": Cfg(), "gpu": Cfg()})(fn)
    return notes, kwargs


def _stored(results_tmp) -> list[str]:
    return sorted(p.stem for p in (results_tmp / "sweep" / "smoke.runs").glob("*.json"))


# ----------------------------------------------------------------------------- 1. a failing run, Ctrl-C

def test_failing_run_names_its_key_stops_the_sweep_and_keeps_finished_runs(sweep, results_tmp):
    notes, kwargs = sweep
    kwargs.update(fail=1, fast=1)                  # run 0 finishes, run 1 fails, the rest are slow
    with pytest.raises(RunError, match=r"^run 'i=1': ValueError: boom$") as caught:
        results.run("sweep", "smoke", jobs=2)
    assert isinstance(caught.value, RuntimeError) and caught.value.key == "i=1"
    assert type(caught.value.__cause__) is ValueError and str(caught.value.__cause__) == "boom"
    assert _gone_within(_pids(notes), 2) == []     # the running slow runs were stopped
    started = sorted(f.name for f in notes.glob("start-*"))
    assert len(started) < 6, f"the queued runs ran: {started}"
    assert _stored(results_tmp) == ["i=0"] and not list(notes.glob("end-[2-9]"))
    assert results.status("sweep")["smoke"] == "partial (1 runs)"


def test_ctrl_c_keeps_every_finished_run_and_stops_the_others(sweep, results_tmp, monkeypatch):
    """Ctrl-C while the parent stores a run: the run that finished meanwhile is stored too."""
    notes, kwargs = sweep
    kwargs.update(fast=2)                          # runs 0 and 1 take 0.1 s, the rest are slow
    real, state = results._write_record, {"first": True}

    def interrupted(path, record, arrays):
        if state["first"] and path.parent.name == "smoke.runs":
            state["first"] = False
            time.sleep(1.5)                        # meanwhile the other fast run finishes
            raise KeyboardInterrupt
        return real(path, record, arrays)

    monkeypatch.setattr(results, "_write_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.run("sweep", "smoke", jobs=2)
    assert _gone_within(_pids(notes), 2) == []
    assert len(_stored(results_tmp)) == 1 and _stored(results_tmp)[0] in ("i=0", "i=1")
    assert not list(notes.glob("end-[2-9]"))


def test_cli_says_finished_runs_are_kept(sweep, results_tmp, capsys):
    notes, kwargs = sweep
    kwargs.update(fail=1, fast=1)
    assert cli.main(["run", "sweep", "--preset", "smoke", "--jobs", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: run 'i=1': ValueError: boom"
    assert _stored(results_tmp) == ["i=0"]
    first = (results_tmp / "sweep" / "smoke.runs" / "i=0.json").read_bytes()
    kwargs.update(fail=-1, slow_s=0.0)             # the next run resumes from the stored run
    assert [r["i"] for r in results.run("sweep", "smoke", jobs=2).data["runs"]] == list(range(6))
    assert (results_tmp / "sweep" / "smoke.runs" / "i=0.json").read_bytes() == first


# ----------------------------------------------------------------------------- 2. exceptions from a worker

@pytest.mark.parametrize("kind", sorted(_EXCEPTIONS))
def test_book_exceptions_pickle(kind):
    exc = _EXCEPTIONS[kind]()
    assert _same(pickle.loads(pickle.dumps(exc)), exc)


def test_book_exceptions_survive_the_trip_from_a_worker():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {kind: pool.submit(_raise, kind) for kind in _EXCEPTIONS}
        for kind, future in futures.items():
            assert _same(future.exception(timeout=60), _EXCEPTIONS[kind]()), kind


def test_a_data_error_in_a_run_arrives_whole(results_tmp, monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    monkeypatch.setattr(results, "_visible_gpus", lambda: 0)
    results.experiment("data_error", 1, {p: Cfg() for p in results.PRESETS})(lambda cfg, memo: {"runs": memo.many(
        [("bad", partial(_raise, "DataIntegrityError"), None), ("good", partial(dict, i=1), None)])})
    with pytest.raises(RunError, match=r"^run 'bad': DataIntegrityError: .*t10k-labels.*truncated") as caught:
        results.run("data_error", "smoke", jobs=2)
    cause = caught.value.__cause__
    assert type(cause) is _data().DataIntegrityError and cause.problem == "truncated"
    assert "terminated abruptly" not in str(caught.value)


# ----------------------------------------------------------------------------- 3. a killed parent

PARENT = textwrap.dedent('''
    import os, sys, threading, time
    from dataclasses import dataclass
    from functools import partial
    from pathlib import Path
    from lsutils import results

    @dataclass(frozen=True)
    class Cfg:
        n: int = 4

    def slow(i, folder):
        Path(folder, f"{os.getpid()}.pid").write_text("")
        time.sleep(60)
        return {"i": i}

    def sweep(cfg, memo):
        return {"runs": memo.many([(f"i={i}", partial(slow, i, sys.argv[1]), None) for i in range(cfg.n)])}

    def exit_when_both_started():
        while len(list(Path(sys.argv[1]).glob("*.pid"))) < 2:
            time.sleep(0.05)
        os._exit(3)

    if __name__ == "__main__":
        results._visible_gpus = lambda: 0
        results.experiment("orphans", 1, {"smoke": Cfg(), "cpu": Cfg(), "gpu": Cfg()})(sweep)
        if sys.argv[2] == "exit":
            threading.Thread(target=exit_when_both_started, daemon=True).start()
        results.run("orphans", "smoke", jobs=2)
''')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("death", ["SIGKILL", "SIGTERM", "exit"])
def test_workers_die_with_their_parent(tmp_path, death):
    script, notes = tmp_path / "parent.py", tmp_path / "notes"
    script.write_text(PARENT)
    notes.mkdir()
    env = {**os.environ, "LSBOOK_RESULTS": str(tmp_path / "results"), "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, str(script), str(notes), death], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(pids) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = [int(f.stem) for f in notes.glob("*.pid")]
        assert len(pids) == 2, f"the workers did not start: {parent.stderr.read() if parent.poll() else ''}"
        if death != "exit":
            parent.send_signal(getattr(signal, death))
        parent.wait(timeout=30)
        assert _gone_within(pids, 5) == [], f"workers outlived their parent ({death})"
    finally:
        parent.kill()
        parent.wait()
        for pid in pids:  # on failure, leave no orphan sleeping behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ----------------------------------------------------------------------------- 4. --jobs within the machine

def test_jobs_beyond_the_cpus_are_refused_naming_the_limit(sweep, monkeypatch):
    monkeypatch.setattr(results, "_cpus", lambda: 2)
    monkeypatch.setattr(results, "_available_memory", lambda: 64 * 2**30)
    with pytest.raises(ValueError, match=r"^jobs must be at most 2 on this machine \(2 CPUs, 64.0 GiB.*got 3$"):
        results.run("sweep", "smoke", jobs=3)
    assert not (results.results_dir() / "sweep").exists()  # refused before anything ran


def test_jobs_beyond_the_memory_are_refused_naming_the_limit(sweep, monkeypatch):
    monkeypatch.setattr(results, "_cpus", lambda: 64)
    monkeypatch.setattr(results, "_available_memory", lambda: 3 * results.WORKER_MEMORY + 1)
    assert results.max_jobs() == 3
    with pytest.raises(ValueError, match=r"jobs must be at most 3 .*700 MiB a worker\), got 4"):
        results.run("sweep", "smoke", jobs=4)
    monkeypatch.setattr(results, "_available_memory", lambda: 1)
    assert results.max_jobs() == 1                  # one job always runs: the parent is the worker
    monkeypatch.setattr(results, "_available_memory", lambda: None)
    assert results.max_jobs() == 64                 # memory unknown: the CPUs decide


def test_cli_too_many_jobs_is_one_line(sweep, monkeypatch, capsys):
    monkeypatch.setattr(results, "_cpus", lambda: 2)
    assert cli.main(["run", "sweep", "--preset", "smoke", "--jobs", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: jobs must be at most") and err.count("\n") == 1 and "got 5" in err


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="no /proc/meminfo")
def test_available_memory_is_read_from_proc():
    memory = results._available_memory()
    assert isinstance(memory, int) and 0 < memory < 2**50
    assert 1 <= results.max_jobs() <= results._cpus() <= (os.cpu_count() or 1)
