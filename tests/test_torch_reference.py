"""The written-out formula of F.cross_entropy (label_smoothing, weight, ignore_index) against PyTorch."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from lsutils.targets import smooth_targets
from lsutils.torch_reference import reference_cross_entropy


def _case(seed, n=7, k=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, k, generator=g, dtype=dtype)
    labels = torch.randint(0, k, (n,), generator=g)
    weight = torch.rand(k, generator=g, dtype=dtype) * 3 + 0.1
    return logits, labels, weight


@pytest.mark.parametrize("eps,use_weight,ignore,reduction", list(itertools.product(
    [0.0, 0.1, 0.37, 0.9], [False, True], [False, True], ["mean", "sum", "none"])))
def test_matches_pytorch_class_indices(eps, use_weight, ignore, reduction):
    for seed in range(5):
        logits, labels, weight = _case(seed)
        if ignore:
            labels[[1, 4]] = -100
        w = weight if use_weight else None
        ref = F.cross_entropy(logits, labels, weight=w, label_smoothing=eps, reduction=reduction)
        ours = reference_cross_entropy(logits, labels, weight=w, label_smoothing=eps, reduction=reduction)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_custom_ignore_index_and_float32():
    logits, labels, weight = _case(3, n=9, k=4, dtype=torch.float32)
    labels[[0, 5, 6]] = 2
    for w in (None, weight):
        ref = F.cross_entropy(logits, labels, weight=w, ignore_index=2, label_smoothing=0.2)
        ours = reference_cross_entropy(logits, labels, weight=w, ignore_index=2, label_smoothing=0.2)
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_all_rows_ignored_mean_is_nan_like_pytorch():
    logits, labels, _ = _case(0)
    labels[:] = -100
    assert torch.isnan(F.cross_entropy(logits, labels, label_smoothing=0.1))
    assert torch.isnan(reference_cross_entropy(logits, labels, label_smoothing=0.1))


@pytest.mark.parametrize("eps,use_weight,reduction", list(itertools.product(
    [0.0, 0.1, 0.5], [False, True], ["mean", "sum", "none"])))
def test_matches_pytorch_probability_targets(eps, use_weight, reduction):
    logits, labels, weight = _case(11)
    q = torch.softmax(torch.randn(7, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64), -1)
    w = weight if use_weight else None
    ref = F.cross_entropy(logits, q, weight=w, label_smoothing=eps, reduction=reduction)
    ours = reference_cross_entropy(logits, q, weight=w, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_weighted_label_smoothing_equals_weighted_soft_ce_up_to_denominator():
    """Per row, label_smoothing with weights is −Σ_k w_k q_k log p_k; only "mean" differs."""
    logits, labels, weight = _case(5)
    q = smooth_targets(labels, 5, 0.2, dtype=torch.float64)
    a = F.cross_entropy(logits, labels, weight=weight, label_smoothing=0.2, reduction="none")
    b = F.cross_entropy(logits, q, weight=weight, reduction="none")
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    mean_idx = F.cross_entropy(logits, labels, weight=weight, label_smoothing=0.2)
    mean_soft = F.cross_entropy(logits, q, weight=weight)
    torch.testing.assert_close(mean_idx * weight[labels].sum() / 7, mean_soft, rtol=1e-12, atol=1e-12)


def test_rejects_bad_arguments():
    logits, labels, weight = _case(0)
    with pytest.raises(ValueError, match="reduction"):
        reference_cross_entropy(logits, labels, reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        reference_cross_entropy(logits, labels, weight=weight[:3])
    with pytest.raises(ValueError, match="class indices"):
        reference_cross_entropy(logits, torch.full((7,), 5))
    with pytest.raises(ValueError, match="label_smoothing must be"):
        reference_cross_entropy(logits, labels, label_smoothing=1.0)
    with pytest.raises(ValueError, match="shape"):
        reference_cross_entropy(logits, torch.rand(7, 4, dtype=torch.float64))
