"""Dry runs and the cost model built on them.

``with dry_run(steps=2, max_images=1024) as ledger:`` runs any code — a whole experiment at any
preset — on the current device with every training call stopped after ``steps`` optimiser steps,
and every ``data.load_split`` cut to its first ``max_images`` images, so that the evaluation code
after training stays cheap too. Nothing else changes: the experiment builds its networks, trains,
evaluates and assembles its result as usual, so a dry run of the ``gpu`` presets on a CPU executes
the code path of the GPU run (CI does this).

How the calls are capped, and what is recorded:

* The two hooks the package offers are set for the block and restored after it: ``train.train``
  passes its config through ``train.config_hook`` (:func:`train_config`) once per call, before its
  loop, which returns the config with its epochs shortened so that the loop runs ``steps`` steps
  (and, with ``max_batch``, a smaller batch: a cheaper dry run on a CPU); ``data.split_hook``
  (:func:`cap_split`) cuts every split. Outside a dry run both hooks are None: no cost, no check.
* Every training call appends a ledger entry: the network (``model``, e.g. "resnet56-w16", and
  ``arch``, the ``models.build`` name), its parameters, forward FLOPs per image
  (``plan.flops_per_image``; a teacher's forward is counted apart), the training images, epochs,
  batch size and the **planned** optimiser steps — those of the real run, not of the dry one.
* The planned steps need the training-set size of the real run. A split cut by the dry run
  (a :class:`CutSplit`) remembers the length it stands for, and so does any prefix ``x[:n]`` of it (the experiments
  cut their training sets that way), so the size is exact for those; a tensor built otherwise
  from a cut split (e.g. a derived task) is scaled by the last cut of the training split and its
  entry says ``n_train_exact: False``.

:func:`plan_preset` dry-runs experiments in a temporary results directory and sums their ledgers;
:func:`cost` turns that into images, FLOPs and seconds at a measured images/s
(``lsutils.plan.estimate``). Only training is counted: evaluation and hooks are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["DEFAULT_IMAGES_PER_S", "CPU_LIMITS", "CUDA_LIMITS", "default_limits", "dry_run",
           "active", "train_config", "cap_split", "model_name", "summarize", "cost", "temporary_results",
           "plan_experiment", "plan_preset", "format_plan"]

DEFAULT_IMAGES_PER_S = 10_000.0
"""Training images/s assumed when none is measured: a deliberately low guess for one H200 and the
largest network of the presets (ResNet-56 at batch 128, bf16, channels_last), so that estimates
err long. An assumption, not a measurement: replace it with ``python -m lsutils bench`` figures."""

CPU_LIMITS: dict = {"max_images": 32, "max_batch": 8}
"""Dry-run limits on a CPU (what CI uses): every data split cut to 32 images and every step to 8,
enough for every experiment's evaluation code to run (all ten classes of Fashion-MNIST appear in
the first 24 images of each split). Measured on two cores, one worker each: all ``gpu`` presets
in about 3 minutes, ``distillation`` (230 runs) the largest part."""

CUDA_LIMITS: dict = {"max_images": 1024, "max_batch": None}
"""Dry-run limits on a GPU: the presets' own batch size (so the memory of a real step is tried)."""


def default_limits(device: str | torch.device | None = None) -> dict:
    """:data:`CUDA_LIMITS` for a CUDA ``device`` (default: CUDA if available), else :data:`CPU_LIMITS`."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return dict(CUDA_LIMITS if torch.device(device).type == "cuda" else CPU_LIMITS)


@dataclass
class _State:
    steps: int
    max_images: int
    ledger: list[dict]
    max_batch: int | None = None
    train_ratio: float = 1.0      # rows / kept rows of the last training split cut
    flops: dict = field(default_factory=dict)


_STATE: _State | None = None


def active() -> bool:
    """True inside :func:`dry_run`."""
    return _STATE is not None


def _prefix_stop(key) -> int | None:
    """n for a key that takes the first rows, ``[:n]`` / ``[0:n]`` / ``[:]`` (-1 for "all"); else None."""
    def is_int(v, value=None) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and (value is None or v == value)

    if not isinstance(key, slice) or not (key.step is None or is_int(key.step, 1)) \
            or not (key.start is None or is_int(key.start, 0)):
        return None
    if key.stop is None:
        return -1
    return key.stop if is_int(key.stop) and key.stop >= 0 else None


class CutSplit(torch.Tensor):
    """A split cut short by a dry run, which remembers how many rows it stands for (``rows``), and
    so does any prefix ``x[:n]`` of it (the experiments cut their training sets that way). Every
    other operation gives a plain tensor, as ``nn.Parameter`` does: nothing else changes."""

    rows: int
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def of(tensor: torch.Tensor, rows: int) -> "CutSplit":
        out = tensor.as_subclass(CutSplit)
        out.rows = rows
        return out

    def __getitem__(self, key):
        out = self.as_subclass(torch.Tensor)[key]
        stop = _prefix_stop(key)
        return out if stop is None else CutSplit.of(out, self.rows if stop < 0 else min(stop, self.rows))


def cap_split(split: str, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The dry run's ``data.split_hook``: ``(images, labels)`` unchanged outside a dry run; inside,
    their first ``max_images`` rows, as :class:`CutSplit` tensors that remember how many rows they
    stand for."""
    state = _STATE
    if state is None:
        return images, labels
    n = len(images)
    if n > state.max_images:
        images, labels = images[:state.max_images].clone(), labels[:state.max_images].clone()
    if split == "train" and len(images):
        state.train_ratio = n / len(images)
    return CutSplit.of(images, n), CutSplit.of(labels, n)


def model_name(model: nn.Module) -> str:
    """A short name of a network: "resnet56-w16", "alexnet-w64", "mlp-1200x1200", "mlp" (softmax
    regression); a wrapper with a ``teacher`` module (``distill.TemperedTeacher``) takes its
    teacher's name; any other module its class name in lower case."""
    from lsutils import models

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, models.ResNet):
        return f"resnet{2 * len(model.blocks) + 2}-w{model.stem[0].out_channels}"
    if isinstance(model, models.AlexNet):
        return f"alexnet-w{model.conv[0].out_channels}"
    if isinstance(model, models.MLP):
        hidden = [str(m.out_features) for m in model.body if isinstance(m, nn.Linear)]
        return "mlp-" + "x".join(hidden) if hidden else "mlp"
    inner = getattr(model, "teacher", None)
    return model_name(inner) if isinstance(inner, nn.Module) else type(model).__name__.lower()


def _flops(state: _State, model: nn.Module, image_shape: tuple[int, int, int]) -> int:
    from lsutils import plan

    key = (type(model), image_shape, tuple((n, tuple(t.shape)) for n, t in model.state_dict().items()))
    if key not in state.flops:
        state.flops[key] = plan.flops_per_image(model, image_shape)
    return state.flops[key]


def _record(state: _State, trainer: str, model: nn.Module, images: torch.Tensor, cfg, teacher: nn.Module | None,
            runs: int):
    """Append the ledger entry of one training call; return ``cfg`` cut to the dry run's steps and batch."""
    from lsutils import models, plan

    rows = getattr(images, "rows", None)
    exact = rows is not None or state.train_ratio == 1.0
    n = rows if rows is not None else round(len(images) * state.train_ratio)
    shape = tuple(int(s) for s in images.shape[1:])
    batch = min(cfg.batch_size, state.max_batch or cfg.batch_size)
    from lsutils.train import steps_per_epoch, total_steps

    per_epoch = steps_per_epoch(len(images), batch)  # the dry loop's own count
    steps = min(state.steps, total_steps(len(images), cfg.epochs, batch))
    name = model_name(model)
    state.ledger.append({
        "trainer": trainer, "model": name, "arch": name.split("-")[0],
        "parameters": models.count_parameters(model), "flops_per_image": _flops(state, model, shape),
        "teacher": None if teacher is None else model_name(teacher),
        "teacher_flops_per_image": 0 if teacher is None else _flops(state, teacher, shape),
        "image_shape": list(shape), "n_train": n, "n_train_exact": exact, "epochs": cfg.epochs,
        "batch_size": cfg.batch_size, "runs": runs, "images_per_step": runs * cfg.batch_size,
        "planned_steps": plan.optimiser_steps(max(n, 1), cfg.epochs, cfg.batch_size), "steps_run": steps})
    # epochs such that round(epochs · per_epoch) = steps: the loop then runs exactly ``steps`` steps
    return dataclasses.replace(cfg, batch_size=batch, epochs=steps / per_epoch)


def train_config(model: nn.Module, images: torch.Tensor, cfg, teacher: nn.Module | None = None):
    """``train.train``'s hook, called once before its loop: returns ``cfg`` itself outside a dry run;
    inside, records a ledger entry and returns ``cfg`` with its epochs cut to ``steps`` optimiser
    steps (and its batch size to ``max_batch``), so the loop itself needs no check."""
    state = _STATE
    if state is None:
        return cfg
    return _record(state, "train", model, images, cfg, teacher, 1)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


@contextlib.contextmanager
def dry_run(steps: int = 2, max_images: int = 1024, max_batch: int | None = None) -> Iterator[list[dict]]:
    """Inside the block every ``train.train`` call stops after ``steps``
    optimiser steps (of at most ``max_batch`` images, if given; the ledger keeps the real batch
    size) and every ``data.load_split`` returns at most ``max_images`` images per split; yields the
    ledger (one dict per training call, see the module docstring). Everything is restored on exit,
    also after an exception; dry runs may nest (the inner one has its own ledger)."""
    global _STATE
    if max_batch is not None:
        _positive_int("max_batch", max_batch)
    state = _State(_positive_int("steps", steps), _positive_int("max_images", max_images), [], max_batch)
    from lsutils import data, train

    saved = (_STATE, data.split_hook, train.config_hook)
    _STATE, data.split_hook, train.config_hook = state, cap_split, train_config
    try:
        yield state.ledger
    finally:
        _STATE, data.split_hook, train.config_hook = saved


# ---------------------------------------------------------------- the cost model

_GROUP_KEYS = ("trainer", "model", "arch", "parameters", "flops_per_image", "teacher", "teacher_flops_per_image",
               "planned_steps", "batch_size", "runs")


def summarize(ledger: Sequence[Mapping]) -> list[dict]:
    """Ledger entries grouped by network, teacher, planned steps, batch size and pack size, in
    order of first appearance: each group has those fields, ``calls`` and ``n_train_exact``
    (False if any entry's training-set size was scaled)."""
    groups: dict[tuple, dict] = {}
    for entry in ledger:
        missing = [k for k in _GROUP_KEYS if k not in entry]
        if missing:
            raise ValueError(f"ledger entries must hold {_GROUP_KEYS}; one lacks {missing}")
        key = tuple(entry[k] for k in _GROUP_KEYS)
        group = groups.setdefault(key, {**{k: entry[k] for k in _GROUP_KEYS}, "calls": 0, "n_train_exact": True})
        group["calls"] += 1
        group["n_train_exact"] &= bool(entry.get("n_train_exact", True))
    return list(groups.values())


def _rate(images_per_s: float | Mapping[str, float] | None, group: Mapping) -> tuple[float, bool]:
    """(images/s for a group, whether it was given rather than assumed)."""
    if images_per_s is None:
        return DEFAULT_IMAGES_PER_S, False
    if isinstance(images_per_s, Mapping):
        for key in (group["model"], group["arch"], "default"):
            if key in images_per_s:
                return float(images_per_s[key]), True
        return DEFAULT_IMAGES_PER_S, False
    return float(images_per_s), True


def cost(groups: Sequence[Mapping], images_per_s: float | Mapping[str, float] | None = None) -> dict:
    """Training cost of ledger groups (``summarize``): ``{"calls", "optimiser_steps", "images",
    "train_flops", "seconds", "assumed"}``. FLOPs: ``plan.estimate``'s 3 × forward per image plus
    one teacher forward per image; seconds: images / images/s, where ``images_per_s`` is one number,
    a mapping from ``model`` or ``arch`` name (or "default") to a number, or None — then
    :data:`DEFAULT_IMAGES_PER_S`, an assumption (``assumed`` is True if any group used it)."""
    from lsutils import plan

    if images_per_s is not None and not isinstance(images_per_s, Mapping):
        if isinstance(images_per_s, bool) or not isinstance(images_per_s, (int, float)) \
                or not math.isfinite(images_per_s) or images_per_s <= 0:
            raise ValueError(f"images_per_s must be a finite number > 0, a mapping or None, got {images_per_s!r}")
    out = {"calls": 0, "optimiser_steps": 0, "images": 0, "train_flops": 0, "seconds": 0.0, "assumed": False}
    for g in groups:
        rate, given = _rate(images_per_s, g)
        est = plan.estimate(g["calls"] * g["runs"], g["planned_steps"], g["batch_size"], g["flops_per_image"], rate)
        out["calls"] += g["calls"]
        out["optimiser_steps"] += g["calls"] * g["planned_steps"]  # a pack of R runs takes one step for all
        out["images"] += est["images"]
        out["train_flops"] += est["train_flops"] + g["teacher_flops_per_image"] * est["images"]
        out["seconds"] += est["seconds"]
        out["assumed"] |= not given
    return out


@contextlib.contextmanager
def temporary_results() -> Iterator[str]:
    """Point ``LSBOOK_RESULTS`` at a new temporary directory for the block, then restore it and
    delete the directory: whatever is computed inside is never stored in ``results/``."""
    saved = os.environ.get("LSBOOK_RESULTS")
    path = tempfile.mkdtemp(prefix="lsbook-dryrun-")
    os.environ["LSBOOK_RESULTS"] = path
    try:
        yield path
    finally:
        if saved is None:
            os.environ.pop("LSBOOK_RESULTS", None)
        else:
            os.environ["LSBOOK_RESULTS"] = saved
        shutil.rmtree(path, ignore_errors=True)


def plan_experiment(name: str, preset: str, steps: int = 2, max_images: int = 1024,
                    max_batch: int | None = None) -> dict:
    """Dry-run experiment ``name`` at ``preset`` (in a temporary results directory, with
    :func:`dry_run`'s limits) and return ``{"version", "config", "stored_runs", "groups",
    "dry_run_s"}``: ``stored_runs`` the runs its sweep stores (what resuming counts), ``groups``
    its ledger summarised."""
    from lsutils import results

    exp = results.get(name)
    results.check_preset(preset)
    with temporary_results(), dry_run(steps, max_images, max_batch) as ledger:
        t0 = time.perf_counter()
        results.run(name, preset)
        wall = time.perf_counter() - t0
        stored = len(list((results.results_dir() / name / f"{preset}.runs").glob("*.json")))
    return {"version": exp.version, "config": results.config_dict(exp, preset), "stored_runs": stored,
            "groups": summarize(ledger), "dry_run_s": round(wall, 2)}


def plan_preset(preset: str, names: Sequence[str] | None = None, steps: int = 2, max_images: int = 1024,
                max_batch: int | None = None, progress: bool = False) -> dict:
    """:func:`plan_experiment` for ``names`` (default: every experiment of the book, sorted):
    ``{"preset", "steps", "max_images", "max_batch", "device", "torch", "experiments": {name: ...}}``."""
    from lsutils import experiments, results, train

    names = sorted(e.name for e in experiments.EXPERIMENTS) if names is None else list(names)
    for name in names:
        results.get(name)  # unknown names fail before anything runs
    out = {"preset": preset, "steps": steps, "max_images": max_images, "max_batch": max_batch,
           "device": str(train.default_device()),
           "torch": torch.__version__, "experiments": {}}
    for name in names:
        if progress:
            print(f"dry run: {name} [{preset}] ...", flush=True)
        out["experiments"][name] = plan_experiment(name, preset, steps, max_images, max_batch)
    return out


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d} h" if seconds >= 60 else f"{seconds:.1f} s"


def format_plan(plan_: Mapping, images_per_s: float | Mapping[str, float] | None = None) -> str:
    """The cost table of a :func:`plan_preset` result: one line per experiment (training calls,
    optimiser steps, images, training PFLOPs, estimated time) and the total, with the images/s it
    assumes said underneath."""
    head = f"{'experiment':26s} {'runs':>6s} {'optimiser steps':>16s} {'images':>15s} {'PFLOP':>9s} {'time':>10s}"
    lines = [f"cost of preset '{plan_['preset']}' (training only; from a dry run on {plan_['device']})", head,
             "-" * len(head)]
    for name, exp in plan_["experiments"].items():
        c = cost(exp["groups"], images_per_s)
        scaled = "" if all(g["n_train_exact"] for g in exp["groups"]) else "  (training-set size scaled)"
        untrained = "  (no train.train calls: not counted)" if not exp["groups"] else ""
        lines.append(f"{name:26s} {c['calls']:6d} {c['optimiser_steps']:16,d} {c['images']:15,d} "
                     f"{c['train_flops'] / 1e15:9.2f} {_duration(c['seconds']):>10s}{scaled}{untrained}")
    total = cost([g for exp in plan_["experiments"].values() for g in exp["groups"]], images_per_s)
    lines += ["-" * len(head),
              f"{'total':26s} {total['calls']:6d} {total['optimiser_steps']:16,d} {total['images']:15,d} "
              f"{total['train_flops'] / 1e15:9.2f} {_duration(total['seconds']):>10s}"]
    if images_per_s is None or total["assumed"]:
        lines.append(f"time at an ASSUMED {DEFAULT_IMAGES_PER_S:,.0f} training images/s (not measured) where no "
                     "figure was given; measure with `python -m lsutils bench --arch ARCH` on the GPU")
    if images_per_s is not None:
        given = images_per_s if not isinstance(images_per_s, Mapping) else dict(images_per_s)
        lines.append(f"images/s given: {given}")
    return "\n".join(lines)
