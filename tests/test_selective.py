"""Selective-classification metrics against brute force: sorting by hand, averaging over every
order of tied scores, the trapezoid rule written out, and closed forms."""

import itertools
import math

import numpy as np
import pytest

from lsutils import selective


def brute_risk(scores, correct):
    """Expected risk at each coverage over every order of the predictions that sorts the scores
    descending (ties in every possible order)."""
    n = len(scores)
    curves = []
    for perm in itertools.permutations(range(n)):
        if all(scores[perm[i]] >= scores[perm[i + 1]] for i in range(n - 1)):
            errs = 0
            curve = []
            for i, j in enumerate(perm, 1):
                errs += not correct[j]
                curve.append(errs / i)
            curves.append(curve)
    return np.mean(curves, axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_risk_coverage_equals_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, size=7).astype(float)        # many ties
    correct = rng.random(7) < 0.6
    cov, risk = selective.risk_coverage(scores, correct)
    assert np.allclose(cov, np.arange(1, 8) / 7)
    assert np.allclose(risk, brute_risk(scores, correct), atol=1e-12)


def test_aurc_is_the_trapezoid_written_out():
    rng = np.random.default_rng(1)
    scores, correct = rng.random(50), rng.random(50) < 0.7
    cov, risk = selective.risk_coverage(scores, correct)
    by_hand = sum((cov[i + 1] - cov[i]) * (risk[i] + risk[i + 1]) / 2 for i in range(len(cov) - 1))
    assert selective.aurc(scores, correct) == pytest.approx(by_hand, rel=1e-12)


def test_perfect_and_worst_rankings_and_the_optimum():
    n, r = 1000, 0.2
    correct = np.arange(n) >= int(r * n)          # the first 200 are wrong
    perfect = np.arange(n, dtype=float)           # wrong ones get the lowest scores
    area = selective.aurc(perfect, correct)
    assert area == pytest.approx(selective.optimal_aurc(r), abs=2e-3)   # continuous limit
    assert selective.e_aurc(perfect, correct) == pytest.approx(0.0, abs=2e-3)
    worst = selective.aurc(-perfect, correct)
    assert worst > area
    # a constant score: every order equally likely, risk = r at every coverage
    assert selective.aurc(np.zeros(n), correct) == pytest.approx(r * (1 - 1 / n), rel=1e-9)
    assert selective.optimal_aurc(0.0) == 0.0 and selective.optimal_aurc(1.0) == 1.0


def test_risk_at_coverage_reads_the_curve():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, False, True, True, False])
    assert selective.risk_at_coverage(scores, correct, 0.2) == 0.0
    assert selective.risk_at_coverage(scores, correct, 0.4) == 0.5
    assert selective.risk_at_coverage(scores, correct, 0.5) == pytest.approx(1 / 3)   # ⌈2.5⌉ = 3
    assert selective.risk_at_coverage(scores, correct, 1.0) == pytest.approx(2 / 5)


def test_scores_against_direct_formulas():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(20, 6)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert np.allclose(selective.max_softmax(z), p.max(1), rtol=1e-12)
    for pn in (1, 2, 7.5, math.inf):
        direct = z.max(1) / (np.abs(z) ** pn).sum(1) ** (1 / pn) if pn != math.inf else z.max(1) / np.abs(z).max(1)
        assert np.allclose(selective.max_logit_pnorm(z, pn), direct, rtol=1e-12)
    zc = z - z.mean(1, keepdims=True)
    assert np.allclose(selective.max_logit_pnorm(z, 2, centre=True), zc.max(1) / np.linalg.norm(zc, axis=1))


def test_choose_p_minimises_aurc_on_the_grid():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 5)) * rng.uniform(0.5, 4, size=(300, 1))
    correct = rng.random(300) < 0.8
    p = selective.choose_p(z, correct, ps=(1, 2, 4, 8))
    areas = {q: selective.aurc(selective.max_logit_pnorm(z, q), correct) for q in (1, 2, 4, 8)}
    assert areas[p] == min(areas.values())


@pytest.mark.parametrize("call, name", [
    (lambda: selective.risk_coverage([], []), "scores"),
    (lambda: selective.risk_coverage([1.0, 2.0], [True]), "correct"),
    (lambda: selective.risk_coverage([1.0, math.nan], [True, False]), "scores"),
    (lambda: selective.risk_at_coverage([1.0], [True], 0.0), "coverage"),
    (lambda: selective.optimal_aurc(1.5), "error_rate"),
    (lambda: selective.max_logit_pnorm(np.ones((2, 3)), 0.5), "p"),
    (lambda: selective.max_logit_pnorm(np.ones((2, 3)), 2, centre=True), "norm 0"),
    (lambda: selective.max_softmax(np.ones(3)), "logits"),
    (lambda: selective.choose_p(np.ones((2, 3)), [True, False], ps=()), "ps"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
