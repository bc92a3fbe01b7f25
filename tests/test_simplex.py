"""Simplex objectives: closed-form gradients against autograd, minimisers against closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from lsutils.losses import confidence_penalty_loss, soft_target_cross_entropy
from lsutils.simplex import (
    confidence_penalty_logit_grad,
    confidence_penalty_optimum,
    matched_beta,
    minimise_over_simplex,
    soft_confidence_penalty,
    squared_error,
    squared_error_logit_grad,
)
from lsutils.targets import smooth_targets
from lsutils.theory import max_confidence, optimal_probs


def _logits_and_target(seed, n=6, k=5):
    g = torch.Generator().manual_seed(seed)
    z = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64), -1)
    return z, q


@pytest.mark.parametrize("seed", range(4))
def test_squared_error_grad_matches_autograd(seed):
    z, q = _logits_and_target(seed)
    z.requires_grad_(True)
    squared_error(z, q, reduction="sum").backward()
    torch.testing.assert_close(squared_error_logit_grad(torch.softmax(z.detach(), -1), q), z.grad,
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed,beta", [(0, 0.0), (1, 0.3), (2, 1.7)])
def test_confidence_penalty_grad_matches_autograd(seed, beta):
    z, q = _logits_and_target(seed)
    z.requires_grad_(True)
    soft_confidence_penalty(z, q, beta, reduction="sum").backward()
    torch.testing.assert_close(confidence_penalty_logit_grad(torch.softmax(z.detach(), -1), q, beta), z.grad,
                               rtol=1e-12, atol=1e-14)


def test_soft_penalty_with_onehot_equals_confidence_penalty_loss():
    z, _ = _logits_and_target(3)
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    onehot = F.one_hot(y, 5).double()
    torch.testing.assert_close(soft_confidence_penalty(z, onehot, 0.4), confidence_penalty_loss(z, y, 0.4),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,eps", [(2, 0.1), (3, 0.2), (10, 0.1), (100, 0.3)])
def test_minimiser_of_smoothed_ce_and_squared_error_is_q(k, eps):
    q = smooth_targets(torch.tensor([0]), k, eps, dtype=torch.float64)
    for obj in (lambda z: soft_target_cross_entropy(z, q), lambda z: squared_error(z, q)):
        p = minimise_over_simplex(obj, k)
        torch.testing.assert_close(p, q[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("k,beta", [(2, 0.5), (3, 0.25), (10, 0.2), (10, 2.0)])
def test_confidence_penalty_optimum_matches_numeric(k, beta):
    a, b = confidence_penalty_optimum(k, beta)
    assert a + (k - 1) * b == pytest.approx(1.0, abs=1e-14)
    y = torch.tensor([0])
    p = minimise_over_simplex(lambda z: confidence_penalty_loss(z, y, beta), k)
    assert float(p[0]) == pytest.approx(a, abs=1e-7)
    assert torch.allclose(p[1:], torch.full((k - 1,), b, dtype=torch.float64), atol=1e-7)


@pytest.mark.parametrize("k,eps,convention", [(2, 0.1, "uniform"), (3, 0.3, "uniform"), (10, 0.1, "uniform"),
                                              (1000, 0.1, "uniform"), (5, 0.2, "others")])
def test_matched_beta_gives_the_smoothing_optimum(k, eps, convention):
    beta = matched_beta(k, eps, convention)
    a, b = confidence_penalty_optimum(k, beta)
    p_y, p_j = optimal_probs(k, eps, convention)
    assert a == pytest.approx(p_y, rel=1e-12) and b == pytest.approx(p_j, rel=1e-9)
    # the stationarity condition, independently: −1/a + β log(a/b) = 0
    assert -1 / p_y + beta * math.log(p_y / p_j) == pytest.approx(0.0, abs=1e-12)


def test_matched_beta_edges_and_errors():
    assert matched_beta(10, 0.0) == 0.0
    assert confidence_penalty_optimum(10, 0.0) == (1.0, 0.0)
    assert matched_beta(10, 0.1) == pytest.approx(1 / (0.91 * math.log(91)), rel=1e-14)
    with pytest.raises(ValueError):
        matched_beta(3, 0.7, "others")
    with pytest.raises(ValueError):
        confidence_penalty_optimum(3, -1.0)
    with pytest.raises(ValueError):
        squared_error(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        squared_error(torch.zeros(2, 3), torch.zeros(2, 3), reduction="avg")
    assert max_confidence(10, 0.1) == pytest.approx(0.91)
