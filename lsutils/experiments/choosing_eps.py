"""Choosing ε: a sweep on the validation split, reported on the test split, for two tasks.

* ``binary``: Fashion-MNIST "Shirt" (the class most confused with others) as a rare positive at
  2 % prevalence against every other image, a two-logit softmax (= a sigmoid on z₁ − z₀, target
  1 − ε/2 under the uniform convention). Crossed with three ways of weighting the classes:
  ``none``; ``balanced`` — w_k = N/(K n_k), each example's whole smoothed loss weighted by w_{y_i};
  ``balanced_torch`` — the same weights through ``F.cross_entropy(weight=w, label_smoothing=ε)``,
  which weighs the smoothing mass by the class receiving it (``theory.torch_weighted_optimum``).
* ``multiclass``: all ten classes (balanced, so weights are all 1 and only ``none`` runs).

Every run of a task shares the data, the network and the schedule; only (weighting, ε, seed)
change. Choices are made on validation numbers only (``select``); test numbers are reported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from lsutils import data, metrics, models, tasks, train
from lsutils.results import declare
from lsutils.table import Runs

WEIGHTINGS = ("none", "balanced", "balanced_torch")
LOWER_IS_BETTER = metrics.LOWER_IS_BETTER  # re-exported: the chapter imports it from here


@dataclass(frozen=True)
class Regime:
    """A training set size and length, and the grid run at it: ``short`` stops before the network
    fits its training set; ``long`` trains on until it does; ``small`` memorises a reduced training
    set (the cheap route to an over-confident network, as in the calibration chapter)."""

    name: str
    epochs: float
    train_size: int = 0     # first n images of the training split before the task is built; 0: all
    tasks: tuple[str, ...] = ("binary", "multiclass")
    weightings: tuple[str, ...] = WEIGHTINGS
    eps_values: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class ChoosingEpsConfig:
    regimes: tuple[Regime, ...]
    dataset: str = "fashion_mnist"
    positive_classes: tuple[int, ...] = (6,)   # Shirt
    prevalence: float = 0.02
    hidden: tuple[int, ...] = (256,)
    batch_size: int = 128
    lr: float = 0.05
    eval_size: int = 0      # first n images of the validation and test splits; 0: all
    task_seed: int = 0      # which positives are kept (the same for every run)
    train_fit_size: int = 10_000   # training images on which the fit (train metrics) is measured


def task_split(cfg: ChoosingEpsConfig, task: str, split: str, train_size: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of ``task`` ("binary" or "multiclass") on ``split``; the training
    split is cut to its first ``train_size`` images (0: all) before the task is built."""
    x, y = data.load_split(cfg.dataset, split, limit=train_size if split == "train" else cfg.eval_size)
    if task == "multiclass":
        return x, y
    k = data.DATASETS[cfg.dataset].num_classes
    offset = {"train": 0, "val": 1, "test": 2}[split]  # independent positives per split
    return tasks.binary_task(x, y, cfg.positive_classes, cfg.prevalence, k, cfg.task_seed + offset)


def _one_run(cfg: ChoosingEpsConfig, regime: Regime, task: str, weighting: str, eps: float, seed: int) -> dict:
    xtr, ytr = task_split(cfg, task, "train", regime.train_size)
    k = 2 if task == "binary" else data.DATASETS[cfg.dataset].num_classes
    weight = () if weighting == "none" else tasks.balanced_class_weights(ytr, k)
    tcfg = train.TrainConfig(epochs=regime.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                             schedule="cosine", eps=eps, seed=seed, class_weight=weight,
                             class_weight_smoothing="torch" if weighting == "balanced_torch" else "per_example")
    info = data.DATASETS[cfg.dataset]
    torch.manual_seed(seed)
    model, _ = train.train(models.mlp((info.channels, *info.image_size), k, cfg.hidden), xtr, ytr, tcfg)
    out = {"regime": regime.name, "task": task, "weighting": weighting, "eps": eps, "seed": seed, "class_weight": list(weight),
           "n_train": len(ytr), "train_positives": int((ytr == 1).sum()) if task == "binary" else None}
    n_fit = min(cfg.train_fit_size, len(ytr))  # how far training got towards fitting its own data
    out["train"] = metrics.summary(train.predict_logits(model, xtr[:n_fit]).double().numpy(), ytr[:n_fit].numpy())
    for split in ("val", "test"):
        x, y = task_split(cfg, task, split)
        out[split] = metrics.summary(train.predict_logits(model, x).double().numpy(), y.numpy())
        out[f"n_{split}"] = len(y)
    return out


def run_grid(cfg: ChoosingEpsConfig) -> list[tuple[Regime, str, str, float, int]]:
    """Every (regime, task, weighting, ε, seed) trained; the multiclass task is balanced, so it
    runs unweighted only."""
    return [(r, t, w, e, s) for r in cfg.regimes for t in r.tasks
            for w in (r.weightings if t == "binary" else ("none",)) for e in r.eps_values for s in r.seeds]


def _cell(runs: list[dict] | Runs, split: str, regime: str, task: str, weighting: str, eps: float,
          metric: str) -> list:
    """``metric`` on ``split`` of every seed of one grid cell (ValueError if the cell has no runs)."""
    cell = Runs(runs).where(regime=regime, task=task, weighting=weighting, eps=float(eps))
    vals = cell.column(f"{split}.{metric}")
    if not vals:
        raise ValueError(f"no runs for regime={regime!r}, task={task!r}, weighting={weighting!r}, eps={eps}")
    return vals


def _mean_val(runs: list[dict] | Runs, regime: str, task: str, weighting: str, eps: float, metric: str) -> float:
    return float(np.mean(_cell(runs, "val", regime, task, weighting, eps, metric)))


def select(runs: list[dict] | Runs, regime: str, task: str, metric: str, weightings, eps_values, *,
           sequential: bool = False) -> tuple[str, float]:
    """(weighting, ε) with the best mean **validation** ``metric`` over seeds.

    ``sequential=False`` searches the grid ``weightings`` × ``eps_values`` jointly;
    ``sequential=True`` first picks the weighting at ε = 0, then ε for that weighting — the
    "one knob at a time" habit the joint search is compared with. Ties go to the first candidate."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def score(w, e):
        return sign * _mean_val(runs, regime, task, w, e, metric)

    if sequential:
        w = min(weightings, key=lambda w: score(w, 0.0))
        return w, min(eps_values, key=lambda e: score(w, e))
    return min(((w, e) for w in weightings for e in eps_values), key=lambda we: score(*we))


_SHORT = Regime("short", epochs=5.0)
_LONG = Regime("long", epochs=40.0, tasks=("binary",), weightings=("none", "balanced"),
               eps_values=(0.0, 0.05, 0.1, 0.15, 0.2), seeds=(0, 1))
_SMALL = Regime("small", epochs=100.0, train_size=10_000, tasks=("binary",), weightings=("none", "balanced"),
                eps_values=(0.0, 0.05, 0.1, 0.15, 0.2), seeds=(0, 1, 2))

PRESETS = {
    "smoke": ChoosingEpsConfig(regimes=(Regime("short", 1.0, 5000, eps_values=(0.0, 0.1), seeds=(0,)),
                                        Regime("small", 3.0, 2000, ("binary",), ("none",), (0.0, 0.1), (0,))),
                               hidden=(16,), eval_size=4000, prevalence=0.05),
    "cpu": ChoosingEpsConfig(regimes=(_SHORT, _LONG, _SMALL)),
    "gpu": ChoosingEpsConfig(regimes=(Regime("short", 10.0, seeds=(0, 1, 2, 3, 4)),
                                      Regime("long", 100.0, seeds=(0, 1, 2)),
                                      Regime("small", 300.0, 10_000, seeds=(0, 1, 2))), hidden=(1024, 1024)),
}


def choosing_eps(cfg: ChoosingEpsConfig, memo) -> dict:
    """An ε sweep on a rare-positive binary task (three class weightings) and on the 10-class task."""
    # a run depends on the shared settings and its own regime, not on the other regimes
    shared = dataclasses.replace(cfg, regimes=())
    runs = memo.many([(f"{r.name}_{t}_{w}_eps={e:g}_seed={s}", partial(_one_run, cfg, r, t, w, e, s),
                       {"cfg": shared, "regime": r, "task": t, "weighting": w, "eps": e, "seed": s})
                      for r, t, w, e, s in run_grid(cfg)])
    return {"runs": runs, "class_names": list(data.DATASETS[cfg.dataset].class_names)}


# ----------------------------------------------------------------------------- verdicts

def mean_defined(runs: list[dict] | Runs, regime: str, task: str, weighting: str, eps: float, metric: str,
                 split: str = "test") -> float:
    """Mean over seeds of a metric; runs where it is undefined (precision of a run that predicts
    no positive: None or NaN) are left out."""
    return float(np.mean([v for v in _cell(runs, split, regime, task, weighting, eps, metric)
                          if v is not None and v == v]))


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {"guide": "sec-eps-sweep", "joint": "sec-eps-joint"}


def claims(data_: dict, config: dict) -> list[dict]:
    """The chapter's two tutorial claims on the binary task, with their rules (means over seeds):

    * "ε = 0.1 minimises ECE at a cost of about 0.01 AUC; precision at 0.5 rises": over the
      (regime, weighting) cells without/with balanced class weights, three checks — validation ECE
      picks ε = 0.1 in more than half; the test AUC change at ε = 0.1 lies in [−0.02, 0] in more
      than half; test precision rises in more than half. *holds* if all three, *does not hold* if
      none, else *partly*;
    * "tune class weights and ε jointly": always sound advice (a joint search contains the
      one-at-a-time one); the verdict says how many of the (regime, metric) choices it changed.
    """
    runs = Runs(data_["runs"])
    regimes = Runs(config["regimes"])
    grids = dict(zip(regimes.column("name"), regimes.column("eps_values")))   # regime -> its ε
    prevalence = config["prevalence"]
    cells = [(r, w) for r in grids for w in ("none", "balanced")]

    def delta(regime, weighting, metric):
        return (mean_defined(runs, regime, "binary", weighting, 0.1, metric)
                - mean_defined(runs, regime, "binary", weighting, 0.0, metric))

    picks = [select(runs, r, "binary", "ece", (w,), grids[r])[1] for r, w in cells]
    checks = [sum(e == 0.1 for e in picks) > len(cells) / 2,
              sum(-0.02 <= delta(r, w, "auc") <= 0 for r, w in cells) > len(cells) / 2,
              sum(delta(r, w, "precision") > 0 for r, w in cells) > len(cells) / 2]
    guide = "holds" if all(checks) else "does not hold" if not any(checks) else "partly"
    choices = [(r, m) for r in grids for m in ("nll", "brier", "ece", "auc", "precision")]
    differ = sum(select(runs, r, "binary", m, ("none", "balanced"), grids[r])
                 != select(runs, r, "binary", m, ("none", "balanced"), grids[r], sequential=True)
                 for r, m in choices)
    if not differ:
        joint = "holds as advice, but changed nothing here"
    elif differ < len(choices) / 4:
        joint = f"holds as advice; it changed {differ} of {len(choices)} choices"
    else:
        joint = "holds"
    where = f"MLP, a {100 * prevalence:g} %-positive binary task"
    return [{"key": "guide", "source": "Tutorials", "where": where, "setting": where, "verdict": guide,
             "claim": "ε = 0.1 minimises ECE at a cost of about 0.01 AUC; precision at 0.5 rises"},
            {"key": "joint", "source": "Tutorials", "where": where, "setting": where, "verdict": joint,
             "claim": "tune class weights and ε jointly"}]


EXPERIMENT = declare(
    "choosing_eps", version=1, presets=PRESETS, run=choosing_eps,
    page="chapters/practice/choosing_eps",
    claims=claims, sections=SECTIONS)
