"""Closed forms against sympy, high-precision arithmetic and gradient descent on free logits."""

import math

import pytest
import sympy as sp
import torch

from lsutils.losses import smoothed_cross_entropy
from lsutils.targets import smooth_targets
from lsutils.theory import (
    convert_eps,
    logit_gap,
    loss_floor,
    max_confidence,
    optimal_probs,
    optimal_ratio,
    unsmooth,
)

FUNCS = [optimal_probs, optimal_ratio, logit_gap, loss_floor, max_confidence]
E, K = sp.symbols("epsilon K", positive=True)


def sym_targets(k, eps, convention):
    if convention == "uniform":
        return 1 - eps + eps / k, eps / k
    return 1 - eps, eps / (k - 1)


# --- hand-checkable values --------------------------------------------------------------


def test_hand_values_k10_eps01():
    p_y, p_j = optimal_probs(10, 0.1)
    assert p_y == pytest.approx(0.91, abs=1e-15) and p_j == pytest.approx(0.01, abs=1e-15)
    assert optimal_ratio(10, 0.1) == pytest.approx(91.0, rel=1e-14)
    assert logit_gap(10, 0.1) == pytest.approx(math.log(91), rel=1e-14)
    assert logit_gap(10, 0.1) == pytest.approx(4.5109, abs=5e-5)
    floor = -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01))
    assert loss_floor(10, 0.1) == pytest.approx(floor, rel=1e-14)
    assert loss_floor(10, 0.1) == pytest.approx(0.500288, abs=1e-6)
    assert max_confidence(10, 0.1) == pytest.approx(0.91, abs=1e-15)


def test_hand_values_others_k10_eps01():
    assert optimal_probs(10, 0.1, "others") == pytest.approx((0.9, 0.1 / 9), abs=1e-15)
    assert optimal_ratio(10, 0.1, "others") == pytest.approx(81.0, rel=1e-14)
    assert logit_gap(10, 0.1, "others") == pytest.approx(math.log(81), rel=1e-14)
    assert max_confidence(10, 0.1, "others") == pytest.approx(0.9, abs=1e-15)


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_eps_zero_is_hard_limit(convention):
    assert optimal_probs(10, 0.0, convention) == (1.0, 0.0)
    assert optimal_ratio(10, 0.0, convention) == math.inf
    assert logit_gap(10, 0.0, convention) == math.inf
    assert loss_floor(10, 0.0, convention) == 0.0
    assert max_confidence(10, 0.0, convention) == 1.0


# --- sympy ----------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_lagrangian_minimiser_is_q_for_k3(convention):
    p = sp.symbols("p0:3", positive=True)
    lam = sp.Symbol("lambda")
    q_y, q_j = sym_targets(3, E, convention)
    q = (q_y, q_j, q_j)
    lagrangian = -sum(qk * sp.log(pk) for qk, pk in zip(q, p)) + lam * (sum(p) - 1)
    sols = sp.solve([sp.diff(lagrangian, v) for v in (*p, lam)], [*p, lam], dict=True)
    assert len(sols) == 1
    sol = sols[0]
    assert all(sp.simplify(sol[pk] - qk) == 0 for pk, qk in zip(p, q))
    # The loss is convex in p: its Hessian diag(q_k / p_k²) is positive definite.
    hess = sp.hessian(-sum(qk * sp.log(pk) for qk, pk in zip(q, p)), p)
    assert hess.is_diagonal() and all(sp.simplify(hess[i, i] - q[i] / p[i] ** 2) == 0 for i in range(3))
    for eps in (0.05, 0.1, 0.4, 0.9):
        expected = (float(sol[p[0]].subs(E, eps)), float(sol[p[1]].subs(E, eps)))
        assert optimal_probs(3, eps, convention) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    "convention,closed_form",
    [("uniform", 1 + K * (1 - E) / E), ("others", (1 - E) * (K - 1) / E)],
)
def test_ratio_and_gap_vs_sympy(convention, closed_form):
    q_y, q_j = sym_targets(K, E, convention)
    ratio = sp.simplify(q_y / q_j)
    assert sp.simplify(ratio - closed_form) == 0
    for k in (2, 3, 10, 1000):
        for eps in (1e-6, 0.01, 0.1, 0.5, 0.99):
            subs = {K: k, E: sp.Rational(eps)}  # exact value of the float ε
            assert optimal_ratio(k, eps, convention) == pytest.approx(float(ratio.subs(subs)), rel=1e-13)
            assert logit_gap(k, eps, convention) == pytest.approx(
                float(sp.log(ratio.subs(subs)).evalf(30)), rel=1e-13, abs=1e-15
            )


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("k", [2, 10, 1000])
@pytest.mark.parametrize("eps", [1e-15, 1e-8, 0.1, 0.5, 1 - 1e-12])
def test_extreme_eps_vs_high_precision(convention, k, eps):
    if convention == "others" and eps > 0.5:
        eps = 0.4  # 1 − 1e-12 is beyond (K−1)/K; covered in test_others_beyond_uniform
    q_y, q_j = sym_targets(k, sp.Rational(eps), convention)
    floor = -(q_y * sp.log(q_y) + (k - 1) * q_j * sp.log(q_j))
    # abs=0: pytest.approx would otherwise accept anything within 1e-12 of a 1e-14 floor.
    assert loss_floor(k, eps, convention) == pytest.approx(float(floor.evalf(40)), rel=1e-12, abs=0)
    assert logit_gap(k, eps, convention) == pytest.approx(float(sp.log(q_y / q_j).evalf(40)), rel=1e-12, abs=0)


# --- the optimum, numerically ----------------------------------------------------------


@pytest.fixture
def single_thread():
    # Hundreds of tiny backward passes: with intra-op threads on a busy machine each step
    # waits on the thread pool (50x slower observed on 2 shared cores).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)



@pytest.mark.parametrize(
    "k,eps,convention",
    [(3, 0.1, "uniform"), (10, 0.1, "uniform"), (10, 0.3, "others"), (5, 0.5, "uniform"), (3, 0.8, "others")],
)
def test_gradient_descent_reaches_optimum(k, eps, convention, single_thread):
    # 8 random starts as 8 rows of one batch; "sum" gives each row its own gradient p − q.
    g = torch.Generator().manual_seed(k)
    z = (3 * torch.randn(8, k, generator=g, dtype=torch.float64)).requires_grad_(True)
    labels = torch.randint(0, k, (8,), generator=g)
    opt = torch.optim.SGD([z], lr=2.0)
    for _ in range(800):
        opt.zero_grad()
        smoothed_cross_entropy(z, labels, eps, convention, "sum").backward()
        opt.step()
    z = z.detach()
    z_y = z.gather(1, labels[:, None])
    others = torch.ones_like(z, dtype=torch.bool).scatter_(1, labels[:, None], False)
    gaps = (z_y - z)[others]
    ratios = gaps.exp()
    assert ratios.sub(optimal_ratio(k, eps, convention)).abs().max() / optimal_ratio(k, eps, convention) < 1e-4
    assert gaps.sub(logit_gap(k, eps, convention)).abs().max() < 1e-4
    p_y = torch.softmax(z, 1).gather(1, labels[:, None])
    assert p_y.sub(max_confidence(k, eps, convention)).abs().max() < 1e-5
    loss = smoothed_cross_entropy(z, labels, eps, convention).item()
    assert loss == pytest.approx(loss_floor(k, eps, convention), rel=1e-8)


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("k,eps", [(3, 0.2), (10, 0.1), (100, 0.5)])
def test_gibbs_floor_at_q_below_random_p(convention, k, eps):
    labels = torch.arange(k)
    q = smooth_targets(labels, k, eps, convention, dtype=torch.float64)
    at_q = smoothed_cross_entropy(q.log(), labels, eps, convention, "none")
    torch.testing.assert_close(at_q, torch.full((k,), loss_floor(k, eps, convention), dtype=torch.float64))
    # loss(p) − H(q) = KL(q‖p) > 0 for p ≠ q.
    p = torch.distributions.Dirichlet(torch.ones(k, dtype=torch.float64)).sample((k,))
    at_p = smoothed_cross_entropy(p.log(), labels, eps, convention, "none")
    kl = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=q), torch.distributions.Categorical(probs=p))
    torch.testing.assert_close(at_p - at_q, kl)
    assert (at_p > at_q).all()


def test_others_beyond_uniform_point():
    # K = 3, ε = 0.8 > (K−1)/K: q = (0.2, 0.4, 0.4), the true class is no longer the largest.
    assert optimal_probs(3, 0.8, "others") == pytest.approx((0.2, 0.4), rel=1e-14)
    assert optimal_ratio(3, 0.8, "others") == pytest.approx(0.5, rel=1e-14)
    assert logit_gap(3, 0.8, "others") == pytest.approx(math.log(0.5), rel=1e-14)
    assert max_confidence(3, 0.8, "others") < optimal_probs(3, 0.8, "others")[1]
    assert loss_floor(3, 0.8, "others") == pytest.approx(-(0.2 * math.log(0.2) + 0.8 * math.log(0.4)), rel=1e-14)
    # At ε = (K−1)/K the target is uniform.
    assert optimal_ratio(3, 2 / 3, "others") == pytest.approx(1.0)
    assert loss_floor(3, 2 / 3, "others") == pytest.approx(math.log(3))
    with pytest.raises(ValueError, match="eps"):
        convert_eps(0.8, 3, "others", "uniform")


# --- convert_eps and unsmooth ---------------------------------------------------------


def test_convert_eps_values_and_round_trip():
    assert convert_eps(0.1, 10, "uniform", "others") == pytest.approx(0.09, rel=1e-15)
    assert convert_eps(0.09, 10, "others", "uniform") == pytest.approx(0.1, rel=1e-15)
    assert convert_eps(0.3, 2, "others", "uniform") == pytest.approx(0.6, rel=1e-15)
    assert convert_eps(0.3, 5, "others", "others") == 0.3
    for k in (2, 7, 1000):
        for eps in (0.0, 0.2, 0.99):
            back = convert_eps(convert_eps(eps, k, "uniform", "others"), k, "others", "uniform")
            assert back == pytest.approx(eps, rel=1e-14, abs=0)
            for conv in ("uniform", "others"):
                other = "others" if conv == "uniform" else "uniform"
                if conv == "others" and eps >= (k - 1) / k:
                    continue
                e2 = convert_eps(eps, k, conv, other)
                assert optimal_probs(k, e2, other) == pytest.approx(optimal_probs(k, eps, conv), rel=1e-13)
                assert loss_floor(k, e2, other) == pytest.approx(loss_floor(k, eps, conv), rel=1e-13)


def test_convert_eps_rejects_results_outside_range():
    with pytest.raises(ValueError, match=r"eps.*\[0, 1\)"):
        convert_eps(0.5, 2, "others", "uniform")  # would be 1.0
    with pytest.raises(ValueError, match=r"eps.*\[0, 1\)"):
        convert_eps(0.95, 10, "others", "uniform")
    with pytest.raises(ValueError, match="target must be one of"):
        convert_eps(0.1, 10, "uniform", "Others")
    with pytest.raises(ValueError, match="source must be one of"):
        convert_eps(0.1, 10, "Uniform", "others")
    with pytest.raises(ValueError, match="num_classes"):
        convert_eps(0.1, 1, "uniform", "others")


def test_unsmooth_undoes_smoothing_at_optimum():
    labels = torch.tensor([0, 3, 9, 3])
    q = smooth_targets(labels, 10, 0.2, dtype=torch.float64)
    onehot = torch.nn.functional.one_hot(labels, 10).double()
    torch.testing.assert_close(unsmooth(q, 10, 0.2), onehot, rtol=0, atol=1e-15)
    torch.testing.assert_close(unsmooth(q, 10, 0.2, clip=True), onehot, rtol=0, atol=1e-15)
    p_y, p_j = optimal_probs(10, 0.2)
    row = torch.tensor([p_y] + [p_j] * 9, dtype=torch.float64)
    assert unsmooth(row, 10, 0.2).tolist() == pytest.approx([1.0] + [0.0] * 9, abs=1e-15)


def test_unsmooth_off_optimum_leaves_simplex_and_clip_fixes_it():
    # K = 4, ε = 0.2: ε/K = 0.05, 1 − ε = 0.8; hand-computed (p − 0.05)/0.8.
    p = torch.tensor([[0.7, 0.25, 0.04, 0.01]], dtype=torch.float64)
    raw = unsmooth(p, 4, 0.2)
    torch.testing.assert_close(raw, torch.tensor([[0.8125, 0.25, -0.0125, -0.05]], dtype=torch.float64))
    assert raw.sum().item() == pytest.approx(1.0)
    clipped = unsmooth(p, 4, 0.2, clip=True)
    torch.testing.assert_close(clipped, torch.tensor([[0.8125, 0.25, 0, 0]], dtype=torch.float64) / 1.0625)
    assert unsmooth(p, 4, 0.0) is not p and torch.equal(unsmooth(p, 4, 0.0), p)


def test_unsmooth_validation():
    p = torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="probs.*num_classes"):
        unsmooth(p, 5, 0.1)
    with pytest.raises(ValueError, match="probs"):
        unsmooth(torch.tensor([1, 0, 0, 0]), 4, 0.1)
    for eps in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError, match="eps"):
            unsmooth(p, 4, eps)
    with pytest.raises(ValueError, match="num_classes"):
        unsmooth(torch.ones(2, 1), 1, 0.1)


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize("fn", FUNCS)
def test_validation(fn):
    for eps in (-0.1, 1.0, 1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"eps.*\[0, 1\)"):
            fn(10, eps)
    for k in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="num_classes.*>= 2"):
            fn(k, 0.1)
    with pytest.raises(ValueError, match="convention"):
        fn(10, 0.1, "smooth")
    assert isinstance(fn(10, 0.1) if fn is not optimal_probs else fn(10, 0.1)[0], float)
