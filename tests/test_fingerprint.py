"""lsutils.fingerprint: a result records the code it depends on, and changing a metric's definition
makes every stored result that depends on it stale (and recomputed), runs of a sweep included."""

import sys
from dataclasses import dataclass

import networkx as nx
import pytest

from lsutils import fingerprint, results

from test_imports import import_graph


def test_the_hash_ignores_docstrings_comments_and_layout_but_not_code():
    a = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    b = 'def f(x):\n    # another comment\n    return (x\n            + 1)\n'
    c = 'def f(x):\n    return x + 2\n'
    assert fingerprint.source_hash(a) == fingerprint.source_hash(b) != fingerprint.source_hash(c)


def test_the_fingerprint_covers_what_the_module_imports_at_any_depth():
    """The modules fingerprinted are the module's descendants in the import graph that
    tests/test_imports.py builds on its own, not through the store and the catalogue (what
    they import serves storing and listing, not the numbers)."""
    name = "lsutils.experiments.calibration"
    got = set(fingerprint.code_fingerprint(name))
    graph = import_graph()
    graph.remove_nodes_from(fingerprint.NOT_COUNTED)
    want = {name} | nx.descendants(graph, name)
    assert got == want
    assert {"lsutils.metrics", "lsutils.train", "lsutils.data"} <= got and "lsutils.results" not in got
    assert fingerprint.changed_modules({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == ["b", "c"]
    with pytest.raises(ValueError, match="module"):
        fingerprint.code_fingerprint("")


@dataclass(frozen=True)
class Cfg:
    n: int = 3


EXPERIMENT = '''
import numpy as np
from lsutils import metrics


def sweep(cfg, memo):
    """Each run: the ECE of a fixed set of predictions (a metric of lsutils.metrics)."""
    def one(i):
        probs = np.full((4, 2), 0.5)
        probs[:, 0] += 0.1 * i
        probs[:, 1] -= 0.1 * i
        return {"ece": float(metrics.ece(probs, np.array([0, 1, 0, 0]), 2))}
    return {"runs": [memo(f"i={i}", lambda i=i: one(i), {"i": i}) for i in range(cfg.n)]}
'''


@pytest.fixture
def metric_experiment(tmp_path, results_tmp, monkeypatch):
    (tmp_path / "toy_metric_experiment.py").write_text(EXPERIMENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(results, "REGISTRY", {})
    import toy_metric_experiment

    yield results.declare("metric_toy", 1, {p: Cfg() for p in results.PRESETS}, toy_metric_experiment.sweep)
    sys.modules.pop("toy_metric_experiment", None)


def test_changing_a_metrics_definition_invalidates_what_depends_on_it(metric_experiment, monkeypatch):
    first = metric_experiment.run("smoke")
    assert "lsutils.metrics" in results.read_record(results.result_path("metric_toy", "smoke"))[0]["code"]
    assert metric_experiment.load("smoke").data == first.data          # unchanged code: current

    source = fingerprint.module_source("lsutils.metrics")
    changed = source + "\n\ndef ece(probs, labels, n_bins=15):   # a new definition\n    return 0.0\n"
    assert changed != source
    real = fingerprint.module_source
    monkeypatch.setattr(fingerprint, "module_source", lambda m: changed if m == "lsutils.metrics" else real(m))
    with pytest.raises(results.StaleResultError, match=r"other code.*lsutils\.metrics"):
        metric_experiment.load("smoke")
    with pytest.warns(UserWarning, match="other code"):
        again = metric_experiment.run("smoke")                     # recomputed, its runs too
    assert not again.cached
    runs = sorted((results.results_dir() / "metric_toy" / "smoke.runs").glob("*.json"))
    assert len(runs) == 3
    new_hash = fingerprint.source_hash(changed)
    assert all(results.read_record(p)[0]["code"]["lsutils.metrics"] == new_hash for p in runs)
    assert metric_experiment.load("smoke").data == again.data


def test_a_record_from_before_fingerprints_is_not_called_stale(metric_experiment):
    metric_experiment.run("smoke")
    path = results.result_path("metric_toy", "smoke")
    record, _ = results.read_record(path)
    record.pop("code")
    results._write_record(path, record, {})
    assert metric_experiment.load("smoke").cached


# ----------------------------------------------------------------------------- what a run reaches

RUN_MODULE = '''
from lsutils import metrics, report

HEADER = ("bin", "ECE")


def _one(i):
    return float(metrics.ece(__import__("numpy").full((2, 2), 0.5), [0, 1], 2)) + i


def sweep(cfg, memo):
    return {"runs": [_one(i) for i in range(cfg.n)]}


def table_rows(data):
    from lsutils import plot   # a figure helper: not what computed the numbers
    return [HEADER, *data["runs"], report.mean_std]
'''


@pytest.fixture
def run_module(tmp_path, monkeypatch):
    (tmp_path / "toy_run_module.py").write_text(RUN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    real = fingerprint.module_source
    sources = {}
    monkeypatch.setattr(fingerprint, "module_source", lambda m: sources.get(m) or real(m))
    return sources


def test_a_run_fingerprint_holds_what_the_run_reaches(run_module):
    fp = fingerprint.run_fingerprint("toy_run_module", "sweep")
    assert "toy_run_module:sweep" in fp and "lsutils.metrics" in fp
    assert not {"lsutils.report", "lsutils.plot", "toy_run_module"} & set(fp)
    # a table's header and a presentation function do not count; a helper the run calls does
    run_module["toy_run_module"] = RUN_MODULE.replace('("bin", "ECE")', '("bin", "error")').replace(
        "report.mean_std]", "report.interval]")
    assert fingerprint.run_fingerprint("toy_run_module", "sweep") == fp
    run_module["toy_run_module"] = RUN_MODULE.replace(") + i", ") + 2 * i")
    assert fingerprint.stale_modules(fp, "toy_run_module", "sweep") == ["toy_run_module:sweep"]
    # an entry that is no top-level function falls back to the whole module
    assert "toy_run_module" in fingerprint.run_fingerprint("toy_run_module", "nowhere")
    with pytest.raises(ValueError, match="entry"):
        fingerprint.run_fingerprint("toy_run_module", "")


def test_a_record_that_hashed_whole_modules_stays_current_until_what_the_run_uses_changes(run_module):
    stored = fingerprint.code_fingerprint("toy_run_module")      # the older rule: whole modules
    assert {"lsutils.report", "lsutils.plot", "toy_run_module"} <= set(stored)
    assert fingerprint.stale_modules(stored, "toy_run_module", "sweep") == []
    run_module["lsutils.report"] = fingerprint.module_source("lsutils.report") + "\nX = 1\n"
    assert fingerprint.stale_modules(stored, "toy_run_module", "sweep") == []   # not reached
    run_module["lsutils.metrics"] = fingerprint.module_source("lsutils.metrics") + "\nX = 1\n"
    assert fingerprint.stale_modules(stored, "toy_run_module", "sweep") == ["lsutils.metrics"]
    del run_module["lsutils.metrics"]
    # the older record hashed its own module whole: any change there still counts
    run_module["toy_run_module"] = RUN_MODULE.replace('("bin", "ECE")', '("bin", "error")')
    assert fingerprint.stale_modules(stored, "toy_run_module", "sweep") == ["toy_run_module"]


def test_every_stored_result_is_current_under_the_run_fingerprint():
    """The change of rule left every stored cpu result current (none was computed by other code)."""
    import lsutils.experiments  # noqa: F401  (registers the experiments)

    checked = 0
    for name, exp in results.REGISTRY.items():
        path = results.result_path(name, "cpu")
        if not path.exists():
            continue
        record, _ = results.read_record(path, arrays=False)
        assert results._code_changed(record, exp) == [], name
        checked += 1
    assert checked >= 10, checked


def test_restamp_rewrites_current_records_under_the_run_rule_and_leaves_stale_ones(metric_experiment,
                                                                                    monkeypatch):
    metric_experiment.run("smoke")
    path = results.result_path("metric_toy", "smoke")
    paths = [path, *sorted(path.with_suffix(".runs").glob("*.json"))]
    module = metric_experiment.fn.__module__
    for p in paths:                      # as the older rule stored them: whole modules
        record, _ = results.read_record(p)
        record["code"] = fingerprint.code_fingerprint(module)
        results._write_record(p, record, {})
    assert results.restamp("metric_toy", "smoke") == len(paths)
    assert all(results.read_record(p)[0]["code"] == fingerprint.run_fingerprint(module, "sweep")
               for p in paths)
    assert results.restamp("metric_toy", "smoke") == 0                 # already current
    assert metric_experiment.load("smoke").cached

    record, _ = results.read_record(path)                                # stale: left alone
    record["code"] = {**fingerprint.code_fingerprint(module), "lsutils.metrics": "0" * 16}
    results._write_record(path, record, {})
    assert results.restamp("metric_toy", "smoke") == 0
    with pytest.raises(results.StaleResultError, match="lsutils.metrics"):
        metric_experiment.load("smoke")
