"""Fault injection: each way the results store, the data routes and the CLI were seen to fail,
played again so the promises are tested, not assumed (issue: "the store under faults").

Each test names the fault it replays; every one of them failed before its fix.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lsutils import __main__ as cli
from lsutils import experiments, results  # noqa: F401  (declares the book's experiments)
from lsutils.results import CorruptResultError, ResultError

REPO = results.REPO


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "lsutils", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=REPO)


# ----------------------------------------------------------------------------- a toy sweep

@dataclass(frozen=True)
class Cfg:
    n: int = 4


CALLS: list[str] = []
STOP = {"at": -1}


def _sweep(cfg: Cfg, memo):
    out = []
    for i in range(cfg.n):
        def compute(i=i):
            CALLS.append(f"run{i}")
            if i == STOP["at"]:
                raise KeyboardInterrupt
            return {"i": i, "value": i + len(CALLS) / 100}  # differs between computations
        out.append(memo(f"i={i}", compute))
    return {"runs": out, "values": np.array([r["value"] for r in out])}


@pytest.fixture
def toy(results_tmp, monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(STOP, "at", -1)
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("toy", 1, {"smoke": Cfg(), "cpu": Cfg(n=5), "gpu": Cfg(n=6)})(_sweep)
    return results_tmp


def _runs(root):
    return root / "toy" / "smoke.runs"


# ----------------------------------------------------------------------------- 1. a run file under another name

def test_run_file_under_another_runs_name_is_not_used(toy):
    results.run("toy", "smoke")
    (_runs(toy) / "i=2.json").write_bytes((_runs(toy) / "i=0.json").read_bytes())
    results.result_path("toy", "smoke").unlink()
    CALLS.clear()
    with pytest.warns(UserWarning, match=r"holds run 'i=0'.*not 'i=2'"):
        res = results.run("toy", "smoke")
    assert CALLS == ["run2"] and [r["i"] for r in res.data["runs"]] == [0, 1, 2, 3]


def test_cli_copied_run_file_is_recomputed(results_tmp):
    """The issue's own command, on the real first_experiment."""
    env = {"LSBOOK_RESULTS": str(results_tmp)}
    assert _cli("run", "first_experiment", "--preset", "smoke", env=env).returncode == 0
    folder = results_tmp / "first_experiment"
    runs = sorted((folder / "smoke.runs").glob("eps=0.0_seed=0.json"))
    assert runs, "first_experiment's run keys changed; update this test"
    other = folder / "smoke.runs" / "eps=0.1_seed=0.json"
    other.write_bytes(runs[0].read_bytes())
    (folder / "smoke.json").unlink()
    out = _cli("run", "first_experiment", "--preset", "smoke", env=env)
    assert out.returncode == 0 and "not 'eps=0.1_seed=0'" in out.stderr
    assert json.loads(other.read_text())["key"] == "eps=0.1_seed=0"


# ----------------------------------------------------------------------------- 2. NaN / Infinity stored

def _poison(path, token):
    text = path.read_text()
    record = json.loads(text)
    first = next(iter(record["data"]))
    record["data"][first] = "@@"
    path.write_text(json.dumps(record).replace('"@@"', token))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_summary_is_corrupt_named_and_recomputed(toy, token, capsys):
    results.run("toy", "smoke")
    path = results.result_path("toy", "smoke")
    _poison(path, token)
    with pytest.raises(CorruptResultError, match=str(path)):
        results.load("toy", "smoke")
    with pytest.raises(CorruptResultError, match="non-finite"):
        results.load("toy", "smoke")
    assert results.status("toy")["smoke"] == "corrupt"
    cli._list(None)  # the listing goes on past the corrupt file, with a warning naming it
    out = capsys.readouterr()
    assert "toy" in out.out and "smoke  corrupt" in out.out and str(path) in out.err
    with pytest.warns(UserWarning, match="corrupt"):
        assert not results.run("toy", "smoke").cached
    assert results.load("toy", "smoke").data["runs"][0]["i"] == 0


def test_non_finite_best_result_is_reported_as_corrupt(toy):
    results.run("toy", "cpu")
    _poison(results.result_path("toy", "cpu"), "NaN")
    with pytest.raises(CorruptResultError, match=r"cpu\.json is corrupt"):
        results.best("toy")


def test_non_finite_run_file_is_recomputed(toy):
    results.run("toy", "smoke")
    _poison(_runs(toy) / "i=1.json", "Infinity")
    results.result_path("toy", "smoke").unlink()
    CALLS.clear()
    with pytest.warns(UserWarning, match=r"i=1\.json is corrupt"):
        results.run("toy", "smoke")
    assert CALLS == ["run1"]


@pytest.mark.parametrize("damage", [
    lambda r: r.pop("provenance"),
    lambda r: r.update(data=[1, 2]),
    lambda r: r.update(version="1"),
])
def test_malformed_record_is_corrupt_not_a_crash(toy, damage):
    results.run("toy", "smoke")
    path = results.result_path("toy", "smoke")
    record = json.loads(path.read_text())
    damage(record)
    record.pop("sha256")
    record["sha256"] = results._digest(record)  # a valid checksum over a malformed record
    path.write_text(json.dumps(record))
    with pytest.raises(CorruptResultError, match="missing or malformed"):
        results.load("toy", "smoke")


# ----------------------------------------------------------------------------- 3. an interrupted --recompute

def test_interrupted_recompute_resumes_and_never_shows_the_old_result(toy, monkeypatch):
    old = results.run("toy", "smoke").data
    monkeypatch.setitem(STOP, "at", 2)
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        results.run("toy", "smoke", recompute=True)
    assert CALLS == ["run0", "run1", "run2"]
    assert results.status("toy")["smoke"] == "recomputing (4 runs)"
    with pytest.raises(ResultError, match="being recomputed"):
        results.load("toy", "smoke")  # the old summary is superseded, not "ok"
    # a second --recompute resumes: the runs finished under the first are kept
    monkeypatch.setitem(STOP, "at", 3)
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        results.run("toy", "smoke", recompute=True)
    assert CALLS == ["run2", "run3"]
    # and so does a plain run, which must not fall back to the old runs 3
    monkeypatch.setitem(STOP, "at", -1)
    CALLS.clear()
    new = results.run("toy", "smoke")
    assert CALLS == ["run3"] and not new.cached
    assert new.data != old and results.status("toy")["smoke"] == "ok"
    assert not results._marker_path("toy", "smoke").exists()
    assert results.run("toy", "smoke").cached


def test_completed_recompute_recomputes_everything_once(toy):
    results.run("toy", "smoke")
    CALLS.clear()
    results.run("toy", "smoke", recompute=True)
    assert CALLS == ["run0", "run1", "run2", "run3"]
    CALLS.clear()
    results.run("toy", "smoke", recompute=True)  # a new recompute, not a resumed one
    assert CALLS == ["run0", "run1", "run2", "run3"]


def test_recompute_drops_runs_the_sweep_no_longer_has(toy, monkeypatch):
    results.run("toy", "cpu")                       # i=0..4
    monkeypatch.setitem(results.REGISTRY["toy"].presets, "cpu", Cfg(n=2))
    results.run("toy", "cpu", recompute=True)
    assert sorted(p.name for p in (toy / "toy" / "cpu.runs").glob("*.json")) == ["i=0.json", "i=1.json"]


# ----------------------------------------------------------------------------- 4. "+dirty" means code

def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def test_dirty_flag_means_code_differs(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    for f in ("lsutils/a.py", "results/x/cpu.json", "chapters/c.ipynb"):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "x")
    monkeypatch.setattr(results, "REPO", repo)
    assert not results.git_commit().endswith("+dirty")
    (repo / "results/x/cpu.json").write_text("2\n")
    (repo / "results/x/new.json").write_text("new\n")
    (repo / "chapters/c.ipynb").write_text("2\n")
    assert not results.git_commit().endswith("+dirty")  # outputs, not code
    (repo / "lsutils/b.py").write_text("new module\n")
    assert results.git_commit().endswith("+dirty")      # untracked code counts
    (repo / "lsutils/b.py").unlink()
    (repo / "lsutils/a.py").write_text("2\n")
    assert results.git_commit().endswith("+dirty")


def test_describe_shows_the_dirty_flag(toy, monkeypatch):
    monkeypatch.setattr(results, "git_commit", lambda: "0123456789abcdef+dirty")
    res = results.run("toy", "smoke")
    assert "commit 0123456789+dirty" in res.describe()
    assert results.short_commit("0123456789abcdef") == "0123456789"


def test_provenance_page_keeps_the_dirty_flag():
    nb = json.loads((REPO / "chapters/appendix/provenance.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "git_commit'][:" not in code and 'git_commit"][:' not in code


# ----------------------------------------------------------------------------- 5. fit_temperature(tol=0)

def test_fit_temperature_returns_for_any_tolerance():
    from lsutils.metrics import fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    z = rng.normal(size=(200, 5)) * 3 + 4 * np.eye(5)[y]  # informative: an interior optimum
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("never returned")))
    signal.alarm(20)
    try:
        ref = fit_temperature(z, y)
        assert fit_temperature(z, y, tol=0) == pytest.approx(ref, rel=1e-8)
        assert fit_temperature(z, y, tol=1e-300) == pytest.approx(ref, rel=1e-8)
        assert 0.05 < ref < 20
        wide = fit_temperature(z, y, bounds=(1e-200, 1e200), tol=0)  # ulps of log β ≫ 1e-16
        assert wide == pytest.approx(ref, rel=1e-6)
    finally:
        signal.alarm(0)
    for bad in (-1e-3, float("nan"), float("inf"), True, "0"):
        with pytest.raises(ValueError, match="tol must be"):
            fit_temperature(z, y, tol=bad)


# ----------------------------------------------------------------------------- 6. concurrent writers, kills

WRITER = textwrap.dedent('''
    import os, sys, time
    from dataclasses import dataclass
    import numpy as np
    from lsutils import results

    @dataclass(frozen=True)
    class Cfg:
        n: int = 5

    def sweep(cfg, memo):
        out = []
        for i in range(cfg.n):
            def compute(i=i):
                time.sleep(0.03)
                return {"i": i, "pid": os.getpid()}
            out.append(memo(f"i={i}", compute))
        return {"runs": out, "pids": np.array([r["pid"] for r in out])}

    results.experiment("race", 1, {"smoke": Cfg(), "cpu": Cfg(), "gpu": Cfg()})(sweep)
    mode = sys.argv[1]
    if mode == "kill":  # die between writing run 3's temp file and renaming it
        real = os.replace
        def replace(src, dst):
            if str(dst).endswith("i=3.json"):
                os.kill(os.getpid(), 9)
            return real(src, dst)
        os.replace = replace
    results.run("race", "smoke", recompute=(mode == "recompute"))
''')


def _writer(tmp_path, mode):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "LSBOOK_RESULTS": str(tmp_path / "results"), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), mode], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race_result(tmp_path, monkeypatch):
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    path = tmp_path / "results" / "race" / "smoke.json"
    record, arrays = results.read_record(path)
    return record, arrays


def test_two_recomputes_at_once_never_interleave(tmp_path, monkeypatch):
    for round_ in range(3):
        procs = [_writer(tmp_path, "recompute") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err
        record, arrays = _race_result(tmp_path, monkeypatch)
        pids = [r["pid"] for r in record["data"]["runs"]]
        assert len(set(pids)) == 1, f"round {round_}: runs from two writers {pids}"
        assert arrays["pids"].tolist() == pids  # JSON and npz from the same writer
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_killed_between_write_and_rename_resumes_and_cleans_up(tmp_path, monkeypatch):
    killed = _writer(tmp_path, "kill")
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    runs = tmp_path / "results" / "race" / "smoke.runs"
    assert len(list(runs.glob("*.json"))) == 3 and len(list(runs.glob("*.tmp"))) == 1
    resumed = _writer(tmp_path, "plain")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    record, _ = _race_result(tmp_path, monkeypatch)
    pids = [r["pid"] for r in record["data"]["runs"]]
    assert pids[:3] == [killed.pid] * 3 and pids[3:] == [resumed.pid] * 2  # finished runs reused
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_a_reader_waits_for_the_writer_of_a_half_replaced_pair(toy, monkeypatch):
    """A summary whose npz does not match reads as corrupt; while a writer holds the lock the
    reader waits and reads again instead of reporting it."""
    results.run("toy", "smoke")
    npz = results.result_path("toy", "smoke").with_suffix(".npz")
    good = npz.read_bytes()
    npz.write_bytes(b"half")
    lock = results._lock("toy", "smoke")
    calls = []
    real_read = results.read_record

    def read(path):
        calls.append(path)
        if len(calls) == 2:  # by the second read, the writer has put the npz in place
            npz.write_bytes(good)
        return real_read(path)

    with monkeypatch.context() as m:
        m.setattr(results, "read_record", read)
        m.setattr(lock, "acquire", _fake_acquire(lock.acquire))
        assert results.load("toy", "smoke").arrays["values"].shape == (4,)
    assert len(calls) == 2
    npz.write_bytes(b"half")
    with pytest.raises(CorruptResultError):  # no writer: real corruption is reported
        results.load("toy", "smoke")


def _fake_acquire(real):
    """The lock as another process holds it: the first non-blocking try times out."""
    state = {"first": True}

    def acquire(timeout=-1, **kw):
        from filelock import Timeout

        if timeout == 0 and state["first"]:
            state["first"] = False
            raise Timeout("held elsewhere")
        return real(timeout=timeout, **kw)

    return acquire


# ----------------------------------------------------------------------------- 7. an explicit data root

def test_cli_wrong_data_root_is_not_ignored(tmp_path):
    out = _cli("data", "fashion_mnist", "--no-download", env={"LSBOOK_DATA": str(tmp_path / "typo"),
                                                                "LSBOOK_SYSTEM_DATA": str(tmp_path / "x")})
    assert out.returncode == 1 and "not searched: an explicit root" in out.stderr
    assert "ready in" not in out.stdout


# ----------------------------------------------------------------------------- 8. API gaps

def test_api_gaps_seen_by_the_fault_probe():
    from lsutils import info, losses, targets, theory

    with pytest.raises(ValueError, match="dtype must be a floating-point"):
        targets.smooth_targets(torch.tensor([1, 0]), 3, 0.1, dtype=torch.int64)
    q = targets.smooth_targets(torch.tensor([1, 0], dtype=torch.uint8), 3, 0.3)
    assert torch.allclose(q, targets.smooth_targets(torch.tensor([1, 0]), 3, 0.3))
    z = torch.randn(2, 3)
    loss_u8 = losses.smoothed_cross_entropy(z, torch.tensor([1, 0], dtype=torch.uint8), 0.1)
    assert torch.equal(loss_u8, losses.smoothed_cross_entropy(z, torch.tensor([1, 0]), 0.1))
    samples = np.random.default_rng(0).normal(size=(6, 3))
    for bad in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="chunk"):
            info.mutual_information(samples, chunk=bad)
    for bad in (float("nan"), 1, 2.5):
        with pytest.raises(ValueError, match="copies"):
            info.mutual_information_bias(bad)
    with pytest.raises(ValueError, match="eps"):
        losses.distillation_loss(z, z, torch.tensor([1, 0]), 2.0, 1.0, eps=1.5)
    assert theory.torch_weighted_optimum([1.0, 2.0], np.int64(1), 0.1) == \
        theory.torch_weighted_optimum([1.0, 2.0], 1, 0.1)


# ----------------------------------------------------------------------------- 9. the CLI

@pytest.mark.parametrize("steps", ["0", "-1"])
def test_bench_rejects_non_positive_steps_at_once(steps):
    out = _cli("bench", "--steps", steps, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "must be an integer >= 1" in out.stderr


def test_bench_api_rejects_bad_numbers():
    from lsutils.bench import bench

    for kw in ({"steps": 0}, {"steps": -1}, {"batch_size": 0}, {"num_workers": -1}, {"steps": 2.5}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            bench(**kw)


def test_error_after_a_progress_bar_starts_on_its_own_line(toy, monkeypatch, capsys):
    from tqdm import tqdm

    def failing(name, preset, recompute=False, jobs=1):
        bar = tqdm(total=10, desc="training", file=sys.stderr)
        bar.update(3)
        raise ValueError("boom")

    monkeypatch.setattr(results, "run", failing)
    assert cli.main(["run", "toy", "--preset", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "\nerror: boom" in err and not tqdm._instances


def test_data_prints_its_route_once(capsys, monkeypatch, tmp_path):
    from lsutils import data

    monkeypatch.setattr(data, "_locate", lambda info, root, download: (tmp_path, "existing"))
    assert cli.main(["data", "fashion_mnist"]) == 0
    out = capsys.readouterr().out
    assert out.count(str(tmp_path)) == 1 and "found an existing layout" in out


def test_provenance_is_the_code_at_the_start_of_a_sweep(toy, monkeypatch):
    """Editing code while a long sweep runs must not stamp its runs '+dirty' (nor clean)."""
    states = iter(["abc+dirty" if i else "abc" for i in range(100)])
    monkeypatch.setattr(results, "git_commit", lambda: next(states))
    res = results.run("toy", "smoke")
    assert res.provenance["git_commit"] == "abc"
    for f in _runs(toy).glob("*.json"):
        assert json.loads(f.read_text())["provenance"]["git_commit"] == "abc"
