"""lsutils.table against plain comprehensions over the same run dicts."""

import pytest

import lsutils.experiments  # noqa: F401  (declares the book's experiments)
from lsutils import results
from lsutils.table import Runs, pick

ROWS = [{"seed": s, "eps": e, "arch": a, "test": {"accuracy": 0.5 + s / 10 + e, "t1": {"ece": s * e}}}
        for a in ("mlp", "resnet8") for e in (0.0, 0.1) for s in (2, 0, 1)]


def test_pick_reads_dotted_keys_and_names_the_missing_one():
    assert pick(ROWS[4], "test.t1.ece") == ROWS[4]["test"]["t1"]["ece"]
    assert pick(ROWS[0], "test.t2.ece", None) is None
    with pytest.raises(KeyError, match="'t2'"):
        pick(ROWS[0], "test.t2.ece")
    with pytest.raises(ValueError, match="column"):
        pick(ROWS[0], "")


def test_where_column_and_mean_agree_with_comprehensions():
    runs = Runs(ROWS)
    sel = runs.where(arch="mlp", eps=0.1)
    assert sel.rows == [r for r in ROWS if r["arch"] == "mlp" and r["eps"] == 0.1]
    assert sel.column("test.accuracy") == [r["test"]["accuracy"] for r in sel.rows]
    assert sel.mean("test.accuracy", 100) == pytest.approx(
        100 * sum(r["test"]["accuracy"] for r in sel.rows) / 3)
    assert runs.where({"test.t1.ece": 0.0}).rows == [r for r in ROWS if r["test"]["t1"]["ece"] == 0.0]
    with pytest.raises(KeyError, match="no run has it"):
        runs.where(epss=0.1)
    assert len(Runs(ROWS + [{"seed": 9}]).where(eps=0.0)) == 6    # a row without the column
    assert runs.distinct("arch") == ["mlp", "resnet8"]
    assert runs.where(arch="x").mean("test.accuracy") != runs.where(arch="x").mean("test.accuracy")  # NaN


def test_paired_aligns_arms_on_the_key_in_sorted_order():
    runs = Runs(ROWS[:5])        # mlp: eps 0.0 seeds 2,0,1; eps 0.1 seeds 2,0 only
    a, b = runs.paired("test.accuracy", {"eps": 0.0}, {"eps": 0.1})
    by = {(r["eps"], r["seed"]): r["test"]["accuracy"] for r in ROWS[:5]}
    assert a == [by[0.0, 0], by[0.0, 2]] and b == [by[0.1, 0], by[0.1, 2]]


def test_one_and_by_refuse_ambiguity():
    runs = Runs(ROWS)
    assert runs.one(arch="mlp", eps=0.0, seed=1) is ROWS[2]
    with pytest.raises(LookupError, match="6 runs"):
        runs.one(eps=0.0)
    with pytest.raises(ValueError, match="repeats"):
        runs.by("seed")
    assert runs.where(arch="mlp", eps=0.0).by("seed") == {r["seed"]: r for r in ROWS[:3]}
    with pytest.raises(ValueError, match="mappings"):
        Runs([1, 2])


def test_a_result_gives_its_runs_and_declared_config():
    res = results.best("first_experiment")
    assert res.runs.rows == res.data["runs"]
    assert results.config_dict(results.get("first_experiment"), res.preset) == res.config
    assert res.spec is results.get("first_experiment").presets[res.preset]

