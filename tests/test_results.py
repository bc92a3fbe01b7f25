import json
from dataclasses import dataclass

import numpy as np
import pytest

from lsutils import results
from lsutils.results import CorruptResultError, ResultError, StaleResultError


@dataclass(frozen=True)
class Cfg:
    n: int = 3


CALLS: list[str] = []
INTERRUPT = {"at": -1}


def _toy(cfg: Cfg, memo):
    """A toy sweep: squares of 0..n-1, one cached run per value."""
    out = []
    for i in range(cfg.n):
        def compute(i=i):
            CALLS.append(f"run{i}")
            if i == INTERRUPT["at"]:
                raise KeyboardInterrupt  # an interruption in the middle of a sweep
            return {"i": i, "sq": i * i}
        out.append(memo(f"i={i}", compute))
    CALLS.append("combine")
    return {"runs": out, "squares": np.arange(cfg.n) ** 2}


@pytest.fixture
def toy(results_tmp, monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("toy", 1, {"smoke": Cfg(), "cpu": Cfg(n=4), "gpu": Cfg(n=5)})(_toy)
    return results_tmp


def test_compute_then_cache_hit(toy):
    first = results.run("toy", "smoke")
    assert not first.cached and CALLS == ["run0", "run1", "run2", "combine"]
    second = results.run("toy", "smoke")
    assert second.cached and CALLS == ["run0", "run1", "run2", "combine"]  # nothing recomputed
    assert second.data == first.data == {"runs": [{"i": i, "sq": i * i} for i in range(3)]}
    np.testing.assert_array_equal(second.arrays["squares"], [0, 1, 4])
    prov = second.provenance
    for key in ("git_commit", "lsutils", "torch", "python", "device", "wall_time_s", "date"):
        assert key in prov
    assert second.config == {"n": 3}


def test_recompute_discards_runs(toy):
    results.run("toy", "smoke")
    CALLS.clear()
    results.run("toy", "smoke", recompute=True)
    assert CALLS == ["run0", "run1", "run2", "combine"]


def test_interrupted_sweep_resumes(toy, monkeypatch):
    monkeypatch.setitem(INTERRUPT, "at", 2)
    with pytest.raises(KeyboardInterrupt):
        results.run("toy", "smoke")
    assert not results.result_path("toy", "smoke").exists()
    assert results.status("toy")["smoke"] == "partial (2 runs)"
    monkeypatch.setitem(INTERRUPT, "at", -1)
    CALLS.clear()
    res = results.run("toy", "smoke")
    assert CALLS == ["run2", "combine"]          # runs 0 and 1 came from the cache
    assert res.data["runs"][2] == {"i": 2, "sq": 4}


def test_resume_uses_finished_runs(toy):
    results.run("toy", "cpu")                    # 4 runs stored
    results.result_path("toy", "cpu").unlink()   # as if the sweep died before combining
    CALLS.clear()
    res = results.run("toy", "cpu")
    assert CALLS == ["combine"] and not res.cached


def test_truncated_result_is_reported(toy):
    results.run("toy", "smoke")
    path = results.result_path("toy", "smoke")
    path.write_text(path.read_text()[:40])
    with pytest.raises(CorruptResultError, match="not valid JSON"):
        results.load("toy", "smoke")
    with pytest.warns(UserWarning, match="corrupt"):
        res = results.run("toy", "smoke")       # run() recomputes, loudly
    assert not res.cached


def test_edited_result_fails_checksum(toy):
    results.run("toy", "smoke")
    path = results.result_path("toy", "smoke")
    record = json.loads(path.read_text())
    record["data"]["runs"][0]["sq"] = 99
    path.write_text(json.dumps(record))
    with pytest.raises(CorruptResultError, match="checksum"):
        results.load("toy", "smoke")


def test_damaged_npz_is_detected(toy):
    results.run("toy", "smoke")
    npz = results.result_path("toy", "smoke").with_suffix(".npz")
    blob = bytearray(npz.read_bytes())
    blob[-5] ^= 0xFF
    npz.write_bytes(bytes(blob))
    with pytest.raises(CorruptResultError, match="npz"):
        results.load("toy", "smoke")


def test_corrupt_run_is_recomputed_with_warning(toy):
    results.run("toy", "smoke")
    results.result_path("toy", "smoke").unlink()
    (results.results_dir() / "toy" / "smoke.runs" / "i=1.json").write_text("{")
    CALLS.clear()
    with pytest.warns(UserWarning, match="recomputing this run"):
        results.run("toy", "smoke")
    assert CALLS == ["run1", "combine"]


def test_other_version_is_stale_never_silent(toy):
    results.run("toy", "smoke")
    exp = results.REGISTRY["toy"]
    results.REGISTRY["toy"] = exp.__class__("toy", 2, exp.fn, exp.presets, "")
    with pytest.raises(StaleResultError, match="version 1"):
        results.load("toy", "smoke")
    with pytest.warns(UserWarning, match="version"):
        assert not results.run("toy", "smoke").cached


def test_changed_config_is_stale(toy):
    results.run("toy", "smoke")
    exp = results.REGISTRY["toy"]
    results.REGISTRY["toy"] = exp.__class__("toy", 1, exp.fn, {**exp.presets, "smoke": Cfg(n=2)}, "")
    with pytest.raises(StaleResultError, match="another config"):
        results.load("toy", "smoke")


def test_best_prefers_gpu_and_never_shows_smoke(toy):
    results.run("toy", "smoke")
    with pytest.raises(ResultError, match="no stored"):
        results.best("toy")
    results.run("toy", "cpu")
    assert results.best("toy").preset == "cpu"
    results.run("toy", "gpu")
    assert results.best("toy").preset == "gpu"


def test_writes_are_atomic(toy, monkeypatch):
    results.run("toy", "smoke")
    path = results.result_path("toy", "smoke")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(OSError):
        results.run("toy", "smoke", recompute=True)
    assert path.read_bytes() == before                      # the old file is intact
    assert not list(path.parent.glob("*.tmp"))              # and no temp file is left behind


def test_bad_arguments(toy):
    with pytest.raises(ValueError, match="unknown experiment"):
        results.run("nope", "smoke")
    with pytest.raises(ValueError, match="preset must be one of"):
        results.run("toy", "laptop")
    with pytest.raises(ValueError, match="frozen dataclass"):
        results.experiment("bad", 1, {"smoke": {}, "cpu": {}, "gpu": {}})
    with pytest.raises(ValueError, match="missing"):
        results.experiment("bad", 1, {"smoke": Cfg()})
    with pytest.raises(TypeError, match="cannot store"):
        results._jsonable({"x": object()})


def test_no_pickle_in_store(toy):
    results.run("toy", "smoke")
    for f in results.results_dir().rglob("*"):
        if f.is_file():  # data files, and the writers' empty lock files
            assert f.suffix in {".json", ".npz"} or (f.suffix == ".lock" and not f.stat().st_size), f
    with np.load(results.result_path("toy", "smoke").with_suffix(".npz"), allow_pickle=False) as z:
        assert z["squares"].dtype.kind == "i"


def _toy_run_config(cfg: Cfg, memo):
    out = []
    for i in range(cfg.n):
        def compute(i=i):
            CALLS.append(f"run{i}")
            return {"i": i}
        out.append(memo(f"i={i}", compute, run_config={"i": i}))
    return {"runs": out}


def test_run_config_lets_a_sweep_grow_without_recomputing(results_tmp, monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("grow", 1, {"smoke": Cfg(n=2), "cpu": Cfg(), "gpu": Cfg()})(_toy_run_config)
    results.run("grow", "smoke")
    exp = results.REGISTRY["grow"]
    results.REGISTRY["grow"] = exp.__class__("grow", 1, exp.fn, {**exp.presets, "smoke": Cfg(n=3)}, "")
    CALLS.clear()
    results.run("grow", "smoke")                  # the config changed: stale top level, runs reused
    assert CALLS == ["run2"]


def test_resumed_sweep_reports_the_cost_of_its_runs(toy):
    results.run("toy", "cpu")
    results.result_path("toy", "cpu").unlink()
    res = results.run("toy", "cpu")               # every run from the cache
    prov = res.provenance
    assert prov["runs"] == 4
    stored = [results.read_record(p)[0]["provenance"]["wall_time_s"]
              for p in sorted((results.results_dir() / "toy" / "cpu.runs").glob("*.json"))]
    assert prov["runs_wall_time_s"] == pytest.approx(sum(stored), abs=1e-3)
    assert "over 4 runs" in res.describe()


def test_nan_is_refused_loudly(results_tmp, monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("nan", 1, {"smoke": Cfg(), "cpu": Cfg(), "gpu": Cfg()})(lambda cfg, memo: {"x": float("nan")})
    with pytest.raises(ValueError, match="must not contain NaN"):
        results.run("nan", "smoke")
    assert not (results_tmp / "nan" / "smoke.json").exists()


def _many_sweep(cfg: Cfg, memo):
    """Independent runs through memo.many: builtins, so spawned workers can unpickle them."""
    from functools import partial

    CALLS.append("sweep")
    return {"runs": memo.many([(f"i={i}", partial(dict, i=i, sq=i * i), {"i": i}) for i in range(cfg.n)])}


@pytest.fixture
def many_toy(results_tmp, monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("many", 1, {"smoke": Cfg(n=3), "cpu": Cfg(n=4), "gpu": Cfg(n=5)})(_many_sweep)
    return results_tmp


def test_many_in_worker_processes_stores_what_one_process_stores(many_toy):
    one = results.run("many", "smoke")
    two = results.run("many", "cpu", jobs=2)
    assert one.data["runs"] == [{"i": i, "sq": i * i} for i in range(3)]
    assert two.data["runs"] == [{"i": i, "sq": i * i} for i in range(4)]     # in order, whatever finished first
    assert two.provenance["jobs"] == 2 and two.provenance["runs"] == 4
    stored = sorted(p.name for p in (many_toy / "many" / "cpu.runs").glob("*.json"))
    assert stored == [f"i={i}.json" for i in range(4)]


def test_many_resumes_and_only_computes_missing_runs(many_toy, monkeypatch):
    results.run("many", "smoke")
    results.result_path("many", "smoke").unlink()
    (many_toy / "many" / "smoke.runs" / "i=1.json").unlink()
    computed = []
    real = results._timed
    monkeypatch.setattr(results, "_timed", lambda compute: computed.append(compute.keywords["i"]) or real(compute))
    assert results.run("many", "smoke").data["runs"][1] == {"i": 1, "sq": 1}
    assert computed == [1]


def test_many_with_jobs_refuses_a_compute_it_cannot_send_to_a_worker(results_tmp, monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("lam", 1, {p: Cfg() for p in results.PRESETS})(
        lambda cfg, memo: {"runs": memo.many([(f"i={i}", lambda i=i: {"i": i}, None) for i in range(2)])})
    with pytest.raises(ValueError, match="picklable"):
        results.run("lam", "smoke", jobs=2)
    assert results.run("lam", "cpu").data["runs"] == [{"i": 0}, {"i": 1}]   # one process: lambdas are fine
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs"):
            results.run("lam", "gpu", jobs=bad)


def test_device_text_says_one_thread():
    assert results.device_text({"device": "cpu: x86_64 (2 cores, 1 threads)"}) == "cpu: x86_64 (2 cores, 1 thread)"
    assert results.device_text({"device": "cpu: x86_64 (2 cores, 2 threads)"}).endswith("2 threads)")
    assert results.device_text({}) == "?"


def test_a_results_note_says_what_produced_it_in_a_readers_words():
    res = results.Result("toy", "cpu", 2, {}, {}, provenance={
        "runs": 40, "runs_wall_time_s": 1110.0, "device": "cpu: x86_64 (2 cores, 1 threads)",
        "date": "2026-11-30T10:00:00+00:00", "git_commit": "244f5a6a83d0e1f2"})
    assert res.note() == ("*Computed with the laptop-scale settings: 40 training runs, 18.5 minutes of "
                          "compute on a CPU (x86_64, 2 cores, 1 thread), 30 November 2026, code at commit "
                          "244f5a6a83 (experiment version 2). To recompute: "
                          "`python -m lsutils run toy --preset cpu`.*")
    gpu = results.Result("toy", "gpu", 1, {}, {}, provenance={"wall_time_s": 42.0, "device": "cuda: NVIDIA H200"})
    assert "42 s of compute on a GPU (NVIDIA H200), an unknown date" in gpu.note()
