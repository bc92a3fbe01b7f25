"""smooth_targets and the shared argument checks, against hand-written loops and one_hot."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lsutils.targets import (
    check_convention,
    check_eps,
    check_labels,
    check_num_classes,
    smooth_targets,
)
from lsutils.theory import convert_eps


def loop_targets(labels, k, eps, convention):
    """Reference: fill q entry by entry from the definition of each convention."""
    q = []
    for y in labels:
        row = []
        for j in range(k):
            if convention == "uniform":
                row.append((1 - eps) * (1.0 if j == y else 0.0) + eps / k)
            else:
                row.append(1 - eps if j == y else eps / (k - 1))
        q.append(row)
    return torch.tensor(q, dtype=torch.float64)


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("k,eps", [(2, 0.1), (3, 0.0), (3, 0.25), (10, 0.1), (10, 0.6), (7, 0.95)])
def test_matches_loop_and_rows_sum_to_one(convention, k, eps):
    labels = torch.randint(0, k, (17,), generator=torch.Generator().manual_seed(k))
    q = smooth_targets(labels, k, eps, convention, dtype=torch.float64)
    assert q.shape == (17, k) and q.dtype == torch.float64
    torch.testing.assert_close(q, loop_targets(labels.tolist(), k, eps, convention), rtol=0, atol=1e-15)
    torch.testing.assert_close(q.sum(1), torch.ones(17, dtype=torch.float64), rtol=0, atol=1e-12)


def test_hand_values_k10_eps01():
    q = smooth_targets(torch.tensor([3]), 10, 0.1)
    assert q.dtype == torch.float32
    expected = torch.full((1, 10), 0.01)
    expected[0, 3] = 0.91
    torch.testing.assert_close(q, expected, rtol=0, atol=1e-7)
    q_o = smooth_targets(torch.tensor([3]), 10, 0.1, "others")
    assert q_o[0, 3].item() == pytest.approx(0.9) and q_o[0, 0].item() == pytest.approx(0.1 / 9)


def test_uniform_is_onehot_mixture():
    labels = torch.tensor([0, 4, 2, 2, 1])
    q = smooth_targets(labels, 5, 0.3)
    torch.testing.assert_close(q, 0.7 * F.one_hot(labels, 5).float() + 0.3 / 5)


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_eps_zero_is_exact_one_hot(convention):
    labels = torch.tensor([0, 9, 5])
    q = smooth_targets(labels, 10, 0.0, convention)
    assert torch.equal(q, F.one_hot(labels, 10).float())


@pytest.mark.parametrize("k", [2, 3, 10, 100])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.4, 0.9])
def test_conventions_map_onto_each_other(k, eps):
    labels = torch.arange(k)
    q_u = smooth_targets(labels, k, eps, "uniform", dtype=torch.float64)
    q_o = smooth_targets(labels, k, convert_eps(eps, k, "uniform", "others"), "others", dtype=torch.float64)
    torch.testing.assert_close(q_u, q_o, rtol=0, atol=1e-15)
    eps_o = eps * (k - 1) / k  # any others-ε below (K−1)/K converts back
    q_o = smooth_targets(labels, k, eps_o, "others", dtype=torch.float64)
    q_u = smooth_targets(labels, k, convert_eps(eps_o, k, "others", "uniform"), "uniform", dtype=torch.float64)
    torch.testing.assert_close(q_u, q_o, rtol=0, atol=1e-15)


def test_conventions_differ_at_same_eps():
    labels = torch.tensor([1])
    assert not torch.allclose(smooth_targets(labels, 10, 0.1), smooth_targets(labels, 10, 0.1, "others"))


def test_negative_smoothing_only_when_asked():
    labels = torch.tensor([0, 2])
    with pytest.raises(ValueError, match="eps"):
        smooth_targets(labels, 4, -0.2)
    q = smooth_targets(labels, 4, -0.2, allow_negative=True, dtype=torch.float64)
    torch.testing.assert_close(q, loop_targets([0, 2], 4, -0.2, "uniform"))
    assert q[0, 1].item() == pytest.approx(-0.05) and q[0, 0].item() == pytest.approx(1.15)


def test_device_and_dtype_follow_arguments():
    q = smooth_targets(torch.tensor([1, 0]), 3, 0.1, dtype=torch.float16)
    assert q.dtype == torch.float16 and q.device == torch.device("cpu")


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize("eps", [-0.1, 1.0, 1.5, math.nan, math.inf, -math.inf, True, "0.1", None])
def test_check_eps_rejects(eps):
    with pytest.raises(ValueError, match=r"eps.*\[0, 1\)"):
        check_eps(eps)


@pytest.mark.parametrize("eps", [0, 0.0, 0.5, 0.999, np.float32(0.1), np.float64(0.2)])
def test_check_eps_accepts(eps):
    assert check_eps(eps) == float(eps) and type(check_eps(eps)) is float


def test_check_eps_allow_negative():
    assert check_eps(-0.5, allow_negative=True) == -0.5
    for bad in (-1.0, 1.0, math.nan):
        with pytest.raises(ValueError, match=r"eps.*\(-1, 1\)"):
            check_eps(bad, allow_negative=True)


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, 2.0, True, "10", None])
def test_check_num_classes_rejects(k):
    with pytest.raises(ValueError, match="num_classes"):
        check_num_classes(k)


def test_check_num_classes_accepts():
    assert check_num_classes(2) == 2 and type(check_num_classes(np.int64(10))) is int


@pytest.mark.parametrize(
    "labels,pattern",
    [
        (torch.tensor([0.0, 1.0]), "labels.*integer"),
        (torch.tensor([True, False]), "labels.*integer"),
        (torch.tensor([0, 10]), r"labels.*\[0, 10\)"),
        (torch.tensor([-1, 3]), r"labels.*\[0, 10\)"),
        (torch.tensor([[0, 1]]), "labels.*1-D"),
        (torch.tensor(3), "labels.*1-D"),
        ([0, 1], "labels.*Tensor"),
    ],
)
def test_check_labels_rejects(labels, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_labels(labels, 10)
    with pytest.raises(ValueError, match=pattern):
        smooth_targets(labels, 10, 0.1)


def test_check_labels_accepts_int_dtypes_and_empty():
    labels = torch.tensor([0, 9])
    assert check_labels(labels, 10) is labels  # int64: no copy
    for dtype in (torch.int32, torch.int16, torch.uint8):
        checked = check_labels(torch.tensor([0, 9], dtype=dtype), 10)
        assert checked.dtype == torch.int64 and checked.tolist() == [0, 9]
    assert smooth_targets(torch.empty(0, dtype=torch.long), 4, 0.1).shape == (0, 4)


def test_smooth_targets_any_integer_labels_and_only_float_dtypes():
    """uint8/int32 labels passed the check and then failed inside scatter_ (needs int64);
    an integer dtype silently gave all-zero targets (bool: all True)."""
    want = smooth_targets(torch.tensor([2, 0]), 3, 0.3)
    for dtype in (torch.uint8, torch.int32):
        assert torch.equal(smooth_targets(torch.tensor([2, 0], dtype=dtype), 3, 0.3), want)
    for bad in (torch.int64, torch.bool, torch.uint8, "float32", None):
        with pytest.raises(ValueError, match="dtype must be a floating-point"):
            smooth_targets(torch.tensor([2, 0]), 3, 0.3, dtype=bad)
    assert smooth_targets(torch.tensor([1]), 3, 0.3, dtype=torch.float64).dtype == torch.float64


def test_check_convention():
    assert check_convention("others") == "others"
    for bad in ("Uniform", "other", None):
        with pytest.raises(ValueError, match="convention"):
            check_convention(bad)
    with pytest.raises(ValueError, match="convention"):
        smooth_targets(torch.tensor([0]), 3, 0.1, "foo")


def test_check_labels_wide_unsigned():
    for dtype in (torch.uint16, torch.uint32):
        assert check_labels(torch.tensor([0, 9], dtype=dtype), 10).tolist() == [0, 9]
    with pytest.raises(ValueError, match="labels must have a signed"):
        check_labels(torch.tensor([0, 9], dtype=torch.uint64), 10)
