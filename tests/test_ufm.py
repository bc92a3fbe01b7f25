"""The UFM's closed form: a stationary point (autograd), the global minimum (L-BFGS from random
starts reaches no lower loss), and its margin, norms and probabilities read off a fit."""

import math

import pytest
import torch

from lsutils import theory, ufm

K, N, D = 4, 3, 5
LAM = (4e-3, 6e-3, 5e-3)   # λ_W, λ_H, λ_b


def test_simplex_etf_is_equiangular_and_centred():
    e = ufm.simplex_etf(5, 7)
    gram = e @ e.T
    assert torch.allclose(gram.diagonal(), torch.ones(5, dtype=torch.float64))
    off = gram[~torch.eye(5, dtype=bool)]
    assert torch.allclose(off, torch.full_like(off, -1 / 4))
    assert torch.allclose(e.sum(0), torch.zeros(7, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.4])
def test_closed_form_is_stationary(eps):
    w, h, b, y = ufm.minimiser(K, N, D, eps, *LAM[:2])
    for t in (w, h, b):
        t.requires_grad_()
    loss = ufm.objective(w, h, b, y, eps, *LAM)
    loss.backward()
    assert max(float(t.grad.abs().max()) for t in (w, h, b)) < 1e-12
    assert float(loss.detach()) == pytest.approx(ufm.closed_form(K, N, eps, *LAM[:2])["loss"], rel=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_random_starts_find_no_lower_minimum(eps):
    cf = ufm.closed_form(K, N, eps, *LAM[:2])
    fits = [ufm.fit(K, N, D, eps, *LAM, seed=s) for s in range(2)]
    assert min(f["loss"] for f in fits) == pytest.approx(cf["loss"], rel=1e-9)
    best = min(fits, key=lambda f: f["loss"])
    z = best["h"] @ best["w"].T + best["b"]
    p = z.softmax(1)
    true = p.gather(1, best["labels"][:, None]).squeeze(1)
    assert torch.allclose(true, torch.full_like(true, cf["p_true"]), atol=1e-6)
    assert torch.allclose(best["w"].pow(2).sum(1), torch.full((K,), cf["w_norm_sq"], dtype=torch.float64), rtol=1e-5)
    assert float(best["b"].abs().max()) < 1e-6


def test_vanishing_decay_gives_the_label_smoothing_optimum():
    """λ → 0: a → ε/K, the margin of theory.logit_gap (the optimum of smoothed CE alone)."""
    cf = ufm.closed_form(10, 100, 0.1, 1e-12, 1e-12)
    assert cf["margin"] == pytest.approx(theory.logit_gap(10, 0.1), rel=1e-4)


def test_hessian_has_only_the_rotation_zero_modes():
    out = ufm.hessian_condition(K, N, D, 0.1, *LAM)
    assert out["min_eigenvalue"] > -1e-10          # a minimum
    # rotations of R^D that move the (K − 1)-dim span: D(D−1)/2 − (D−K+1)(D−K)/2
    assert out["zero_modes"] == D * (D - 1) // 2 - (D - K + 1) * (D - K) // 2
    assert math.isfinite(out["condition"]) and out["condition"] >= 1


def test_trivial_regime_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="non-trivial"):
        ufm.closed_form(10, 100, 0.5, 1e-2, 1e-2)
    with pytest.raises(ValueError, match="eps"):
        ufm.closed_form(10, 100, 1.0, 1e-4, 1e-4)
    with pytest.raises(ValueError, match="lambda_w"):
        ufm.closed_form(10, 100, 0.1, 0.0, 1e-4)
    with pytest.raises(ValueError, match="dim"):
        ufm.simplex_etf(5, 3)
    with pytest.raises(ValueError, match="num_classes"):
        ufm.simplex_etf(1, 3)
