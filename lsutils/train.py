"""The book's one training loop.

Data live on the device as uint8 tensors; each batch is gathered, augmented (random crop with
padding, horizontal flip) and normalised as a whole on the device — no DataLoader and no
per-sample Python in the inner loop. On a GPU it adds bf16 autocast and the channels-last memory
layout, optionally ``torch.compile``. The same code runs on the CPU, where the same seed gives
the same result.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lsutils.losses import check_class_weight, distillation_loss, entropy, smoothed_cross_entropy
from lsutils.targets import check_convention, check_eps, check_labels

SCHEDULES = ("constant", "step", "cosine", "onecycle")
_NEW = {"omit_if_default": True}
HISTORY_EVERY = 50   # steps between the losses ``History`` records (each one a host sync already)
CHECK_EVERY = 200    # steps between the checks that the loss stayed finite; a multiple of HISTORY_EVERY
_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its last train() run, described
config_hook: Callable | None = None
"""``hook(model, images, cfg, teacher) -> cfg``, called once per :func:`train` call before its
loop (``lsutils.dryrun`` sets it: a dry run records the planned run and cuts it to a few steps);
None, the default, trains as configured."""


class DivergedError(FloatingPointError):
    """A run diverged: its loss, its weights or its outputs turned NaN or infinite.

    ``train`` raises it instead of returning a model that is numerically dead (its accuracy would
    be chance and still look like a result), so a run that diverges is never stored: the results
    memo stores only what a run's compute returns. ``step`` is the 1-based step (as in
    ``History.step``) at which it was seen, or None outside training; ``run`` describes the run
    (network, learning rate, epochs, loss, seed). All arguments go to ``args``, so the exception
    pickles, e.g. back from a worker process.
    """

    def __init__(self, message: str, step: int | None = None, run: str = ""):
        super().__init__(message, step, run)
        self.message, self.step, self.run = message, step, run

    def __str__(self) -> str:
        return self.message


# Real-valued TrainConfig fields: (name, test, allowed range as printed).
_REAL_FIELDS = (
    ("lr", lambda v: 0 <= v < math.inf, "[0, inf)"),
    ("momentum", lambda v: 0 <= v < 1, "[0, 1)"),
    ("weight_decay", lambda v: 0 <= v < math.inf, "[0, inf)"),
    ("gamma", lambda v: 0 < v <= 1, "(0, 1]"),
    ("warmup", lambda v: 0 <= v < 1, "[0, 1)"),
    ("grad_clip", lambda v: 0 <= v < math.inf, "[0, inf)"),
    ("distill_temperature", lambda v: 0 < v < math.inf, "(0, inf)"),
    ("distill_beta", lambda v: 0 <= v <= 1, "[0, 1]"),
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (frozen, so it can be part of an experiment config)."""

    #: Passes over the training set; may be fractional.
    epochs: float = 10.0
    #: Images per optimiser step (the last partial batch of an epoch is dropped).
    batch_size: int = 128
    #: The learning rate that ``schedule`` scales over training.
    lr: float = 0.1
    #: SGD momentum; 0 gives plain SGD.
    momentum: float = 0.9
    #: Nesterov momentum (when ``momentum`` > 0).
    nesterov: bool = True
    #: Weight decay (an L2 penalty in SGD), on the parameters ``weight_decay_scope`` names.
    weight_decay: float = 5e-4
    #: ``"all"`` (every parameter), or ``"hidden_dense"`` (the Linear layers but the classifier).
    weight_decay_scope: str = "all"
    #: The learning-rate schedule, one of ``SCHEDULES`` — ``"constant"``, ``"step"``, ``"cosine"``
    #: (to zero) or ``"onecycle"`` (a linear rise, then a linear fall to zero).
    schedule: str = "cosine"
    #: With ``"step"``, the fractions of training at which the learning rate is multiplied by
    #: ``gamma``.
    milestones: tuple[float, ...] = (0.5, 0.75)
    #: With ``"step"``, the factor applied at each milestone.
    gamma: float = 0.1
    #: With ``"onecycle"``, the fraction of the steps spent rising.
    warmup: float = 0.15
    #: The largest global gradient norm; 0 turns clipping off.
    grad_clip: float = 0.0
    #: The label-smoothing ε; a negative ε is negative label smoothing.
    eps: float = 0.0
    #: How ε spreads over the classes, ``"uniform"`` (over all K) or ``"others"`` (over the
    #: K − 1 wrong ones); see ``lsutils.targets``.
    convention: str = "uniform"
    # Added after results were stored: at their defaults they are left out of a config's identity
    # (results._jsonable), so those results stay current.
    #: One weight per class; ``()`` for unweighted.
    class_weight: tuple[float, ...] = field(default=(), metadata=_NEW)
    #: How class weights meet smoothing, ``"per_example"`` or ``"torch"`` (see
    #: :func:`training_loss`).
    class_weight_smoothing: str = field(default="per_example", metadata=_NEW)
    #: The confidence penalty β of Pereyra et al. (2017), which subtracts β times the prediction's
    #: entropy H(p) from the loss.
    confidence_penalty: float = field(default=0.0, metadata=_NEW)
    #: Mixup's α; each batch mixes with λ ~ Beta(α, α), and 0 turns mixup off.
    mixup_alpha: float = field(default=0.0, metadata=_NEW)
    #: Random crop after zero-padding this many pixels on each side (0 for no crop).
    crop_padding: int = 0
    #: Random horizontal flip.
    flip: bool = False
    #: The seed of the run's initial weights and batch order.
    seed: int = 0
    #: Steps between calls of the hooks (0 for only at the end).
    eval_every: int = 0
    #: The teacher's temperature T (with a teacher).
    distill_temperature: float = 1.0
    #: The weight of the teacher's term (with a teacher).
    distill_beta: float = 1.0
    #: bf16 autocast, on a GPU only.
    bf16: bool = True
    #: bf16 autocast on the CPU as well (AMX/AVX-512 BF16 make a dense layer about 2–3× faster
    #: there); evaluation (``predict_logits``) stays in float32 on the CPU either way.
    cpu_bf16: bool = field(default=False, metadata=_NEW)
    #: Channels-last memory layout, on a GPU only.
    channels_last: bool = True
    #: Compile the model with ``torch.compile``.
    compile: bool = False

    def __post_init__(self):
        check_eps(self.eps, allow_negative=True)
        check_convention(self.convention)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.weight_decay_scope not in ("all", "hidden_dense"):
            raise ValueError(f"weight_decay_scope must be 'all' or 'hidden_dense', got {self.weight_decay_scope!r}")
        if self.class_weight_smoothing not in ("per_example", "torch"):
            raise ValueError("class_weight_smoothing must be 'per_example' or 'torch', "
                             f"got {self.class_weight_smoothing!r}")
        if self.class_weight and self.class_weight_smoothing == "torch" and (
                self.convention != "uniform" or self.eps < 0):
            raise ValueError("class_weight_smoothing='torch' is PyTorch's fused loss: it needs "
                             f"convention='uniform' and eps >= 0, got {self.convention!r} and {self.eps}")
        if self.class_weight:
            check_class_weight(self.class_weight, len(self.class_weight))
        for name in ("confidence_penalty", "mixup_alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not self.epochs > 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be > 0 and batch_size ≥ 1, got {self.epochs}, {self.batch_size}")
        for name, ok, allowed in _REAL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ValueError(f"{name} must be a real number in {allowed}, got {value!r}")
        if list(self.milestones) != sorted(self.milestones) or not all(0 < m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be increasing fractions in (0, 1), got {self.milestones!r}")
        for name in ("crop_padding", "seed", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


@dataclass
class History:
    """What :func:`train` records of a run: the training loss and learning rate every
    ``HISTORY_EVERY`` steps (``step``, ``loss``, ``lr``), the hooks' outputs (``evals``, one dict
    per call, with its ``step``) and the training throughput in images per second."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)   # {"step": s, **hook outputs}
    images_per_s: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one pass over ``n`` images: max(1, ⌊n / batch_size⌋). The last partial
    batch is dropped, so every step sees ``batch_size`` images."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0 (images), got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return max(1, n // batch_size)


def total_steps(n: int, epochs: float, batch_size: int) -> int:
    """Optimiser steps of a run: max(1, round(epochs · steps_per_epoch(n, batch_size)))."""
    if not (isinstance(epochs, (int, float)) and 0 < epochs < math.inf):
        raise ValueError(f"epochs must be a finite number > 0, got {epochs!r}")
    return max(1, round(epochs * steps_per_epoch(n, batch_size)))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int, device: torch.device) -> torch.Generator:
    """Seed torch's global RNG (initialisation, dropout) and return a generator on ``device`` for
    batch order and augmentation, so those do not depend on what else drew random numbers."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] → float in [−1, 1]: one fixed map for every split and data set."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise ValueError(f"images must be a uint8 torch.Tensor (pixels in [0, 255]), got "
                         f"{images.dtype if isinstance(images, torch.Tensor) else type(images).__name__}")
    return images.float().div_(127.5).sub_(1.0)


def augment(images: torch.Tensor, padding: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding) and horizontal flip for a whole batch at once.

    Each image gets its own offset (dy, dx) ∈ [0, 2·padding]²; the crop is one gather with
    index grids, so the cost does not depend on Python per image.
    """
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a 4-D (N, C, H, W) tensor, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    n, _, h, w = images.shape
    if padding:
        padded = F.pad(images, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=gen, device=images.device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=gen, device=images.device)
        rows = dy + torch.arange(h, device=images.device).view(1, h, 1)
        cols = dx + torch.arange(w, device=images.device).view(1, 1, w)
        batch = torch.arange(n, device=images.device).view(n, 1, 1)
        images = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mask = torch.rand(n, generator=gen, device=images.device) < 0.5
        images = torch.where(mask.view(n, 1, 1, 1), images.flip(3), images)
    return images


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    if cfg.weight_decay_scope == "all":
        return [{"params": list(model.parameters()), "weight_decay": cfg.weight_decay}]
    decayed = [m.weight for m in model.modules() if isinstance(m, nn.Linear) and m is not model.classifier]
    ids = {id(p) for p in decayed}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": decayed, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate after ``step`` of ``total`` steps under ``cfg.schedule``."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"total must be an integer >= 0, got {total!r}")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= total:
        raise ValueError(f"step must be an integer in [0, total] = [0, {total}], got {step!r}")
    t = step / max(total, 1)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(t >= m for m in cfg.milestones)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))
    # onecycle: linear rise over the warmup fraction, then linear decay to zero
    return cfg.lr * (t / cfg.warmup if t < cfg.warmup else (1 - t) / (1 - cfg.warmup))


def _autocast(device: torch.device, cfg: TrainConfig):
    enabled = cfg.bf16 and (device.type == "cuda" or cfg.cpu_bf16)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _prepare(model: nn.Module, device: torch.device, cfg: TrainConfig) -> nn.Module:
    model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _batch_input(x: torch.Tensor, device: torch.device, cfg: TrainConfig) -> torch.Tensor:
    x = to_float(x)
    if device.type == "cuda" and cfg.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def training_loss(logits: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
                  class_weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""The mean training loss of ``cfg`` without a teacher:
    :math:`\sum_i w_{y_i} \ell_i / \sum_i w_{y_i}` with :math:`\ell_i` the smoothed
    cross-entropy (ε, convention), minus ``cfg.confidence_penalty`` times the mean entropy
    :math:`H(p_i)` of the predictions. ``class_weight`` (K,) on the logits' device, or None
    (all w = 1; ``cfg.class_weight`` is only the frozen record of it). Only shapes and dtypes are
    checked here (so the check costs nothing per step); label values are checked once by ``train``.

    With weights, ``cfg.class_weight_smoothing`` decides what :math:`\ell_i` is weighted by:
    ``"per_example"`` multiplies example i's whole smoothed loss by :math:`w_{y_i}`;
    ``"torch"`` is ``F.cross_entropy(weight=w, label_smoothing=ε)``, whose smoothing term weighs
    :math:`\log p_k` by :math:`w_k` (``theory.torch_weighted_optimum``). Both agree at ε = 0.
    """
    if logits.dim() != 2 or not logits.dtype.is_floating_point:
        raise ValueError(f"logits must be a floating-point (N, K) tensor, got {logits.dtype} {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1] or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices of shape ({logits.shape[0]},), "
                         f"got {labels.dtype} {tuple(labels.shape)}")
    if class_weight is None:
        if cfg.convention == "uniform" and cfg.eps >= 0:  # the fused loss is this convention exactly
            loss = F.cross_entropy(logits, labels, label_smoothing=cfg.eps)
        else:
            loss = smoothed_cross_entropy(logits, labels, cfg.eps, cfg.convention, allow_negative=True)
    else:
        if cfg.class_weight_smoothing == "torch":
            per = F.cross_entropy(logits, labels, weight=class_weight, label_smoothing=cfg.eps, reduction="none")
        else:  # smoothed_cross_entropy(class_weight=) would re-validate w, a host sync, every step
            per = smoothed_cross_entropy(logits, labels, cfg.eps, cfg.convention, "none",
                                         allow_negative=True) * class_weight[labels]
        loss = per.sum() / class_weight[labels].sum()
    if cfg.confidence_penalty:
        loss = loss - cfg.confidence_penalty * entropy(logits).mean()
    return loss


BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``batch_loss(model, x, y, idx)``: the loss of one batch (``idx``: its rows in the training set)."""


def _label_loss(cfg: TrainConfig, weight: torch.Tensor | None) -> BatchLoss:
    """``training_loss`` of the batch's logits against its labels."""
    def batch_loss(model, x, y, idx):
        return training_loss(model(x).float(), y, cfg, weight)
    return batch_loss


def _mixup_loss(cfg: TrainConfig, weight: torch.Tensor | None, gen: torch.Generator) -> BatchLoss:
    """Mixup (Zhang et al. 2018): the batch mixed with a permutation of itself,
    x̃ = λx + (1 − λ)x[π], λ ~ Beta(α, α); loss λ·L(z̃, y) + (1 − λ)·L(z̃, y[π])."""
    lam_rng = np.random.default_rng(cfg.seed)  # λ drawn on the host, so no device sync per step

    def batch_loss(model, x, y, idx):
        lam = float(lam_rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
        perm = torch.randperm(len(x), generator=gen, device=x.device)
        logits = model(lam * x + (1 - lam) * x[perm]).float()
        return lam * training_loss(logits, y, cfg, weight) + (1 - lam) * training_loss(logits, y[perm], cfg, weight)
    return batch_loss


def _teacher_loss(cfg: TrainConfig, teacher: nn.Module | None, teacher_logits: torch.Tensor | None,
                  loss_fn: Callable | None) -> BatchLoss:
    """A student's loss against its teacher's logits of the same batch (the teacher's forward pass,
    or the rows of logits computed once): ``loss_fn``, else ``distillation_loss``."""
    def batch_loss(model, x, y, idx):
        logits = model(x)
        if teacher_logits is not None:
            t_logits = teacher_logits[idx]
        else:
            with torch.no_grad():
                t_logits = teacher(x)
        if loss_fn is not None:
            return loss_fn(logits.float(), t_logits.float(), y)
        return distillation_loss(logits.float(), t_logits.float(), y, cfg.distill_temperature, cfg.distill_beta,
                                 eps=cfg.eps)
    return batch_loss


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, *,
          teacher: nn.Module | None = None, teacher_logits: torch.Tensor | None = None,
          loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
          hooks: dict[str, Callable[[nn.Module], object]] | None = None,
          device: torch.device | None = None, progress: bool = False) -> tuple[nn.Module, History]:
    """Train ``model`` on uint8 ``images`` (N, C, H, W) and int64 ``labels`` (N,).

    Loss: ``smoothed_cross_entropy(z, y, cfg.eps)``; with a ``teacher``,
    ``distillation_loss(z, teacher(x), y, cfg.distill_temperature, cfg.distill_beta, eps=cfg.eps)``
    on the same augmented batch; ``loss_fn(student_logits, teacher_logits, labels)`` replaces that
    teacher loss (e.g. logit matching). ``teacher_logits`` (N, K), the teacher's logits of
    ``images`` computed once, replaces a ``teacher`` when batches are not augmented (no crop, flip
    or mixup): then teacher(x) of a batch is exactly its rows, and a student costs no teacher
    forward pass. SGD with (Nesterov) momentum, weight decay, ``cfg.schedule``,
    optional gradient clipping. ``hooks`` are called in eval mode under ``no_grad`` every
    ``cfg.eval_every`` steps and at the end; their outputs land in ``history.evals``.

    Raises ``DivergedError`` (naming the run and the step) when a loss turns NaN or infinite, so a
    diverged run is never returned. The losses are kept on the device and checked every
    ``CHECK_EVERY`` steps, before the hooks and at the end, at steps that sync anyway; the weights
    are checked once after the last step. The checks only read: results do not change.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    if teacher is not None and teacher_logits is not None:
        raise ValueError("pass a teacher or teacher_logits, not both")
    if teacher_logits is not None:
        _check_teacher_logits(teacher_logits, len(images), model.classifier.out_features, cfg)
    if loss_fn is not None and teacher is None and teacher_logits is None:
        raise ValueError("loss_fn needs a teacher: it is called as loss_fn(student_logits, teacher_logits, labels)")
    device = device or default_device()
    gen = seed_everything(cfg.seed, device)
    model = _prepare(model, device, cfg)
    if teacher is not None:
        teacher = _prepare(teacher, device, cfg).eval()
    step_fn = torch.compile(model) if cfg.compile else model
    labels = check_labels(labels, model.classifier.out_features)  # once: no host sync in the loop
    x_all, y_all = images.to(device), labels.to(device)
    t_all = None if teacher_logits is None else teacher_logits.float().to(device)
    weight = None
    if cfg.class_weight:
        if len(cfg.class_weight) != model.classifier.out_features:
            raise ValueError(f"class_weight must hold {model.classifier.out_features} weights (one per class), "
                             f"got {len(cfg.class_weight)}")
        weight = torch.tensor(cfg.class_weight, dtype=torch.float32, device=device)
    if cfg.mixup_alpha and teacher is not None:
        raise ValueError("mixup_alpha > 0 is not supported with a teacher")
    distilled = teacher is not None or t_all is not None
    batch_loss = (_teacher_loss(cfg, teacher, t_all, loss_fn) if distilled
                  else _mixup_loss(cfg, weight, gen) if cfg.mixup_alpha else _label_loss(cfg, weight))
    n = len(x_all)
    if config_hook is not None:   # a dry run: cfg cut to a few steps, the planned run recorded
        cfg = config_hook(model, images, cfg, teacher)
    per_epoch, total = steps_per_epoch(n, cfg.batch_size), total_steps(n, cfg.epochs, cfg.batch_size)
    opt = torch.optim.SGD(_param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov and cfg.momentum > 0)
    hist, hooks = History(), hooks or {}
    order = torch.empty(0, dtype=torch.long, device=device)
    run = _describe_run(model, cfg, distilled, loss_fn)
    _RUNS[model] = run  # so that predict_logits can name the run if the model's outputs are not finite
    recent: list[torch.Tensor] = []   # this window's losses, detached: no device op, no sync per step
    t0 = time.perf_counter()
    model.train()
    for step in tqdm(range(total), disable=not progress, desc="train", leave=False):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen, device=device)
        idx = order[(step % per_epoch) * cfg.batch_size:(step % per_epoch + 1) * cfg.batch_size]
        x = _batch_input(augment(x_all[idx], cfg.crop_padding, cfg.flip, gen), device, cfg)
        lr = lr_at(step, total, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        with _autocast(device, cfg):
            loss = batch_loss(step_fn, x, y_all[idx], idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        recent.append(loss.detach())
        if step % HISTORY_EVERY == 0 or step == total - 1:
            hist.step.append(step + 1)
            hist.loss.append(loss.item())
            hist.lr.append(lr)
        hooks_due = bool(hooks) and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or step == total - 1)
        # at a step that syncs anyway (loss.item() above, or the hooks), so the check adds no sync
        if step % CHECK_EVERY == 0 or step == total - 1 or hooks_due:
            _check_losses(recent, step + 1 - len(recent), total, run)
            recent = []
        if hooks_due:
            hist.evals.append({"step": step + 1, **_run_hooks(model, hooks)})
    if device.type == "cuda":
        torch.cuda.synchronize()
    hist.images_per_s = total * cfg.batch_size / (time.perf_counter() - t0)
    _check_weights(model, total, run)
    model.eval()
    return model, hist


def _check_losses(losses: list[torch.Tensor], first: int, total: int, run: str) -> None:
    """Raise ``DivergedError`` if a loss of steps ``first``, ``first`` + 1, … (0-based) is not finite."""
    if not losses:
        return
    finite = torch.isfinite(torch.stack([loss if loss.dim() == 0 else loss.reshape(()) for loss in losses]))
    if bool(finite.all()):
        return
    at = int((~finite).nonzero()[0])
    step = first + at + 1
    raise DivergedError(f"training diverged: the loss is {float(losses[at])} at step {step} of {total} "
                        f"(seen at step {first + len(losses)}); run: {run}. A lower learning rate or gradient "
                        "clipping may train it", step, run)


def _check_weights(model: nn.Module, total: int, run: str) -> None:
    """Raise ``DivergedError`` if a parameter or buffer of the trained ``model`` is not finite
    (e.g. the last step's update overflowed): once, after training."""
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.dtype.is_floating_point]
    if not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        return
    names = [name for name, t in (*model.named_parameters(), *model.named_buffers())
             if t.dtype.is_floating_point and not bool(torch.isfinite(t).all())]
    raise DivergedError(f"training diverged: after the last step ({total}) the weights are not finite "
                        f"({', '.join(names[:4])}{', …' if len(names) > 4 else ''}); run: {run}", total, run)


def _describe_model(model: nn.Module) -> str:
    """A short name of ``model``'s network: "MLP 784-512-512-10", "ResNet-8 (width 16)", or its
    class name; with its number of parameters."""
    n = sum(p.numel() for p in model.parameters())
    name = type(model).__name__
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if name == "MLP" and linears:
        name += " " + "-".join(str(w) for w in (linears[0].in_features, *(m.out_features for m in linears)))
    elif name == "ResNet" and hasattr(model, "blocks") and hasattr(model, "stem"):
        name = f"ResNet-{6 * len(model.blocks) // 3 + 2} (width {model.stem[0].out_channels})"
    return f"{name}, {n:,} parameters"


def _describe_fn(fn: Callable) -> str:
    """A loss function's name and its fixed arguments: those of a ``functools.partial``, or the
    numbers a closure (a lambda) holds."""
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in fn.keywords.items()]
        return f"{_describe_fn(fn.func)}({', '.join(args)})" if args else _describe_fn(fn.func)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None) or ()
    held = []
    for var, cell in zip(code.co_freevars if code else (), cells):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            held.append(f"{var}={value!r}")
    return f"{name} [{', '.join(held)}]" if held else name


def _describe_run(model: nn.Module, cfg: TrainConfig, distilled: bool, loss_fn: Callable | None) -> str:
    """What a ``DivergedError`` names: the network, the optimisation, the loss and the seed."""
    parts = [_describe_model(model), f"lr={cfg.lr:g}", f"epochs={cfg.epochs:g}", f"batch_size={cfg.batch_size}",
             f"schedule={cfg.schedule}"]
    if loss_fn is not None:
        parts.append(f"loss={_describe_fn(loss_fn)} (with a teacher)")
    elif distilled:
        parts.append(f"loss=distillation (T={cfg.distill_temperature:g}, beta={cfg.distill_beta:g}, eps={cfg.eps:g})")
    else:
        parts.append(f"eps={cfg.eps:g}" + ("" if cfg.convention == "uniform" else f" ({cfg.convention})"))
    for f in ("confidence_penalty", "mixup_alpha", "grad_clip"):
        if getattr(cfg, f):
            parts.append(f"{f}={getattr(cfg, f):g}")
    if cfg.class_weight:
        parts.append(f"class_weight={cfg.class_weight}")
    parts.append(f"seed={cfg.seed}")
    return ", ".join(parts)


def _check_teacher_logits(logits: torch.Tensor, n: int, k: int, cfg: TrainConfig) -> None:
    if not isinstance(logits, torch.Tensor) or logits.shape != (n, k) or not logits.dtype.is_floating_point:
        raise ValueError(f"teacher_logits must be a floating-point tensor of shape ({n}, {k}) (one row per image), "
                         f"got {logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__} "
                         f"{tuple(getattr(logits, 'shape', ()))}")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("teacher_logits must be finite")
    if cfg.crop_padding or cfg.flip or cfg.mixup_alpha:
        raise ValueError("teacher_logits needs un-augmented batches (crop_padding=0, flip=False, mixup_alpha=0): "
                         "an augmented batch is not the images the logits were computed on; pass teacher= instead")


def _run_hooks(model: nn.Module, hooks: dict[str, Callable[[nn.Module], object]]) -> dict:
    model.eval()
    with torch.no_grad():
        out = {name: fn(model) for name, fn in hooks.items()}
    model.train()
    return out


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1024,
                   device: torch.device | None = None, bf16: bool = True) -> torch.Tensor:
    """Logits for uint8 ``images``, in eval mode, returned on the CPU as float32; ``DivergedError``
    if one is not finite."""
    return _map_batches(model, model.forward, images, batch_size, device, bf16)


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, batch_size: int = 1024,
                     device: torch.device | None = None, bf16: bool = True) -> torch.Tensor:
    """Penultimate activations ``model.features(x)``, on the CPU as float32; ``DivergedError`` if
    one is not finite."""
    return _map_batches(model, model.features, images, batch_size, device, bf16)


def _map_batches(model, fn, images, batch_size, device, bf16) -> torch.Tensor:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty 4-D (N, C, H, W) tensor, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    cfg = TrainConfig(bf16=bf16)
    outs = []
    for i in range(0, len(images), batch_size):
        with _autocast(device, cfg):
            outs.append(fn(_batch_input(images[i:i + batch_size].to(device), device, cfg)).float().cpu())
    model.train(was_training)
    out = torch.cat(outs)
    finite = torch.isfinite(out)  # on the host already: no device sync
    if not bool(finite.all()):
        bad = int((~finite).flatten(1).any(1).sum())
        run = _RUNS.get(model) or f"{_describe_model(model)} (not trained by train.train)"
        raise DivergedError(f"the model's outputs are not finite for {bad} of {len(out)} images: its run diverged; "
                            f"run: {run}", None, run)
    return out


def save_state(model: nn.Module, path: str | os.PathLike) -> None:
    """Save ``model.state_dict()`` only (never a pickled module), atomically."""
    if not str(path) or Path(path).is_dir():
        raise ValueError(f"path must name a file, got {str(path)!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_state(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a state dict saved by ``save_state`` with ``weights_only=True`` (no code runs on load).
    Raises ``FileNotFoundError`` naming ``path`` when it does not exist."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file (save one with save_state)")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
