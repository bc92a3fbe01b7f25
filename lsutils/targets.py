"""Smoothed target distributions and the argument checks shared by ``lsutils``.

Two conventions for spreading the smoothing mass ε over K classes are in use:

* ``"uniform"`` (Szegedy et al. 2016; Müller et al. 2019; PyTorch, Keras, Optax, timm):
  mix the one-hot target with the uniform distribution,
  q = (1 − ε)·onehot(y) + ε/K, so q_y = 1 − ε + ε/K and q_j = ε/K for j ≠ y.
* ``"others"``: move ε off the true class onto the K − 1 others only,
  q_y = 1 − ε and q_j = ε/(K − 1) for j ≠ y.

Both families contain the same targets; ``lsutils.theory.convert_eps`` maps ε between them.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "CONVENTIONS",
    "check_eps",
    "check_num_classes",
    "check_labels",
    "check_convention",
    "target_values",
    "smooth_targets",
]

CONVENTIONS: tuple[str, ...] = ("uniform", "others")


def check_eps(eps: float, allow_negative: bool = False, name: str = "eps") -> float:
    """Return ``eps`` as a float if it is a finite real in [0, 1), else raise ``ValueError``.

    ε = 1 is excluded because the target then no longer depends on the label.
    ``allow_negative=True`` widens the range to (−1, 1) for the negative label smoothing
    of Wei et al. (2022); such targets have negative entries and are not distributions.
    """
    lo, lo_bracket = (-1.0, "(") if allow_negative else (0.0, "[")
    allowed = f"{lo_bracket}{lo:g}, 1)"
    # bool is an Integral; True would silently mean ε = 1.
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ValueError(f"{name} must be a real number in {allowed}, got {eps!r}")
    value = float(eps)
    ok = math.isfinite(value) and value < 1.0 and (value > lo if allow_negative else value >= lo)
    if not ok:
        raise ValueError(f"{name} must be a finite real number in {allowed}, got {eps!r}")
    return value


def check_num_classes(num_classes: int) -> int:
    """Return ``num_classes`` as an int if it is an integer K ≥ 2, else raise ``ValueError``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return int(num_classes)


def check_labels(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return ``labels`` as int64 (what indexing ops such as ``scatter_`` need) if it is a 1-D
    integer tensor with values in [0, K); an int64 tensor is returned as it is, not copied.

    Raises ``ValueError`` otherwise; the message names ``labels`` and the allowed range.
    """
    k = check_num_classes(num_classes)
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor of class indices in [0, {k}), got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must have an integer dtype (class indices in [0, {k})), got {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D of shape (N,), got shape {tuple(labels.shape)}")
    if labels.dtype == torch.uint64:  # values above 2⁶³ − 1 have no int64
        raise ValueError(f"labels must have a signed or 8/16/32-bit unsigned integer dtype, got {labels.dtype}")
    if labels.dtype in (torch.uint16, torch.uint32):  # torch has no min/max for these: widen first
        labels = labels.long()
    if labels.numel() > 0:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"labels must lie in [0, {k}) = [0, num_classes), got values in [{lo}, {hi}]")
    return labels.long()


def check_convention(convention: str, name: str = "convention") -> str:
    """Return ``convention`` if it is ``"uniform"`` or ``"others"``, else raise ``ValueError``
    naming the argument ``name``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"{name} must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def target_values(num_classes: int, eps: float, convention: str = "uniform") -> tuple[float, float]:
    """Return (q_y, q_j): the smoothed target on the true class and on each other class.

    uniform: (1 − ε + ε/K, ε/K); others: (1 − ε, ε/(K − 1)).
    """
    num_classes = check_num_classes(num_classes)
    eps = check_eps(eps, allow_negative=True)
    convention = check_convention(convention)
    if convention == "uniform":
        return 1.0 - eps + eps / num_classes, eps / num_classes
    return 1.0 - eps, eps / (num_classes - 1)


def smooth_targets(
    labels: torch.Tensor,
    num_classes: int,
    eps: float,
    convention: str = "uniform",
    *,
    dtype: torch.dtype = torch.float32,
    allow_negative: bool = False,
) -> torch.Tensor:
    """Return the (N, K) smoothed targets q for integer ``labels`` of shape (N,).

    ``"uniform"``: q = (1 − ε)·onehot(y) + ε/K.
    ``"others"``:  q_y = 1 − ε, q_j = ε/(K − 1) for j ≠ y.
    Rows sum to 1; ε = 0 gives exact one-hot rows. ``allow_negative`` admits ε in (−1, 0)
    (negative smoothing), whose rows still sum to 1 but have negative off-class entries.
    """
    k = check_num_classes(num_classes)
    eps = check_eps(eps, allow_negative=allow_negative)
    convention = check_convention(convention)
    labels = check_labels(labels, k)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype (targets are probabilities), "
                         f"got {dtype!r}")
    # Both values are computed in float64 and rounded once, so q_y is not 1 − ε rounded
    # and then shifted by a rounded ε/K.
    on, off = target_values(k, eps, convention)
    q = torch.full((labels.shape[0], k), off, dtype=dtype, device=labels.device)
    return q.scatter_(1, labels.unsqueeze(1), on)
