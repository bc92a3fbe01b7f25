"""Knowledge distillation as Müller, Kornblith & Hinton (2019, Sec. 4) run it.

* ``distillation_loss`` — (1 − β)·H(y, p) + β·H(pᵗ(T), p(T_s)); it lives in ``lsutils.losses``
  (re-exported here) and its docstring says why it carries no T² factor.
* ``TemperedTeacher`` — a teacher whose logits are divided by T. The paper's student is fixed at
  temperature 1 while the teacher is read at T; ``lsutils.train`` applies one temperature to both,
  so passing ``TemperedTeacher(teacher, T)`` with ``distill_temperature=1`` gives exactly
  H(softmax(z_t / T), softmax(z_s)).
* ``equivalent_smoothing`` — the paper's γ, the label smoothing a teacher's targets amount to.
* ``hinton_distillation_loss`` — the standard form (Hinton et al. 2015): student and teacher
  both at T, the soft term scaled by T², beside the paper's form.
* ``logit_matching_loss`` / ``train_logit_matching`` — the MNIST student of the paper's text
  (after Hinton et al. 2015): 0.4 × hard cross-entropy + 0.6 × half squared error on the logits.
"""

from __future__ import annotations

import functools

import math
import numbers

import torch
import torch.nn.functional as F

from lsutils import train as _train
from lsutils.losses import distillation_loss
from lsutils.targets import check_labels

__all__ = ["distillation_loss", "hinton_distillation_loss", "TemperedTeacher", "equivalent_smoothing", "logit_matching_loss",
           "train_logit_matching"]


class TemperedTeacher(torch.nn.Module):
    """``teacher(x) / temperature``: the teacher's logits as read at temperature T."""

    def __init__(self, teacher: torch.nn.Module, temperature: float):
        super().__init__()
        if not (isinstance(temperature, numbers.Real) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite real number > 0, got {temperature!r}")
        self.teacher, self.temperature = teacher, float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher(x) / self.temperature


def equivalent_smoothing(teacher_probs: torch.Tensor, labels: torch.Tensor) -> float:
    """γ = mean over examples of Σ_k (1 − y_k)·pᵗ_k · K/(K − 1), with y the one-hot label.

    Σ_k (1 − y_k) pᵗ_k is the mass the teacher puts on wrong classes, 1 − pᵗ_y; the factor
    K/(K − 1) makes γ equal to α for a teacher that outputs the uniform-convention smoothed target
    (1 − α)·e_y + α/K exactly (its wrong-class mass is α(K − 1)/K). So γ reads a teacher's soft
    targets on the scale of the smoothing parameter. ``teacher_probs``: (N, K) probabilities
    (at whatever temperature the student is trained with); ``labels``: (N,) class indices.
    """
    if not isinstance(teacher_probs, torch.Tensor) or teacher_probs.dim() != 2:
        raise ValueError("teacher_probs must be a 2-D tensor (N, K) of probabilities")
    n, k = teacher_probs.shape
    labels = check_labels(labels, k)
    if labels.shape != (n,) or n == 0:
        raise ValueError(f"labels must have shape ({n},) with N ≥ 1, got {tuple(labels.shape)}")
    p = teacher_probs.double()
    if bool((p < 0).any()) or float((p.sum(1) - 1).abs().max()) > 1e-4:
        raise ValueError("teacher_probs rows must be non-negative and sum to 1")
    wrong_mass = 1.0 - p.gather(1, labels.view(-1, 1)).squeeze(1)
    return float(wrong_mass.mean() * k / (k - 1))


def hinton_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                             temperature: float, beta: float) -> torch.Tensor:
    """(1 − β)·H(y, p) + β·T²·KL(pᵗ(T) ‖ p(T)), batch mean, with pᵗ(T) = softmax(z_t / T) and
    p(T) = softmax(z_s / T): Hinton et al.'s distillation, the student softened by the same T and
    the soft term scaled by T² so its gradient, ∝ (p(T) − pᵗ(T))/T, keeps its size as T grows.
    KL and the cross-entropy H(pᵗ(T), p(T)) differ by the teacher's entropy, a constant.
    """
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta <= 1:
        raise ValueError(f"beta must be a real number in [0, 1], got {beta!r}")
    soft = distillation_loss(student_logits, teacher_logits, labels, temperature, 1.0)
    p_t = F.softmax(teacher_logits.detach().double() / temperature, dim=-1)
    teacher_entropy = -(p_t * p_t.clamp_min(1e-300).log()).sum(-1).mean().to(soft.dtype)
    hard = F.cross_entropy(student_logits, labels) if beta < 1 else soft.new_zeros(())
    return (1 - beta) * hard + beta * temperature ** 2 * (soft - teacher_entropy)


def logit_matching_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                        hard_weight: float = 0.4, logit_weight: float = 0.6) -> torch.Tensor:
    """hard_weight · H(y, p) + logit_weight · ½ Σ_k (z_s,k − z_t,k)², each averaged over the batch.

    The loss of the paper's MNIST students (0.4 and 0.6). Squared error on logits is distillation
    in Hinton et al.'s high-temperature limit; no temperature enters.
    """
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the shape of student_logits {tuple(student_logits.shape)}, "
                         f"got {tuple(teacher_logits.shape)}")
    hard = F.cross_entropy(student_logits, labels)
    matching = 0.5 * (student_logits - teacher_logits.detach()).pow(2).sum(1).mean()
    return hard_weight * hard + logit_weight * matching


def train_logit_matching(student: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, teacher: torch.nn.Module,
                         cfg: _train.TrainConfig, *, hard_weight: float = 0.4, logit_weight: float = 0.6,
                         device: torch.device | None = None) -> tuple[torch.nn.Module, _train.History]:
    """Train ``student`` with ``logit_matching_loss`` against ``teacher`` on the same augmented batch:
    the engine ``lsutils.train.train`` with its teacher loss replaced. ``cfg.eps`` and the
    ``distill_*`` fields are not used."""
    loss_fn = functools.partial(logit_matching_loss, hard_weight=hard_weight, logit_weight=logit_weight)
    return _train.train(student, images, labels, cfg, teacher=teacher, loss_fn=loss_fn, device=device)
