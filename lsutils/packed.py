"""Train many runs of one architecture at once: every seed × ε of a grid in one optimiser step.

A small network spends most of a GPU step launching kernels (ResNet-56 at batch 128 issues more
than a thousand per step). ``train_packed`` trains R runs of the same architecture in one step, so
that cost is paid once for all R, and returns R ordinary trained models — run r equals
``train.train(models[r], images, labels, cfgs[r])`` up to floating-point rounding, so each run can
be stored on its own, exactly as before.

Method: ``torch.func``. ``stack_module_state`` stacks the R models' parameters and buffers along a
new leading run dimension; ``functional_call`` on a parameter-less (meta) copy of the model, under
``vmap`` over that dimension, runs all R forwards as one: a convolution becomes one grouped
convolution with R groups, a linear layer one batched matmul, a BatchNorm one BatchNorm over R·C
channels. Why this and not the alternatives:

* grouped convolutions by hand would need a second, packed implementation of every model; vmap
  reuses ``models.py`` as it is (and does the grouping itself);
* one process per run keeps the launch cost R times;
* BatchNorm works unchanged. In training mode it updates ``running_mean``/``running_var`` (and
  ``num_batches_tracked``) in place; because the stacked buffers are passed *through* vmap (batched
  like the input), each in-place update lands in run r's own slice of the stacked buffer. The tests
  check that every run's running statistics equal those of the same run trained alone.
  (Unbatched buffers with a batched input would fail: that is the case torch.func's "patching
  batch norm" note is about.)
* ``vmap(randomness="error")``: nothing random may happen inside the forward. Dropout would draw
  from torch's one global generator, which cannot reproduce R separately seeded runs, so models
  with active dropout are refused (``randomness="different"`` would run, but not reproduce
  ``train.train``).

Data: every run has its own ``torch.Generator``, seeded by ``train.seed_everything`` exactly as
``train.train`` seeds it, and draws from it in the same order (``randperm`` at each epoch, then
``train.augment``'s crop offsets and flip mask per batch), so each run sees the batches and
augmentations it would see alone. The R batches are one gather ``images[idx]`` with ``idx`` of
shape (R, B); the data set lives on the device once for all runs.

Optimiser: one ``torch.optim.SGD`` over the stacked tensors, with ``train._param_groups``'s
weight-decay groups and ``train.lr_at``'s schedule. SGD with momentum, Nesterov and weight decay is
elementwise, so it acts on each run's slice exactly as on that run alone. The loss is the **sum
over runs of each run's mean loss**, so run r's gradient is its own. Gradient clipping (the
presets' ``grad_clip``) is done per run: run r's gradients are scaled by its own global norm,
as ``nn.utils.clip_grad_norm_`` does for one model.

Loss: per run, ``train.training_loss``'s loss for that run's ε, convention and confidence penalty.
When every run uses the "uniform" convention (the common case) it is computed for all runs at
once, ``(1 − ε_r)·NLL + ε_r·mean_k(−log p_k) − β_r·H``, which is ``F.cross_entropy(label_smoothing=ε)``
written out; otherwise one ``training_loss`` call per run. ``_run_losses`` is the one place that
maps (logits, labels) of all runs to their R losses: a per-run target (e.g. a teacher × T
distillation grid, with teacher logits from a second vmapped ``functional_call``) would be added
there.

On CUDA, as ``train.train``: bf16 autocast and channels_last. The input and the stacked conv
weights are laid out so that vmap's grouped convolution sees channels_last tensors without a copy
(input memory (B, H, W, R, C), weights (R, O, kH, kW, C)).
"""

from __future__ import annotations

import copy
import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from lsutils.losses import entropy
from lsutils.targets import check_labels
from lsutils.train import (History, TrainConfig, _autocast, _param_groups, _prepare, augment, default_device,
                           lr_at, seed_everything, steps_per_epoch, to_float, total_steps,
                           training_loss)

__all__ = ["PER_RUN_FIELDS", "UNSUPPORTED", "check_configs", "train_packed"]

PER_RUN_FIELDS: tuple[str, ...] = ("seed", "eps", "convention", "confidence_penalty")
"""TrainConfig fields that may differ between the runs of one pack; all others must be equal."""

UNSUPPORTED: dict[str, object] = {"mixup_alpha": 0.0, "class_weight": (), "compile": False}
"""TrainConfig fields ``train_packed`` supports only at these values."""


def check_configs(cfgs: list[TrainConfig]) -> TrainConfig:
    """Raise ValueError, naming the field, unless ``cfgs`` can be trained as one pack; return the
    shared part (``cfgs[0]``)."""
    cfgs = list(cfgs)
    if not cfgs:
        raise ValueError("cfgs must hold at least one TrainConfig")
    for cfg in cfgs:
        if not isinstance(cfg, TrainConfig):
            raise ValueError(f"cfgs must hold TrainConfig objects, got {cfg!r:.80}")
        for name, off in UNSUPPORTED.items():
            if getattr(cfg, name) != off:
                raise ValueError(f"train_packed does not support {name}={getattr(cfg, name)!r} "
                                 f"(only {off!r}); train these runs with train.train")
    for f in dataclasses.fields(TrainConfig):
        if f.name in PER_RUN_FIELDS:
            continue
        first = getattr(cfgs[0], f.name)
        for cfg in cfgs[1:]:
            if getattr(cfg, f.name) != first:
                raise ValueError(f"the runs of one pack may differ only in {PER_RUN_FIELDS}; "
                                 f"{f.name} differs: {first!r} vs {getattr(cfg, f.name)!r}")
    return cfgs[0]


def _check_models(models: list[nn.Module]) -> None:
    if len({id(m) for m in models}) != len(models):
        raise ValueError("models must be distinct modules (the same module appears twice)")
    ref = models[0]
    shapes = {n: t.shape for n, t in (*ref.named_parameters(), *ref.named_buffers())}
    for m in models[1:]:
        if type(m) is not type(ref) or shapes != {n: t.shape for n, t in (*m.named_parameters(),
                                                                          *m.named_buffers())}:
            raise ValueError("models must share one architecture: same class, same parameter and buffer "
                             f"names and shapes ({type(ref).__name__} vs {type(m).__name__})")
    for m in ref.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            raise ValueError(f"dropout (p={m.p}) is not supported by train_packed: it draws from torch's global "
                             "generator, which cannot reproduce separately seeded runs")


def _channels_last(device: torch.device, cfg: TrainConfig) -> bool:
    return device.type == "cuda" and cfg.channels_last


def _packed_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 (R, B, C, H, W) → float in [−1, 1]; with ``channels_last``, stored as (B, H, W, R, C),
    which is channels_last for the grouped convolution (B, R·C, H, W) that vmap makes of it."""
    if channels_last and x.dim() == 5:
        x = x.permute(1, 3, 4, 0, 2).contiguous().permute(3, 0, 4, 1, 2)
    return to_float(x)  # .float() keeps the strides


def _channels_last_weights(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stacked conv weights (R, O, C, kH, kW), stored as (R, O, kH, kW, C): channels_last once vmap
    flattens them to (R·O, C, kH, kW)."""
    out = {}
    for name, p in params.items():
        if p.dim() == 5:
            p = (p.detach().permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
                 .requires_grad_(p.requires_grad))
        out[name] = p
    return out


def _run_losses(logits: torch.Tensor, labels: torch.Tensor, cfgs: list[TrainConfig],
                eps: torch.Tensor, beta: torch.Tensor | None) -> torch.Tensor:
    """Each run's mean training loss, shape (R,), for float ``logits`` (R, B, K) and ``labels`` (R, B).

    All "uniform": ``F.cross_entropy(label_smoothing=ε_r)`` written out for all runs at once
    (it holds for ε < 0 too, where ``training_loss`` takes ``smoothed_cross_entropy``); otherwise
    ``train.training_loss`` run by run. A per-run target (teacher, T) would be added here.
    """
    if all(c.convention == "uniform" for c in cfgs):
        logp = F.log_softmax(logits, dim=-1)
        nll = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)
        smooth = -logp.mean(-1).mean(-1)
        loss = (1 - eps) * nll + eps * smooth
        if beta is not None:
            loss = loss - beta * entropy(logits).mean(-1)
        return loss
    return torch.stack([training_loss(logits[r], labels[r], cfg) for r, cfg in enumerate(cfgs)])


def _clip_per_run(grads: list[torch.Tensor], max_norm: float) -> None:
    """``nn.utils.clip_grad_norm_`` for each run's slice: run r's gradients scaled by
    min(1, max_norm / (‖g_r‖ + 1e-6)), ‖g_r‖ the 2-norm over all its parameters."""
    runs = grads[0].shape[0]
    norms = torch.linalg.vector_norm(torch.cat([g.reshape(runs, -1) for g in grads], 1), dim=1)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


def train_packed(models: list[nn.Module], images: torch.Tensor, labels: torch.Tensor, cfgs: list[TrainConfig],
                 device: torch.device | None = None, progress: bool = False
                 ) -> tuple[list[nn.Module], list[History]]:
    """Train R models of one architecture together; run r is ``train.train(models[r], images, labels,
    cfgs[r], device=device)`` up to float rounding (see the module docstring).

    ``models``: R distinct modules of the same class and shapes, initialised as the caller wants
    (the experiments: ``torch.manual_seed(seed); models.build(...)``), without active dropout.
    ``cfgs``: R configs that differ only in ``PER_RUN_FIELDS``, none using ``UNSUPPORTED`` features.
    Returns the same R module objects, trained, on ``device``, in eval mode, and one ``History`` per
    run (its losses that run's; ``images_per_s`` per run, i.e. the pack's rate divided by R).
    Like ``train.train`` it reseeds torch's global generator (``seed_everything``), here once per run,
    so afterwards it is seeded with ``cfgs[-1].seed``; training itself draws nothing from it.
    """
    models, cfgs = list(models), list(cfgs)
    cfg = check_configs(cfgs)
    if len(models) != len(cfgs):
        raise ValueError(f"models and cfgs must have the same length, got {len(models)} and {len(cfgs)}")
    _check_models(models)
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    device = device or default_device()
    gens = [seed_everything(c.seed, device) for c in cfgs]  # as train.train, before anything else
    models = [_prepare(m, device, cfg).train() for m in models]
    labels = check_labels(labels, models[0].classifier.out_features)  # once: no host sync in the loop
    x_all, y_all = images.to(device), labels.to(device)

    channels_last = _channels_last(device, cfg)
    params, buffers = stack_module_state(models)
    if channels_last:
        params = _channels_last_weights(params)
    name_of = {id(p): name for name, p in models[0].named_parameters()}
    groups = [{**g, "params": [params[name_of[id(p)]] for p in g["params"]]} for g in _param_groups(models[0], cfg)]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    trainable = [p for g in groups for p in g["params"] if p.requires_grad]

    base = copy.deepcopy(models[0]).to("meta").train()  # the architecture only; tensors come from the stacks

    def one_run(p, b, x):
        return functional_call(base, (p, b), (x,))

    forward = vmap(one_run, randomness="error")
    eps = torch.tensor([c.eps for c in cfgs], dtype=torch.float32, device=device)
    beta = (torch.tensor([c.confidence_penalty for c in cfgs], dtype=torch.float32, device=device)
            if any(c.confidence_penalty for c in cfgs) else None)

    n, runs, bs = len(x_all), len(models), cfg.batch_size
    per_epoch, total = steps_per_epoch(n, bs), total_steps(n, cfg.epochs, bs)
    hists = [History() for _ in models]
    order = torch.empty(0, dtype=torch.long, device=device)
    t0 = time.perf_counter()
    for step in tqdm(range(total), disable=not progress, desc="train_packed", leave=False):
        if step % per_epoch == 0:
            order = torch.stack([torch.randperm(n, generator=g, device=device) for g in gens])
        idx = order[:, (step % per_epoch) * bs:(step % per_epoch + 1) * bs]   # (R, B)
        xb = x_all[idx]                                                        # (R, B, C, H, W)
        x = torch.stack([augment(xb[r], cfg.crop_padding, cfg.flip, gens[r]) for r in range(runs)])
        x = _packed_input(x, channels_last)
        y = y_all[idx]
        lr = lr_at(step, total, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        with _autocast(device, cfg):
            logits = forward(params, buffers, x)
            losses = _run_losses(logits.float(), y, cfgs, eps, beta)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # Σ_r of each run's mean loss: run r's gradient is its own
        grads = [p.grad for p in trainable if p.grad is not None]
        if cfg.grad_clip and grads:
            _clip_per_run(grads, cfg.grad_clip)
        opt.step()
        if step % 50 == 0 or step == total - 1:
            for h, value in zip(hists, losses.detach().tolist()):
                h.step.append(step + 1)
                h.loss.append(value)
                h.lr.append(lr)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_run_rate = total * bs / (time.perf_counter() - t0)
    with torch.no_grad():
        for r, (m, h) in enumerate(zip(models, hists)):
            for name, p in m.named_parameters():
                p.copy_(params[name][r])
            for name, b in m.named_buffers():
                b.copy_(buffers[name][r])
            h.images_per_s = per_run_rate
            m.eval()
    return models, hists
