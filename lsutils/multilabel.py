r"""Label smoothing for multi-label (one sigmoid per label) heads, and a common mis-smoothing.

A multi-label head treats each label as its own two-class problem with target t ∈ {0, 1} and the
loss ``BCEWithLogitsLoss``, −t·log σ(z) − (1 − t)·log(1 − σ(z)). Smoothing each label with the
uniform convention for K = 2 mixes (t, 1 − t) with (1/2, 1/2):

.. math::

   t \mapsto t (1 - \varepsilon) + \varepsilon / 2

("symmetric": 1 ↦ 1 − ε/2, 0 ↦ ε/2).

Some code instead writes t ↦ t(1 − ε) + ε ("shifted"): 1 stays 1 and 0 becomes ε, so positives
are not smoothed at all. Applied to a one-hot vector over K classes the same formula gives a
vector summing to 1 + (K − 1)ε — not a distribution.

For a soft target t ∈ (0, 1) the binary cross-entropy over one free logit is minimised at
σ(z*) = t, that is z* = log(t / (1 − t)); at t = 1 (or 0) there is no minimiser and z → ±∞.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .targets import check_eps

__all__ = ["BINARY_MODES", "smooth_binary_targets", "optimal_logit", "fit_bce_logit", "fit_softmax_logits"]

BINARY_MODES: tuple[str, ...] = ("symmetric", "shifted")


def smooth_binary_targets(targets: torch.Tensor, eps: float, mode: str = "symmetric") -> torch.Tensor:
    """Smooth 0/1 multi-label ``targets`` (any shape) elementwise.

    ``"symmetric"``: t(1 − ε) + ε/2, the uniform convention with K = 2 for each label.
    ``"shifted"``: t(1 − ε) + ε, the pitfall: positives stay at 1, negatives move to ε.
    Returns a floating-point tensor of the same shape.
    """
    eps = check_eps(eps)
    if mode not in BINARY_MODES:
        raise ValueError(f"mode must be one of {BINARY_MODES}, got {mode!r}")
    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"targets must be a torch.Tensor of 0/1 values, got {type(targets).__name__}")
    t = targets if targets.dtype.is_floating_point else targets.to(torch.get_default_dtype())
    if t.numel() and not bool(((t == 0) | (t == 1)).all()):
        raise ValueError("targets must hold only 0 and 1")
    return t * (1.0 - eps) + (eps / 2 if mode == "symmetric" else eps)


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return int(steps)


def _check_target(target: float) -> float:
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0.0 <= target <= 1.0:
        raise ValueError(f"target must be a real number in [0, 1], got {target!r}")
    return float(target)


def optimal_logit(target: float) -> float:
    """The minimiser log(t/(1 − t)) of the binary cross-entropy with soft target t; ±∞ at t = 1, 0."""
    t = _check_target(target)
    if t == 1.0:
        return math.inf
    if t == 0.0:
        return -math.inf
    return math.log(t) - math.log1p(-t)


def fit_bce_logit(target: float, steps: int = 60) -> float:
    """Minimise ``torch.nn.BCEWithLogitsLoss`` (float64) over one free logit by Newton's method from 0.

    Gradient and curvature come from autograd through the PyTorch loss, not from the closed form.
    For t ∈ (0, 1) the iteration converges monotonically (σ is concave beyond the root); for
    t ∈ {0, 1} there is no minimiser and the returned logit grows by about 1 per step.
    """
    target, steps = _check_target(target), _check_steps(steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t = torch.tensor([target], dtype=torch.float64)
    z = torch.zeros(1, dtype=torch.float64)
    for _ in range(steps):
        z = z.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(z, t), z, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), z)
        if float(h) == 0.0:
            break
        z = z - g.detach() / h
    return float(z.detach())


def fit_softmax_logits(target: torch.Tensor, steps: int = 3000, lr: float = 1.0) -> torch.Tensor:
    """Minimise ``F.cross_entropy(z, target)`` over free logits z for one (K,) soft-target vector.

    ``target`` need not sum to 1 (PyTorch does not check). Plain gradient descent in float64 from
    z = 0; returns softmax(z*). The exact minimiser is target / target.sum() for nonnegative targets.
    """
    steps = _check_steps(steps)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise ValueError(f"lr must be a finite real number > 0, got {lr!r}")
    t = torch.as_tensor(target, dtype=torch.float64)
    if t.dim() != 1 or t.numel() < 2 or not bool(torch.isfinite(t).all()):
        raise ValueError(f"target must be a finite 1-D vector of K >= 2 values, got shape {tuple(t.shape)}")
    t = t.reshape(1, -1)
    z = torch.zeros_like(t, requires_grad=True)
    opt = torch.optim.SGD([z], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(z, t).backward()
        opt.step()
    return z.detach().softmax(1)[0]
