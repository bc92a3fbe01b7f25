import numpy as np
import pytest

from lsutils.report import mean_std, summarise


def test_summarise_matches_numpy():
    xs = np.random.default_rng(0).normal(size=7)
    s = summarise(xs)
    assert s["mean"] == pytest.approx(xs.mean())
    assert s["std"] == pytest.approx(xs.std(ddof=1))
    assert (s["min"], s["max"], s["n"]) == (xs.min(), xs.max(), 7)


def test_single_value_and_empty():
    assert summarise([3.0])["std"] == 0.0
    with pytest.raises(ValueError, match="values"):
        summarise([])


def test_mean_std_format():
    assert mean_std([0.9, 0.92], digits=1, scale=100) == "91.0 ± 1.4"


def test_md_table_layout_and_length_check():
    from lsutils.report import md_table

    assert md_table(["a", "b"], [[1, "x|y"], (2.5, None)]).splitlines() == [
        "| a | b |", "|---|---|", "| 1 | x\\|y |", "| 2.5 | None |"]
    with pytest.raises(ValueError, match=r"rows\[0\] has 1 cells"):
        md_table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="header"):
        md_table([], [])


def test_provenance_rows_keep_the_dirty_flag(results_tmp, monkeypatch):
    from dataclasses import dataclass

    from lsutils import results

    @dataclass(frozen=True)
    class C:
        n: int = 1

    monkeypatch.setattr(results, "_load_registry", lambda: None)
    monkeypatch.setattr(results, "REGISTRY", {})
    monkeypatch.setattr(results, "git_commit", lambda: "abcdef0123456789+dirty")
    results.experiment("p", 1, {"smoke": C(), "cpu": C(), "gpu": C()})(lambda cfg, memo: {"x": 1})
    results.run("p", "cpu")
    rows = {r["preset"]: r for r in results.provenance_rows()}
    assert rows["cpu"]["commit"] == "abcdef012345+dirty" and rows["cpu"]["state"] == "ok"
    assert rows["gpu"]["state"] == "missing" and rows["gpu"]["commit"] == ""
