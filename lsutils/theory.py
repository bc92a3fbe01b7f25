"""Closed forms for the label-smoothed cross-entropy at its optimum.

For a fixed label y the smoothed loss ℓ(p) = −Σ_k q_k log p_k is minimised over the
probability simplex at p* = q (Gibbs' inequality: ℓ(p) − H(q) = KL(q‖p) ≥ 0). Everything
here follows from that: the optimal probabilities, their ratio, the logit gap log(p_y/p_j),
and the floor H(q) that the loss cannot go below.

Scalars in, Python floats out. ε must lie in [0, 1): negative smoothing has targets with
negative entries, for which ℓ is unbounded below on the simplex and has no minimiser.

For ``"others"`` with ε > (K − 1)/K the target puts less mass on the true class than on
each other class (q_y = 1 − ε < ε/(K − 1)). This is allowed: the optimum is still p* = q,
but then ``optimal_ratio`` < 1, ``logit_gap`` < 0, and ``max_confidence`` (= p*_y) is not
the largest optimal probability. At ε = (K − 1)/K the target is uniform (ratio 1, gap 0).
"""

from __future__ import annotations

import math
import numbers

import torch

from .losses import check_class_weight
from .targets import check_convention, check_eps, check_num_classes, target_values

__all__ = [
    "convert_eps",
    "optimal_probs",
    "optimal_ratio",
    "logit_gap",
    "loss_floor",
    "max_confidence",
    "unsmooth",
    "torch_weighted_optimum",
]


def _check(num_classes: int, eps: float, convention: str) -> tuple[int, float, str]:
    return check_num_classes(num_classes), check_eps(eps), check_convention(convention)


def _off_mass(k: int, eps: float, convention: str) -> float:
    # Total target mass off the true class, m = 1 − q_y, written without cancellation.
    return eps * (k - 1) / k if convention == "uniform" else eps


def convert_eps(eps: float, num_classes: int, source: str, target: str) -> float:
    """Return the ε of convention ``target`` that gives the same targets as ``eps`` in ``source``.

    Equal off-class mass ε_u/K = ε_o/(K − 1) gives ε_uniform = ε_others·K/(K − 1) and
    ε_others = ε_uniform·(K − 1)/K.

    Ranges: uniform ε ∈ [0, 1) maps onto others ε ∈ [0, (K − 1)/K), so uniform → others always
    succeeds. Others ε ∈ [(K − 1)/K, 1) would need uniform ε ≥ 1 (ε_u = 1 is the
    label-independent uniform target; ε_u > 1 puts less mass on the true class than on the
    others), which ``check_eps`` rejects, so those raise ``ValueError``.
    """
    k = check_num_classes(num_classes)
    eps = check_eps(eps)
    source, target = check_convention(source, "source"), check_convention(target, "target")
    if source == target:
        return eps
    if source == "uniform":
        return eps * (k - 1) / k
    out = eps * k / (k - 1)
    if out >= 1.0:
        raise ValueError(
            f"eps={eps!r} in the 'others' convention is >= (K-1)/K = {(k - 1) / k:g}; "
            f"it converts to uniform eps={out:g}, outside the allowed range [0, 1)"
        )
    return out


def optimal_probs(num_classes: int, eps: float, convention: str = "uniform") -> tuple[float, float]:
    """Return (p*_y, p*_j), the minimiser of the smoothed loss over the simplex, which is q.

    uniform: (1 − ε + ε/K, ε/K); others: (1 − ε, ε/(K − 1)).
    """
    k, eps, convention = _check(num_classes, eps, convention)
    return target_values(k, eps, convention)


def optimal_ratio(num_classes: int, eps: float, convention: str = "uniform") -> float:
    """Return p*_y / p*_j: 1 + K(1 − ε)/ε (uniform) or (1 − ε)(K − 1)/ε (others); inf at ε = 0."""
    k, eps, convention = _check(num_classes, eps, convention)
    if eps == 0.0:
        return math.inf
    if convention == "uniform":
        return 1.0 + k * (1.0 - eps) / eps
    return (1.0 - eps) * (k - 1) / eps


def logit_gap(num_classes: int, eps: float, convention: str = "uniform") -> float:
    """Return z*_y − z*_j = log(p*_y / p*_j): log(1 + K(1 − ε)/ε) (uniform) or
    log((1 − ε)(K − 1)/ε) (others); inf at ε = 0.
    """
    k, eps, convention = _check(num_classes, eps, convention)
    if eps == 0.0:
        return math.inf
    if convention == "uniform":
        # log1p keeps the gap accurate as ε → 1, where the ratio → 1.
        return math.log1p(k * (1.0 - eps) / eps)
    return math.log1p(-eps) + math.log(k - 1) - math.log(eps)


def loss_floor(num_classes: int, eps: float, convention: str = "uniform") -> float:
    """Return H(q) = −Σ_k q_k log q_k, the minimum of the smoothed loss (0 at ε = 0).

    With m = 1 − q_y the mass off the true class, H(q) = −(1 − m)·log(1 − m) − m·log(m/(K − 1)),
    using 0·log 0 = 0 and log1p(−m) for small m.
    """
    k, eps, convention = _check(num_classes, eps, convention)
    m = _off_mass(k, eps, convention)
    if m == 0.0:
        return 0.0
    return -(1.0 - m) * math.log1p(-m) - m * (math.log(m) - math.log(k - 1))


def max_confidence(num_classes: int, eps: float, convention: str = "uniform") -> float:
    """Return p*_y, the optimal confidence on the true class: 1 − ε + ε/K (uniform), 1 − ε (others).

    For ``"others"`` with ε > (K − 1)/K this is smaller than each p*_j.
    """
    return optimal_probs(num_classes, eps, convention)[0]


def unsmooth(probs: torch.Tensor, num_classes: int, eps: float, *, clip: bool = False) -> torch.Tensor:
    """Invert uniform smoothing: p ↦ (p − ε/K)/(1 − ε), along the last dimension of size K.

    This maps q = (1 − ε)·onehot + ε/K back to the one-hot target, so it undoes smoothing at
    the optimum p = q. For other p the result still sums to 1 but may have negative entries
    (any p_k < ε/K). ``clip=True`` clips those at 0 and renormalises each row.
    """
    k = check_num_classes(num_classes)
    eps = check_eps(eps)
    if not isinstance(probs, torch.Tensor) or not probs.dtype.is_floating_point:
        raise ValueError(f"probs must be a floating-point torch.Tensor with last dimension {k}")
    if probs.dim() == 0 or probs.shape[-1] != k:
        raise ValueError(f"probs must have last dimension num_classes={k}, got shape {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError("probs must be finite (contains NaN or inf)")
    out = (probs - eps / k) / (1.0 - eps)
    if clip:
        out = out.clamp_min(0.0)
        out = out / out.sum(dim=-1, keepdim=True)
    return out


def torch_weighted_optimum(class_weight, label: int, eps: float) -> list[float]:
    r"""The minimiser over the simplex of ``F.cross_entropy(z, y, weight=w, label_smoothing=ε)`` for
    one example of class y: p*_k = c_k / Σ_j c_j with c_k = (1 − ε)·w_y·[k = y] + (ε/K)·w_k.

    PyTorch's per-example loss is (1 − ε)·w_y·(−log p_y) + (ε/K)·Σ_k w_k·(−log p_k) (the mean
    divides by :math:`\sum_i w_{y_i}`, a constant that does not move the optimum), and −Σ_k c_k log p_k is
    minimised at p ∝ c (Gibbs). The smoothing mass reaching class k is scaled by w_k, the weight
    of the class that *receives* it: with a rare class weighted up, every example of a frequent
    class is pulled towards the rare one. Per-example weighting (``smoothed_cross_entropy`` with
    ``class_weight``) leaves the optimum at q.
    """
    k = check_num_classes(len(class_weight))
    w = check_class_weight(class_weight, k).tolist()
    eps = check_eps(eps)
    if isinstance(label, bool) or not isinstance(label, numbers.Integral) or not 0 <= label < k:
        raise ValueError(f"label must be an integer in [0, {k}) = [0, num_classes), got {label!r}")
    label = int(label)
    c = [eps / k * v for v in w]
    c[label] += (1 - eps) * w[label]
    total = math.fsum(c)
    return [v / total for v in c]
