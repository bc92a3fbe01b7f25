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
