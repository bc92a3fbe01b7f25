"""The paper's mutual-information estimate against a direct double loop, and its limits."""

import math

import numpy as np
import pytest
import torch

from lsutils.info import mutual_information, mutual_information_bias


def direct(f):
    """Müller et al. (2019), Sec. 4, written out term by term with Python loops."""
    n, copies = len(f), len(f[0])
    mu = [sum(row) / copies for row in f]
    var = sum((f[x][l] - mu[x]) ** 2 for x in range(n) for l in range(copies)) / (n * copies)
    total = 0.0
    for x in range(n):
        for l in range(copies):
            y = f[x][l]
            mix = sum(math.exp(-(y - mu[xp]) ** 2 / (2 * var)) for xp in range(n)) / n
            total += -(y - mu[x]) ** 2 / (2 * var) - math.log(mix)
    return total / (n * copies)


@pytest.mark.parametrize("shape,scale", [((7, 5), 1.0), ((12, 3), 0.2), ((3, 8), 5.0), ((30, 2), 2.0)])
def test_matches_the_formula_term_by_term(shape, scale):
    rng = np.random.default_rng(shape[0])
    means = scale * rng.normal(size=(shape[0], 1))
    f = means + rng.normal(size=shape)
    assert mutual_information(f) == pytest.approx(direct(f.tolist()), rel=1e-10, abs=1e-12)
    assert mutual_information(f, chunk=2) == pytest.approx(direct(f.tolist()), rel=1e-10, abs=1e-12)
    assert mutual_information(torch.from_numpy(f).float()) == pytest.approx(direct(f.tolist()), abs=1e-5)


def test_between_zero_and_log_n():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n, copies = rng.integers(2, 12), rng.integers(2, 6)
        f = rng.normal(size=(n, 1)) * rng.exponential(3.0) + rng.normal(size=(n, copies)) * rng.exponential(size=(n, 1))
        value = mutual_information(f)
        assert -1e-12 <= value <= math.log(n) + 1e-12


def test_affine_invariant():
    f = np.random.default_rng(1).normal(size=(20, 4))
    assert mutual_information(-3.0 * f + 7.0) == pytest.approx(mutual_information(f), rel=1e-12)


def test_well_separated_examples_give_log_n():
    rng = np.random.default_rng(2)
    n = 40
    f = 10.0 * np.arange(n)[:, None] + rng.normal(size=(n, 200))
    assert mutual_information(f) == pytest.approx(math.log(n), abs=1e-3)


def test_example_independent_values_give_zero_at_large_l():
    f = np.random.default_rng(3).normal(size=(50, 2000))
    assert 0 <= mutual_information(f) < 0.002


def test_two_tight_class_clusters_give_log_two():
    rng = np.random.default_rng(4)
    cls = np.repeat([-10.0, 10.0], 30)[:, None]            # 60 examples, two classes
    f = cls + rng.normal(size=(60, 1000))                    # within a class, examples are alike
    assert mutual_information(f) == pytest.approx(math.log(2), abs=2e-3)


def test_upward_bias_at_the_papers_five_copies():
    """f that ignores the example still reads ≈ ½·log(1 + 1/(L−1)) ≈ 0.11 nats at L = 5."""
    rng = np.random.default_rng(5)
    values = [mutual_information(rng.normal(size=(600, 5))) for _ in range(3)]
    assert mutual_information_bias(5) == pytest.approx(0.5 * math.log(1.25))
    assert np.mean(values) == pytest.approx(mutual_information_bias(5), abs=0.01)
    assert 0.08 < min(values) and max(values) < 0.15
    assert mutual_information(rng.normal(size=(600, 200))) == pytest.approx(mutual_information_bias(200), abs=0.002)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        mutual_information(np.zeros(5))
    with pytest.raises(ValueError, match="L ≥ 2"):
        mutual_information(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="variance"):
        mutual_information(np.repeat(np.arange(4.0)[:, None], 3, axis=1))
    with pytest.raises(ValueError, match="finite"):
        mutual_information(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="copies"):
        mutual_information_bias(1)
