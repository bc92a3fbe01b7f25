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
