"""Label-smoothing cross-entropy, soft-target cross-entropy and the confidence penalty.

All losses work on raw logits and go through ``log_softmax`` so that logits of magnitude
10⁴ and more stay finite.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .targets import check_convention, check_eps, check_labels, check_num_classes, target_values

__all__ = [
    "REDUCTIONS",
    "smoothed_cross_entropy",
    "check_class_weight",
    "soft_target_cross_entropy",
    "confidence_penalty_loss",
    "entropy",
    "distillation_loss",
]

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


def _check_logits(logits: torch.Tensor) -> int:
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
        raise ValueError(f"logits must be a floating-point torch.Tensor of shape (N, K), got {logits!r:.80}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D of shape (N, K), got shape {tuple(logits.shape)}")
    return check_num_classes(logits.shape[1])


def _check_labels_for(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    labels = check_labels(labels, logits.shape[1])
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must have shape (N,) = ({logits.shape[0]},) to match logits {tuple(logits.shape)}, "
            f"got {tuple(labels.shape)}"
        )
    return labels


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def check_class_weight(class_weight, num_classes: int) -> torch.Tensor:
    """Return ``class_weight`` as a float tensor of shape (K,) with finite entries > 0, else raise."""
    w = torch.as_tensor(class_weight, dtype=torch.float64)
    if w.shape != (num_classes,) or not (torch.isfinite(w).all() and (w > 0).all()):
        raise ValueError(f"class_weight must hold {num_classes} finite numbers > 0 (one per class), "
                         f"got {class_weight!r:.80}")
    return w


def smoothed_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    convention: str = "uniform",
    reduction: str = "mean",
    *,
    allow_negative: bool = False,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Cross-entropy against label-smoothed targets: ℓ = −Σ_k q_k log softmax(z)_k.

    q is ``smooth_targets(labels, K, eps, convention)``. Writing q = a·onehot(y) + b·1 with
    b = q_j and a = q_y − q_j, this is ℓ = a·(−log p_y) + b·Σ_k(−log p_k), so q is never
    materialised. For ``"uniform"`` it equals
    ``F.cross_entropy(logits, labels, label_smoothing=eps, reduction=reduction)``.
    ``reduction``: ``"mean"`` over the N rows, ``"sum"``, or ``"none"`` for shape (N,).

    ``class_weight`` (K,) weighs **examples**: example i's whole smoothed loss is multiplied by
    :math:`w_{y_i}`, and ``"mean"`` divides by :math:`\sum_i w_{y_i}` — the reweighted risk. At ε = 0 this is
    ``F.cross_entropy(weight=w)`` exactly. At ε > 0 it is *not*: PyTorch multiplies the
    smoothing term's log p_k by w_k, the weight of the class *receiving* the mass, whatever the
    label (see ``theory.torch_weighted_optimum`` for what that does to the optimum).
    """
    _check_logits(logits)
    labels = _check_labels_for(logits, labels)
    eps = check_eps(eps, allow_negative=allow_negative)
    convention = check_convention(convention)
    reduction = _check_reduction(reduction)
    if class_weight is not None:
        w = check_class_weight(class_weight, logits.shape[1]).to(logits)[labels]
        loss = smoothed_cross_entropy(logits, labels, eps, convention, "none", allow_negative=allow_negative)
        loss = loss * w
        return loss.sum() / w.sum() if reduction == "mean" else _reduce(loss, reduction)

    logp = F.log_softmax(logits, dim=-1)
    on, off = target_values(logits.shape[1], eps, convention)
    loss = -(on - off) * logp.gather(1, labels.unsqueeze(1)).squeeze(1)
    # Skipping the smooth term at ε = 0 keeps 0·(−inf) = nan out of masked (−inf) logits.
    if off != 0.0:
        loss = loss - off * logp.sum(dim=-1)
    return _reduce(loss, reduction)


def soft_target_cross_entropy(
    logits: torch.Tensor,
    target_probs: torch.Tensor,
    reduction: str = "mean",
    *,
    atol: float = 1e-5,
) -> torch.Tensor:
    """Cross-entropy against arbitrary probability targets: ℓ = −Σ_k q_k log softmax(z)_k.

    ``target_probs`` has the shape (N, K) of ``logits``; every entry must be ≥ 0 and every
    row must sum to 1 within ``atol`` (checked in float64).
    """
    k = _check_logits(logits)
    reduction = _check_reduction(reduction)
    if not isinstance(target_probs, torch.Tensor) or not target_probs.dtype.is_floating_point:
        raise ValueError(f"target_probs must be a floating-point torch.Tensor of shape (N, {k})")
    if target_probs.shape != logits.shape:
        raise ValueError(
            f"target_probs must have the shape of logits {tuple(logits.shape)}, got {tuple(target_probs.shape)}"
        )
    if target_probs.numel() > 0:
        if bool((target_probs < 0).any()) or not bool(torch.isfinite(target_probs).all()):
            raise ValueError("target_probs must be finite and non-negative")
        row_err = (target_probs.sum(dim=-1, dtype=torch.float64) - 1.0).abs().max()
        if float(row_err) > atol:
            raise ValueError(f"target_probs rows must sum to 1 (within atol={atol:g}), max |sum - 1| = {float(row_err):.3g}")
    # xlogy-style: a zero target times log p = −inf (a masked class) contributes 0, not nan
    logp = F.log_softmax(logits, dim=-1)
    loss = -torch.where(target_probs > 0, target_probs * logp, torch.zeros_like(logp)).sum(dim=-1)
    return _reduce(loss, reduction)


def confidence_penalty_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float,
    reduction: str = "mean",
) -> torch.Tensor:
    """Confidence penalty of Pereyra et al. (2017): ℓ = CE(y, p) − β·H(p), H(p) = −Σ_k p_k log p_k.

    Since −H(p) = KL(p‖u) − log K, the regulariser is β·KL(p‖u) up to the constant β·log K.
    Label smoothing instead adds ε·KL(u‖p): with uniform targets
    ℓ_LS = (1 − ε)·CE(y, p) + ε·(KL(u‖p) + log K). The two KLs point opposite ways; KL(u‖p)
    is unbounded as any p_k → 0, KL(p‖u) is at most log K.
    """
    _check_logits(logits)
    labels = _check_labels_for(logits, labels)
    reduction = _check_reduction(reduction)
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite real number >= 0, got {beta!r}")
    nll = -F.log_softmax(logits, dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
    return _reduce(nll - float(beta) * entropy(logits), reduction)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(z)) = −Σ_k p_k log p_k over the last dimension (per row: (N, K) → (N,)). p·log p comes from ``log_softmax``, which
    keeps log p exact where p underflows towards 0; a masked (−inf) logit contributes 0."""
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point or logits.dim() < 1:
        raise ValueError(f"logits must be a floating-point torch.Tensor (..., K), got "
                         f"{logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    logp = F.log_softmax(logits, dim=-1)
    return -torch.where(logp > -math.inf, logp.exp() * logp, torch.zeros_like(logp)).sum(dim=-1)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    beta: float,
    *,
    eps: float = 0.0,
    student_temperature: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Knowledge distillation as in Müller et al. (2019), Sec. 4:
    ℓ = (1 − β)·H(q_α(y), p) + β·H(pᵗ(T), p(T_s)), with pᵗ(T) = softmax(z_t / T),
    p(T_s) = softmax(z_s / T_s), T_s = ``student_temperature`` (default: T), and q_α(y) the hard
    label smoothed with α = ``eps`` (0: one-hot).

    No T² factor. Hinton et al. (2015) multiply the soft term by T² so that its gradient, which
    scales like 1/T when the student is softened by T, keeps its size next to the hard term. The
    paper's runs use β = 1 (no hard term), where any constant factor only rescales the learning
    rate, and a student at T_s = 1 has no 1/T factor to undo.
    """
    _check_logits(student_logits)
    labels = _check_labels_for(student_logits, labels)
    reduction = _check_reduction(reduction)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the shape of student_logits {tuple(student_logits.shape)}, "
                         f"got {tuple(teacher_logits.shape)}")
    for name, t in (("temperature", temperature), ("student_temperature", student_temperature)):
        if t is not None and not (isinstance(t, numbers.Real) and math.isfinite(t) and t > 0):
            raise ValueError(f"{name} must be a finite real number > 0, got {t!r}")
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta <= 1:
        raise ValueError(f"beta must be a real number in [0, 1], got {beta!r}")
    eps = check_eps(eps)  # checked whatever beta is: a bad eps is a bug even when unused
    t_s = temperature if student_temperature is None else student_temperature
    soft = -(F.softmax(teacher_logits.detach() / temperature, dim=-1)
             * F.log_softmax(student_logits / t_s, dim=-1)).sum(dim=-1)
    loss = beta * soft
    if beta < 1:
        loss = loss + (1 - beta) * smoothed_cross_entropy(student_logits, labels, eps, reduction="none")
    return _reduce(loss, reduction)
