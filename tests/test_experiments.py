"""The smoke preset of every registered experiment runs end to end, and the CLI behaves."""

import json
import os
import subprocess
import sys

import pytest

from lsutils import experiments, results

NAMES = sorted(e.name for e in experiments.EXPERIMENTS)


TIMINGS = {"images_per_s"}  # measured speed: the one stored value a seed cannot fix


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", NAMES)
def test_smoke_preset_runs_once_then_hits_the_cache_and_repeats(name, results_tmp):
    """The smoke preset runs end to end once; the second call is a cache hit; and with one run
    and the summary removed, the sweep recomputes that run and gives the same data: the seeds in
    a run's config fix everything but speed."""
    res = results.run(name, "smoke")
    assert not res.cached and res.data
    again = results.run(name, "smoke")
    assert again.cached and again.data == res.data
    runs = sorted((results_tmp / name / "smoke.runs").glob("*.json"))
    if runs:
        runs[len(runs) // 2].unlink()
    results.result_path(name, "smoke").unlink()
    redo = results.run(name, "smoke")
    assert not redo.cached
    assert _without_timings(redo.data) == _without_timings(res.data)


def test_committed_results_are_current():
    """Every committed result loads (checksum, version and config match the code)."""
    committed = [(n, p) for n in NAMES for p in results.BOOK_PRESETS if results.result_path(n, p).exists()]
    for name, preset in committed:
        results.load(name, preset)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lsutils", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_run_twice_then_truncated(results_tmp):
    env = {"LSBOOK_RESULTS": str(results_tmp)}
    first = _cli("run", "first_experiment", "--preset", "smoke", env=env)
    assert first.returncode == 0, first.stderr
    assert "computed and stored" in first.stdout
    second = _cli("run", "first_experiment", "--preset", "smoke", env=env)
    assert "cache hit" in second.stdout
    path = results_tmp / "first_experiment" / "smoke.json"
    path.write_text(path.read_text()[:100])
    listing = _cli("list", env=env)
    assert "corrupt" in listing.stdout
    third = _cli("run", "first_experiment", "--preset", "smoke", env=env)
    assert third.returncode == 0 and "not valid JSON" in third.stderr and "computed and stored" in third.stdout
    json.loads(path.read_text())  # repaired


def test_cli_failures_are_one_line(results_tmp):
    bad = _cli("run", "no_such_experiment", "--preset", "smoke", env={"LSBOOK_RESULTS": str(results_tmp)})
    assert bad.returncode != 0
    assert bad.stderr.strip().startswith("error: unknown experiment") and "Traceback" not in bad.stderr


def test_cli_data_error_names_every_route(tmp_path):
    env = {"LSBOOK_DATA": str(tmp_path / "nonexistent"), "LSBOOK_SYSTEM_DATA": str(tmp_path / "no-debian"),
           "HOME": str(tmp_path / "home")}
    out = _cli("data", "fashion_mnist", "--no-download", env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    for route in ("LSBOOK_DATA", "apt-get install dataset-fashion-mnist", "python -m lsutils data"):
        assert route in out.stderr


def _close(a, b, path="data"):
    """Equal structure and strings/ints; floats equal to 1e-4 relative (worker processes may use
    another number of CPU threads, which reorders float sums)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-6), path
    else:
        assert a == b, path


def test_jobs_spread_a_sweep_over_worker_processes_with_the_same_results(results_tmp, monkeypatch):
    """`--jobs 2`: the runs of a sweep are trained in two spawned workers and stored as before."""
    one = results.run("first_experiment", "smoke").data
    monkeypatch.setenv("LSBOOK_RESULTS", str(results_tmp / "jobs"))
    two = _cli("run", "first_experiment", "--preset", "smoke", "--jobs", "2",
               env={"LSBOOK_RESULTS": str(results_tmp / "jobs")})
    assert two.returncode == 0, two.stderr
    res = results.load("first_experiment", "smoke")
    assert res.provenance["jobs"] == 2
    _close(_without_timings(one), _without_timings(res.data))
