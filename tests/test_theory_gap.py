"""Helpers of lsutils.experiments.theory_gap: per-example gaps, free-logit optimisation, gradient descent."""

import math

import numpy as np
import pytest
import torch

from lsutils import theory
from lsutils.experiments.theory_gap import (
    fit_free_logits,
    gd_free_logits,
    log_steps,
    per_example_gaps,
    whitening_map,
)
from lsutils.losses import smoothed_cross_entropy
from lsutils.targets import smooth_targets

# --- per_example_gaps ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 10, 37])
def test_per_example_gaps_against_a_loop(k):
    gen = torch.Generator().manual_seed(k)
    logits = 5 * torch.randn(64, k, generator=gen, dtype=torch.float64)
    logits[0, :] = 1.5  # all logits tied
    labels = torch.randint(0, k, (64,), generator=gen)
    gap_mean, gap_lme, gap_max = per_example_gaps(logits, labels)
    assert gap_mean.shape == gap_lme.shape == gap_max.shape == (64,)
    probs = logits.softmax(1)
    for i in range(64):
        y = int(labels[i])
        wrong = [float(logits[i, j]) for j in range(k) if j != y]
        zy = float(logits[i, y])
        assert float(gap_mean[i]) == pytest.approx(zy - sum(wrong) / len(wrong), abs=1e-12)
        assert float(gap_lme[i]) == pytest.approx(zy - math.log(sum(math.exp(w) for w in wrong) / len(wrong)),
                                                  abs=1e-12)
        assert float(gap_max[i]) == pytest.approx(zy - max(wrong), abs=1e-12)
        p_y = float(probs[i, y])  # the softmax gap is a function of the confidence on the true class
        assert float(gap_lme[i]) == pytest.approx(math.log((k - 1) * p_y / (1 - p_y)), abs=1e-9)
    assert bool((gap_mean >= gap_lme - 1e-12).all()) and bool((gap_lme >= gap_max - 1e-12).all())
    assert float(gap_mean[0]) == float(gap_lme[0]) == float(gap_max[0]) == 0.0


def test_per_example_gaps_margin_sign_is_correctness():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=gen)
    labels = torch.randint(0, 10, (500,), generator=gen)
    gap_max = per_example_gaps(logits, labels)[2]
    assert torch.equal(gap_max > 0, logits.argmax(1) == labels)


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("k,eps", [(2, 0.1), (10, 0.1), (100, 0.05)])
def test_per_example_gaps_at_the_optimum_equal_the_bound(k, eps, convention):
    labels = torch.arange(k) % k
    logits = smooth_targets(labels, k, eps, convention, dtype=torch.float64).log() + 3.0  # any shift
    bound = theory.logit_gap(k, eps, convention)
    for gap in per_example_gaps(logits, labels):
        assert torch.allclose(gap, torch.full_like(gap, bound), atol=1e-12)


def test_per_example_gaps_rejects_bad_input():
    with pytest.raises(ValueError, match="logits"):
        per_example_gaps(torch.zeros(3, 4, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels"):
        per_example_gaps(torch.zeros(3, 4), torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="shape"):
        per_example_gaps(torch.zeros(3, 4), torch.tensor([0, 1]))


def test_per_example_gaps_huge_logits_stay_finite():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    for gap in per_example_gaps(logits, torch.tensor([0, 0])):
        assert bool(torch.isfinite(gap).all())


# --- whitening_map -------------------------------------------------------------------------


def test_whitening_map_whitens_and_is_invertible():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen,
                                                                              dtype=torch.float64) + 3.0
    x[:, 5] = 0.5 * x[:, 4]  # a direction of zero variance: the ridge keeps the map invertible
    mean, m = whitening_map(x, ridge=1e-3)
    w = (x - mean) @ m
    assert torch.allclose(w.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-10)
    lam = torch.linalg.eigvalsh((x - mean).T @ (x - mean) / len(x)).clamp_min(0)
    expected = lam / (lam + 1e-3 * lam.mean())  # 1 where λ ≫ δ, 0 on the null direction
    assert torch.allclose(torch.linalg.eigvalsh(w.T @ w / len(w)), expected, atol=1e-8)
    assert float(expected[0]) < 1e-9 and float(expected[-1]) > 0.999
    assert torch.linalg.matrix_rank(m) == 6
    # The same logit functions: W on x equals W' = W m^{-T} on the whitened inputs, b' = b + W mean.
    wt = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    w_prime = wt @ torch.linalg.inv(m).T
    assert torch.allclose(x @ wt.T + b, w @ w_prime.T + (b + wt @ mean), atol=1e-8)


def test_whitening_map_rejects_bad_input():
    with pytest.raises(ValueError, match="x must"):
        whitening_map(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="ridge"):
        whitening_map(torch.zeros(5, 3), ridge=0.0)


# --- fit_free_logits -----------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("k,eps", [(2, 0.2), (10, 0.1), (10, 0.01), (1000, 0.01)])
def test_free_logits_reach_the_closed_form(k, eps, convention):
    out = fit_free_logits(k, eps, convention, starts=3, seed=1)
    q_y, q_j = theory.optimal_probs(k, eps, convention)
    assert out["gaps"].shape == (3, k - 1)
    assert np.abs(out["gaps"] - theory.logit_gap(k, eps, convention)).max() < 1e-4
    assert np.abs(out["probs"][:, 0] - q_y).max() < 1e-7
    assert np.abs(out["probs"][:, 1:] - q_j).max() < 1e-7
    assert np.abs(out["loss"] - theory.loss_floor(k, eps, convention)).max() < 1e-10


def test_free_logits_k10_eps01_hand_values():
    out = fit_free_logits(10, 0.1, starts=2)
    assert np.abs(out["gaps"] - math.log(91)).max() < 1e-5
    assert np.abs(out["probs"][:, 0] - 0.91).max() < 1e-8


def test_free_logits_hard_labels_stop_where_the_tolerance_says():
    # With ε = 0 the gradient on a wrong logit is p_j: L-BFGS stops once every p_j is below the
    # tolerance, so the gap it reports is at least about −log(tolerance), a property of the stopping
    # rule; the loss there is still positive (no finite minimiser).
    for tol in (1e-4, 1e-8):
        out = fit_free_logits(10, 0.0, starts=3, tolerance_grad=tol)
        assert np.all(out["grad_max"] <= tol)
        assert np.all(np.isfinite(out["gaps"])) and np.all(out["loss"] > 0)
        assert out["gaps"].min() >= -math.log(tol) - 1e-6


# --- gd_free_logits ------------------------------------------------------------------------


def test_gd_matches_autograd_gradient_descent():
    k, lr, steps = 5, 0.7, 40
    eps_values = [0.0, 0.1, 0.3]
    out = gd_free_logits(k, eps_values, lr=lr, steps=steps, record=[0, 1, 7, steps])
    for row, eps in enumerate(eps_values):
        z = torch.zeros(1, k, dtype=torch.float64, requires_grad=True)
        for t in range(steps + 1):
            if t in (0, 1, 7, steps):
                col = [0, 1, 7, steps].index(t)
                assert out["gap"][row, col] == pytest.approx(float((z[0, 0] - z[0, 1:].mean()).detach()), abs=1e-12)
                loss = smoothed_cross_entropy(z, torch.zeros(1, dtype=torch.int64), eps)
                assert out["loss"][row, col] == pytest.approx(float(loss.detach()), abs=1e-12)
            loss = smoothed_cross_entropy(z, torch.zeros(1, dtype=torch.int64), eps, reduction="sum")
            (g,) = torch.autograd.grad(loss, z)
            with torch.no_grad():
                z -= lr * g


def test_gd_hard_labels_follow_the_recursion_and_grow_like_log_t():
    k, lr, steps = 10, 1.0, 20_000
    out = gd_free_logits(k, [0.0], lr=lr, steps=steps, record=list(range(0, 101)) + [steps])
    g = out["gap"][0]
    # From z = 0 the wrong logits stay equal and g_{t+1} = g_t + lr·K/(e^{g_t} + K − 1).
    for t in range(100):
        assert g[t + 1] == pytest.approx(g[t] + lr * k / (math.exp(g[t]) + k - 1), abs=1e-12)
    assert np.all(np.diff(g) > 0)
    assert g[-1] == pytest.approx(math.log(lr * k * steps), abs=0.01)


def test_gd_smoothed_settles_at_the_bound():
    out = gd_free_logits(10, [0.1, 0.3], lr=1.0, steps=20_000, record=[20_000])
    assert out["gap"][0, -1] == pytest.approx(theory.logit_gap(10, 0.1), abs=1e-6)
    assert out["gap"][1, -1] == pytest.approx(theory.logit_gap(10, 0.3), abs=1e-6)
    assert out["loss"][0, -1] == pytest.approx(theory.loss_floor(10, 0.1), abs=1e-10)


def test_log_steps():
    s = log_steps(250, 25)
    assert s[0] == 0 and s[-1] == 250 and s == sorted(set(s)) and 15 <= len(s) <= 25
    assert log_steps(0, 5) == [0]
    with pytest.raises(ValueError):
        log_steps(10, 1)
