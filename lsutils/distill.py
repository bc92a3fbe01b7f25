"""Knowledge distillation as Müller, Kornblith & Hinton (2019, Sec. 4) run it.

* ``distillation_loss`` — (1 − β)·H(y, p) + β·H(pᵗ(T), p(T_s)); it lives in ``lsutils.losses``
  (re-exported here) and its docstring says why it carries no T² factor.
* ``TemperedTeacher`` — a teacher whose logits are divided by T. The paper's student is fixed at
  temperature 1 while the teacher is read at T; ``lsutils.train`` applies one temperature to both,
  so passing ``TemperedTeacher(teacher, T)`` with ``distill_temperature=1`` gives exactly
  H(softmax(z_t / T), softmax(z_s)).
* ``equivalent_smoothing`` — the paper's γ, the label smoothing a teacher's targets amount to.
* ``logit_matching_loss`` / ``train_logit_matching`` — the MNIST student of the paper's text
  (after Hinton et al. 2015): 0.4 × hard cross-entropy + 0.6 × half squared error on the logits.
"""

from __future__ import annotations

import math
import numbers
import time

import torch
import torch.nn.functional as F
from torch import nn

from lsutils import train as _train
from lsutils.losses import distillation_loss
from lsutils.targets import check_labels

__all__ = ["distillation_loss", "TemperedTeacher", "equivalent_smoothing", "logit_matching_loss",
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
    check_labels(labels, k)
    if labels.shape != (n,) or n == 0:
        raise ValueError(f"labels must have shape ({n},) with N ≥ 1, got {tuple(labels.shape)}")
    p = teacher_probs.double()
    if bool((p < 0).any()) or float((p.sum(1) - 1).abs().max()) > 1e-4:
        raise ValueError("teacher_probs rows must be non-negative and sum to 1")
    wrong_mass = 1.0 - p.gather(1, labels.view(-1, 1)).squeeze(1)
    return float(wrong_mass.mean() * k / (k - 1))


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
    """Train ``student`` with ``logit_matching_loss`` against ``teacher`` on the same augmented batch.

    A minimal copy of ``lsutils.train.train`` (same batch order, augmentation, SGD, weight decay and
    schedule for the same ``cfg`` and seed; float32, no hooks) whose only change is the loss —
    the engine has no slot for a loss other than its own. ``cfg.eps`` and the ``distill_*`` fields
    are ignored.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or labels.shape != (len(images),):
        raise ValueError("images must be uint8 (N, C, H, W) and labels (N,)")
    device = device or _train.default_device()
    gen = _train.seed_everything(cfg.seed, device)
    student, teacher = student.to(device), teacher.to(device).eval()
    x_all, y_all = images.to(device), labels.to(device)
    check_labels(labels, student.classifier.out_features)
    n = len(x_all)
    per_epoch = max(1, n // cfg.batch_size)
    total = max(1, round(cfg.epochs * per_epoch))
    opt = torch.optim.SGD(_train._param_groups(student, cfg), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov and cfg.momentum > 0)
    hist = _train.History()
    order = torch.empty(0, dtype=torch.long, device=device)
    t0 = time.perf_counter()
    student.train()
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen, device=device)
        idx = order[(step % per_epoch) * cfg.batch_size:(step % per_epoch + 1) * cfg.batch_size]
        x = _train.to_float(_train.augment(x_all[idx], cfg.crop_padding, cfg.flip, gen))
        lr = _train.lr_at(step, total, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.no_grad():
            t_logits = teacher(x)
        loss = logit_matching_loss(student(x), t_logits, y_all[idx], hard_weight, logit_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
        opt.step()
        if step % 50 == 0 or step == total - 1:
            hist.step.append(step + 1)
            hist.loss.append(loss.item())
            hist.lr.append(lr)
    hist.images_per_s = total * cfg.batch_size / (time.perf_counter() - t0)
    student.eval()
    return student, hist
