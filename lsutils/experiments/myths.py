"""Myths and pitfalls: the cheap measurements behind the practice chapter ``myths``.

One MLP on Fashion-MNIST, trained many times, answers three questions:

* churn — does ε = 0.1 change the predicted class of test images, compared with ε = 0 from the
  same initialisation and the same batch order, and how does that compare with the disagreement
  between two ε = 0 runs that differ only in their seed?
* the ε sweep — where (if anywhere) do accuracy, NLL and confidence break as ε → 1?
* the conventions — the same nominal ε spread over all K classes ("uniform") or over the K − 1
  others ("others").

Every run seeds the global RNG *before* building the network, so a seed fixes the
initialisation as well as the batch order; two runs with the same seed differ only in their loss.
"""

from __future__ import annotations

from functools import partial
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F

from lsutils import data, models, train
from lsutils.results import experiment


@dataclass(frozen=True)
class MythsConfig:
    dataset: str = "fashion_mnist"
    train_size: int = 0            # 0: the whole training split (50 000 images)
    eval_size: int = 0             # 0: the whole test split
    train_eval_size: int = 5_000   # training images on which the fit (train accuracy, NLL) is measured
    hidden: tuple[int, ...] = (256,)
    epochs: float = 3.0
    batch_size: int = 128
    lr: float = 0.05
    sweep_eps: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
    sweep_seeds: tuple[int, ...] = (0, 1)
    churn_eps: float = 0.1
    churn_seeds: tuple[int, ...] = (0, 1, 2)
    convention_eps: tuple[float, ...] = (0.2, 0.5)
    split_seed: int = 0


def prediction_disagreement(pred_a, pred_b) -> int:
    """Number of positions where two equally long 1-D arrays of predicted classes differ."""
    a, b = np.asarray(pred_a), np.asarray(pred_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"predictions must be 1-D arrays of the same length, got {a.shape} and {b.shape}")
    return int(np.count_nonzero(a != b))


def flip_counts(pred_a, pred_b, labels) -> dict[str, int]:
    """Where ``pred_a`` and ``pred_b`` differ: how many go right → wrong, wrong → right, wrong → wrong."""
    a, b, y = np.asarray(pred_a), np.asarray(pred_b), np.asarray(labels)
    if not (a.shape == b.shape == y.shape) or a.ndim != 1:
        raise ValueError(f"pred_a, pred_b and labels must be 1-D of one length, got {a.shape}, {b.shape}, {y.shape}")
    diff = a != b
    return {"differ": int(diff.sum()),
            "right_to_wrong": int((diff & (a == y)).sum()),
            "wrong_to_right": int((diff & (b == y)).sum()),
            "wrong_to_wrong": int((diff & (a != y) & (b != y)).sum())}


def run_grid(cfg: MythsConfig) -> list[tuple[str, float, int]]:
    """Every (convention, ε, seed) the experiment trains, each once, in a fixed order."""
    grid = {("uniform", float(e), s) for e in cfg.sweep_eps for s in cfg.sweep_seeds}
    grid |= {("uniform", float(e), s) for e in (0.0, cfg.churn_eps) for s in cfg.churn_seeds}
    grid |= {(c, float(e), s) for c in ("uniform", "others") for e in cfg.convention_eps for s in cfg.sweep_seeds}
    return sorted(grid, key=lambda r: (r[0] != "uniform", r[1], r[2]))


def run_key(convention: str, eps: float, seed: int) -> str:
    return f"{convention}_eps={eps:g}_seed={seed}"


def _metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    probs = logits.softmax(1)
    top2 = logits.topk(2, dim=1).values
    return {"accuracy": (logits.argmax(1) == labels).float().mean().item(),
            "nll": F.cross_entropy(logits, labels).item(),
            "mean_confidence": probs.max(1).values.mean().item(),
            "mean_true_prob": probs.gather(1, labels[:, None]).mean().item(),
            "mean_top_gap": (top2[:, 0] - top2[:, 1]).mean().item()}


def _one_run(cfg: MythsConfig, convention: str, eps: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    xtr, ytr = data.load_split(cfg.dataset, "train", seed=cfg.split_seed, limit=cfg.train_size)
    torch.manual_seed(seed)  # the initialisation belongs to the seed too
    model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
    tcfg = train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                             schedule="cosine", eps=eps, convention=convention, seed=seed)
    model, _ = train.train(model, xtr, ytr, tcfg)
    n_fit = cfg.train_eval_size or len(ytr)
    xfit, yfit = xtr[:n_fit], ytr[:n_fit]
    xte, yte = data.load_split(cfg.dataset, "test", seed=cfg.split_seed, limit=cfg.eval_size)
    test_logits = train.predict_logits(model, xte)
    return {"convention": convention, "eps": eps, "seed": seed,
            "train": _metrics(train.predict_logits(model, xfit), yfit),
            "test": _metrics(test_logits, yte),
            "test_pred": test_logits.argmax(1).tolist()}


PRESETS = {
    "smoke": MythsConfig(train_size=1000, eval_size=500, train_eval_size=500, hidden=(32,), epochs=1.0,
                         sweep_seeds=(0,), churn_seeds=(0, 1)),
    "cpu": MythsConfig(),
    "gpu": MythsConfig(epochs=20.0, sweep_seeds=(0, 1, 2), churn_seeds=(0, 1, 2, 3, 4)),
}


@experiment("myths", version=1, presets=PRESETS)
def myths(cfg: MythsConfig, memo) -> dict:
    """An MLP on Fashion-MNIST: an ε sweep to 0.95, ε = 0 vs 0.1 prediction churn, and both conventions."""
    grid = run_grid(cfg)
    runs = memo.many([(run_key(c, e, s), partial(_one_run, cfg, c, e, s),
                       {"cfg": cfg, "convention": c, "eps": e, "seed": s})
                      for c, e, s in grid])
    preds = {run_key(r["convention"], r["eps"], r["seed"]): np.asarray(r.pop("test_pred"), dtype=np.int64)
             for r in runs}
    labels = data.load_split(cfg.dataset, "test", seed=cfg.split_seed, limit=cfg.eval_size)[1].numpy()

    def flips(a, b):
        return {"a": a, "b": b, **flip_counts(preds[a], preds[b], labels)}

    e1 = cfg.churn_eps
    churn = {"n_test": int(len(labels)),
             "same_seed_eps": [flips(run_key("uniform", 0.0, s), run_key("uniform", e1, s))
                               for s in cfg.churn_seeds],
             "seed_only_eps0": [flips(run_key("uniform", 0.0, s), run_key("uniform", 0.0, t))
                                for s, t in combinations(cfg.churn_seeds, 2)],
             "seed_only_churn_eps": [flips(run_key("uniform", e1, s), run_key("uniform", e1, t))
                                      for s, t in combinations(cfg.churn_seeds, 2)],
             "seed_and_eps": [flips(run_key("uniform", 0.0, s), run_key("uniform", e1, t))
                              for s, t in combinations(cfg.churn_seeds, 2)]}
    keys = sorted(preds)
    return {"runs": runs, "churn": churn, "pred_keys": keys,
            "test_predictions": np.stack([preds[k] for k in keys]).astype(np.int8),
            "test_labels": labels.astype(np.int8)}
