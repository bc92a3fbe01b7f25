"""Losses against PyTorch's own cross-entropy, KL divergence, entropy and autograd."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from lsutils.losses import confidence_penalty_loss, smoothed_cross_entropy, soft_target_cross_entropy


def batch(n, k, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=g, dtype=dtype), torch.randint(0, k, (n,), generator=g)


def others_targets(labels, k, eps):
    """Reference "others" targets, built from one_hot rather than smooth_targets."""
    onehot = F.one_hot(labels, k).double()
    return (1 - eps) * onehot + eps / (k - 1) * (1 - onehot)


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_uniform_matches_torch_label_smoothing(k, eps, reduction):
    logits, labels = batch(8, k, seed=k)
    ours = smoothed_cross_entropy(logits, labels, eps, reduction=reduction)
    ref = F.cross_entropy(logits, labels, label_smoothing=eps, reduction=reduction)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
@pytest.mark.parametrize("eps", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_others_matches_soft_target_torch(k, eps, reduction):
    logits, labels = batch(8, k, seed=k + 1)
    ours = smoothed_cross_entropy(logits, labels, eps, "others", reduction)
    ref = F.cross_entropy(logits, others_targets(labels, k, eps), reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # Same ε, different convention: not PyTorch's label_smoothing ...
    plain = F.cross_entropy(logits, labels, label_smoothing=eps, reduction=reduction)
    assert not torch.allclose(ours, plain, rtol=1e-6, atol=0)
    # ... unless ε is converted: ε_uniform = ε_others·K/(K−1), when that is < 1.
    if eps * k / (k - 1) < 1:
        conv = F.cross_entropy(logits, labels, label_smoothing=eps * k / (k - 1), reduction=reduction)
        torch.testing.assert_close(ours, conv, rtol=1e-12, atol=1e-12)


def test_float32_matches_torch():
    logits, labels = batch(64, 10, dtype=torch.float32)
    torch.testing.assert_close(
        smoothed_cross_entropy(logits, labels, 0.1), F.cross_entropy(logits, labels, label_smoothing=0.1)
    )


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_huge_logits_finite_and_exact(convention):
    logits, labels = batch(16, 1000, seed=3, scale=1.0, dtype=torch.float32)
    logits = 1e4 * logits.sign()  # magnitudes of exactly 1e4; exp overflows float32
    loss = smoothed_cross_entropy(logits, labels, 0.1, convention, "none")
    assert torch.isfinite(loss).all()
    # Float64 reference through logsumexp: q·(lse − z) summed.
    z = logits.double()
    q = others_targets(labels, 1000, 0.1) if convention == "others" else 0.9 * F.one_hot(labels, 1000).double() + 1e-4
    ref = (q * (torch.logsumexp(z, 1, keepdim=True) - z)).sum(1)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-6, atol=0)
    # The naive formula overflows here, so the test would catch a softmax-then-log rewrite.
    naive = -(q.float() * torch.log(torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True))).sum(1)
    assert not torch.isfinite(naive).all()


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("reduction,scale", [("mean", 1 / 6), ("sum", 1.0)])
def test_gradient_is_p_minus_q(convention, reduction, scale):
    logits, labels = batch(6, 5, seed=7)
    logits.requires_grad_(True)
    smoothed_cross_entropy(logits, labels, 0.2, convention, reduction).backward()
    p = torch.softmax(logits.detach(), 1)
    if convention == "others":
        q = others_targets(labels, 5, 0.2)
    else:
        q = 0.8 * F.one_hot(labels, 5).double() + 0.2 / 5
    torch.testing.assert_close(logits.grad, (p - q) * scale, rtol=1e-12, atol=1e-14)


def test_eps_zero_tolerates_masked_logits():
    logits, labels = batch(4, 6, seed=2)
    logits[:, 5] = -math.inf
    labels[labels == 5] = 0
    loss = smoothed_cross_entropy(logits, labels, 0.0)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))


def test_negative_smoothing_when_asked():
    logits, labels = batch(5, 4, seed=4)
    eps = -0.2
    q = (1 - eps) * F.one_hot(labels, 4).double() + eps / 4
    ref = -(q * F.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(smoothed_cross_entropy(logits, labels, eps, allow_negative=True), ref)
    with pytest.raises(ValueError, match="eps"):
        smoothed_cross_entropy(logits, labels, eps)
    # PyTorch 2.x silently treats label_smoothing <= 0 as 0 (no error), so it is no
    # reference for negative smoothing.
    torch.testing.assert_close(F.cross_entropy(logits, labels, label_smoothing=eps), F.cross_entropy(logits, labels))
    assert not torch.allclose(ref, F.cross_entropy(logits, labels))


# --- soft targets and the confidence penalty --------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_target_matches_torch(reduction):
    logits, _ = batch(7, 12, seed=5)
    q = torch.distributions.Dirichlet(torch.full((12,), 0.3, dtype=torch.float64)).sample((7,))
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, q, reduction), F.cross_entropy(logits, q, reduction=reduction)
    )


def test_soft_target_with_smoothed_targets_equals_smoothed_ce():
    logits, labels = batch(9, 10, seed=6)
    q = others_targets(labels, 10, 0.3)
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, q), smoothed_cross_entropy(logits, labels, 0.3, "others")
    )


@pytest.mark.parametrize("beta", [0.0, 0.1, 2.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_confidence_penalty_matches_torch_entropy(beta, reduction):
    logits, labels = batch(8, 10, seed=8)
    ref = F.cross_entropy(logits, labels, reduction="none") - beta * Categorical(logits=logits).entropy()
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    torch.testing.assert_close(confidence_penalty_loss(logits, labels, beta, reduction), ref)


def test_penalty_is_kl_p_u_and_smoothing_is_kl_u_p():
    k, beta, eps = 10, 0.3, 0.2
    logits, labels = batch(8, k, seed=9)
    logp = F.log_softmax(logits, 1)
    log_u = torch.full_like(logp, -math.log(k))
    ce = F.cross_entropy(logits, labels, reduction="none")
    # F.kl_div(input=log a, target=log b, log_target=True) = KL(b‖a), per element.
    kl_p_u = F.kl_div(log_u, logp, log_target=True, reduction="none").sum(1)
    kl_u_p = F.kl_div(logp, log_u, log_target=True, reduction="none").sum(1)
    torch.testing.assert_close(
        confidence_penalty_loss(logits, labels, beta, "none"), ce + beta * (kl_p_u - math.log(k))
    )
    torch.testing.assert_close(
        smoothed_cross_entropy(logits, labels, eps, reduction="none"),
        (1 - eps) * ce + eps * (kl_u_p + math.log(k)),
    )


# --- validation --------------------------------------------------------------------------


def test_shape_and_type_validation():
    logits, labels = batch(4, 5)
    cases = [
        (lambda: smoothed_cross_entropy(logits[0], labels, 0.1), "logits.*2-D"),
        (lambda: smoothed_cross_entropy(logits[None], labels, 0.1), "logits.*2-D"),
        (lambda: smoothed_cross_entropy(logits.long(), labels, 0.1), "logits.*floating"),
        (lambda: smoothed_cross_entropy(logits[:, :1], labels.clamp(max=0), 0.1), "num_classes"),
        (lambda: smoothed_cross_entropy(logits, labels[:3], 0.1), r"labels.*\(4,\)"),
        (lambda: smoothed_cross_entropy(logits, labels.double(), 0.1), "labels.*integer"),
        (lambda: smoothed_cross_entropy(logits, labels[:, None], 0.1), "labels.*1-D"),
        (lambda: smoothed_cross_entropy(logits, torch.tensor([0, 1, 2, 5]), 0.1), r"labels.*\[0, 5\)"),
        (lambda: smoothed_cross_entropy(logits, torch.tensor([0, -1, 2, 3]), 0.1), r"labels.*\[0, 5\)"),
        (lambda: smoothed_cross_entropy(logits, labels, 0.1, reduction="avg"), "reduction"),
        (lambda: smoothed_cross_entropy(logits, labels, 0.1, "foo"), "convention"),
        (lambda: soft_target_cross_entropy(logits, torch.full((4, 4), 0.25, dtype=torch.float64)), "target_probs.*shape"),
        (lambda: soft_target_cross_entropy(logits, torch.full((4, 5), 0.3, dtype=torch.float64)), "target_probs.*sum to 1"),
        (lambda: soft_target_cross_entropy(logits, torch.tensor([[1.2, -0.2, 0, 0, 0]] * 4)), "target_probs.*non-negative"),
        (lambda: soft_target_cross_entropy(logits, labels), "target_probs.*floating"),
        (lambda: confidence_penalty_loss(logits, labels, -0.1), "beta"),
        (lambda: confidence_penalty_loss(logits, labels, math.nan), "beta"),
        (lambda: confidence_penalty_loss(logits, labels[:2], 0.1), "labels"),
    ]
    for fn, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fn()


@pytest.mark.parametrize("eps", [-0.1, 1.0, math.nan])
def test_eps_validation(eps):
    logits, labels = batch(4, 5)
    with pytest.raises(ValueError, match="eps"):
        smoothed_cross_entropy(logits, labels, eps)


def test_masked_classes_with_minus_inf_logits_stay_finite():
    """A class masked with −inf logits has p = 0; 0·log 0 must count as 0, not nan."""
    import torch as _t
    from lsutils.losses import confidence_penalty_loss, soft_target_cross_entropy
    logits = _t.tensor([[2.0, 0.5, float("-inf")]])
    q = _t.tensor([[0.7, 0.3, 0.0]])
    finite = _t.tensor([[2.0, 0.5, -1e4]])
    assert _t.isfinite(soft_target_cross_entropy(logits, q))
    assert _t.allclose(soft_target_cross_entropy(logits, q), soft_target_cross_entropy(finite, q))
    y = _t.tensor([0])
    assert _t.allclose(confidence_penalty_loss(logits, y, 0.5), confidence_penalty_loss(finite, y, 0.5))
