"""Objectives on the probability simplex: minimisers, gradients and the confidence penalty.

The theory chapters compare label smoothing with two other ways of asking a softmax output
p = softmax(z) for a target q:

* the confidence penalty of Pereyra et al. (2017), H(π, p) − β·H(p), here for a general
  target distribution π (a one-hot label is the special case π = onehot(y));
* the squared error Σ_k (p_k − q_k)² (the Brier score of p against q).

Everything here works on (N, K) logits in float64 where it matters, returns tensors for
tensors and Python floats for scalars, and is deterministic on the CPU.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
import torch.nn.functional as F

from .losses import REDUCTIONS
from .targets import check_convention, check_eps, check_num_classes
from .theory import logit_gap, max_confidence

__all__ = [
    "minimise_over_simplex",
    "soft_confidence_penalty",
    "confidence_penalty_logit_grad",
    "confidence_penalty_optimum",
    "matched_beta",
    "squared_error",
    "squared_error_logit_grad",
]


def _check_beta(beta: float) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite real number >= 0, got {beta!r}")
    return float(beta)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    for t, name in zip((a, b), names):
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or t.dim() != 2:
            raise ValueError(f"{name} must be a floating-point torch.Tensor of shape (N, K)")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    check_num_classes(a.shape[1])


def minimise_over_simplex(
    objective: Callable[[torch.Tensor], torch.Tensor],
    num_classes: int,
    *,
    init_logits: torch.Tensor | None = None,
    max_iter: int = 500,
) -> torch.Tensor:
    """Minimise ``objective(logits)`` over logits :math:`z \\in \\mathbb{R}^K` and return p = softmax(z*), shape (K,).

    ``objective`` maps a (1, K) float64 logit tensor to a scalar. Every point of the open
    simplex is a softmax, so this minimises over the interior of the simplex. L-BFGS with a
    strong-Wolfe line search in float64, started from ``init_logits`` (zeros by default, the
    uniform distribution): deterministic, and accurate to about 10⁻⁸ for the smooth objectives
    of the theory chapters.
    """
    k = check_num_classes(num_classes)
    z0 = torch.zeros(1, k, dtype=torch.float64) if init_logits is None else init_logits.detach().to(torch.float64).reshape(1, k)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=max_iter, tolerance_grad=1e-14, tolerance_change=1e-16,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(z)
        loss.backward()
        return loss

    opt.step(closure)
    return F.softmax(z.detach(), dim=-1).squeeze(0)


def soft_confidence_penalty(
    logits: torch.Tensor, target_probs: torch.Tensor, beta: float, reduction: str = "mean"
) -> torch.Tensor:
    """Confidence penalty against a target distribution π: ℓ = H(π, p) − β·H(p) per row.

    With π = onehot(y) this is ``lsutils.losses.confidence_penalty_loss``. ``reduction``:
    ``"mean"``, ``"sum"`` or ``"none"``.
    """
    _check_pair(logits, target_probs, ("logits", "target_probs"))
    beta = _check_beta(beta)
    logp = F.log_softmax(logits, dim=-1)
    entropy = -(logp.exp() * logp).sum(dim=-1)
    loss = -(target_probs * logp).sum(dim=-1) - beta * entropy
    return _reduce(loss, reduction)


def confidence_penalty_logit_grad(probs: torch.Tensor, target_probs: torch.Tensor, beta: float) -> torch.Tensor:
    """∂/∂z of H(π, p) − β·H(p) at p = softmax(z), per row: p − π + β·p ⊙ (log p + H(p)).

    The last term is β times the gradient of −H(p) = Σ_k p_k log p_k; it vanishes as p tends
    to a vertex of the simplex (p_k log p_k → 0). Entries with p_k = 0 contribute 0.
    """
    _check_pair(probs, target_probs, ("probs", "target_probs"))
    beta = _check_beta(beta)
    logp = torch.where(probs > 0, probs.clamp_min(torch.finfo(probs.dtype).tiny).log(), torch.zeros_like(probs))
    entropy = -(probs * logp).sum(dim=-1, keepdim=True)
    return probs - target_probs + beta * probs * (logp + entropy)


def confidence_penalty_optimum(num_classes: int, beta: float) -> tuple[float, float]:
    """Return (p*_y, p*_j), the minimiser of −log p_y − β·H(p) over the simplex.

    The objective is strictly convex and symmetric in the K − 1 wrong classes, so its
    minimiser is (a, (1 − a)/(K − 1), ...) with a the root in (1/K, 1) of
    −1/a + β·log(a(K − 1)/(1 − a)) = 0, found by bisection. β = 0 gives (1, 0).
    """
    k = check_num_classes(num_classes)
    beta = _check_beta(beta)
    if beta == 0.0:
        return 1.0, 0.0

    def slope(a: float) -> float:
        return -1.0 / a + beta * (math.log(a) + math.log(k - 1) - math.log1p(-a))

    lo, hi = 1.0 / k, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
    a = 0.5 * (lo + hi)
    return a, (1.0 - a) / (k - 1)


def matched_beta(num_classes: int, eps: float, convention: str = "uniform") -> float:
    """Return the β at which the confidence penalty's optimum for a hard label equals the
    label-smoothing optimum q: β = 1 / (p*_y · log(p*_y / p*_j)) = 1 / (max_confidence · logit_gap).

    ε = 0 gives β = 0. Raises ``ValueError`` when the smoothed target does not favour the true
    class (``"others"`` with ε ≥ (K − 1)/K), since the penalty's optimum always does.
    """
    k, eps, convention = check_num_classes(num_classes), check_eps(eps), check_convention(convention)
    if eps == 0.0:
        return 0.0
    gap = logit_gap(k, eps, convention)
    if not gap > 0:
        raise ValueError(f"the smoothed target for eps={eps!r} ({convention}) does not favour the true class")
    return 1.0 / (max_confidence(k, eps, convention) * gap)


def squared_error(logits: torch.Tensor, target_probs: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error between p = softmax(z) and q: ℓ = Σ_k (p_k − q_k)² per row (the Brier score)."""
    _check_pair(logits, target_probs, ("logits", "target_probs"))
    loss = ((F.softmax(logits, dim=-1) - target_probs) ** 2).sum(dim=-1)
    return _reduce(loss, reduction)


def squared_error_logit_grad(probs: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """∂/∂z of Σ_k (p_k − q_k)² at p = softmax(z), per row: 2·p ⊙ ((p − q) − ⟨p, p − q⟩).

    Through the softmax Jacobian diag(p) − p pᵀ; every entry carries a factor p_j, so the
    gradient vanishes when p saturates at a vertex, right or wrong.
    """
    _check_pair(probs, target_probs, ("probs", "target_probs"))
    r = probs - target_probs
    return 2.0 * probs * (r - (probs * r).sum(dim=-1, keepdim=True))
