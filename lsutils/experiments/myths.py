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

import math
from functools import partial
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F

from lsutils import data, models, train
from lsutils.report import plain
from lsutils.results import declare
from lsutils.table import Runs, pick


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


# ----------------------------------------------------------------------------- the chapter's verdicts

# claim key -> the label of the chapter section that shows its evidence
SECTIONS = {"argmax": "sec-myths-argmax", "underfit": "sec-myths-underfit",
            "many_classes": "sec-myths-many-classes", "multilabel": "sec-myths-multilabel",
            "regression": "sec-myths-regression", "conventions": "sec-myths-conventions"}


def churn_against_seed(churn_eps: float, churn_seed: float) -> str:
    """How the share of test predictions that ε changes compares with the share another seed
    changes: 'fewer than' below 0.75 times it, 'about as many as' up to 1.25 times, else 'more
    than' (followed by 're-running with another seed changes')."""
    for name, value in (("churn_eps", churn_eps), ("churn_seed", churn_seed)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a share in [0, 1], got {value!r}")
    if churn_eps < 0.75 * churn_seed:
        word = "fewer than"
    elif churn_eps <= 1.25 * churn_seed:
        word = "about as many as"
    else:
        word = "more than"
    return f"{word} re-running with another seed changes"


def claims(data_: dict, config: dict) -> list[dict]:
    """The chapter's six verdicts, each with its rule. Three read the stored runs (means over
    seeds, no intervals); three are settled by ``lsutils.theory`` or a least-squares fit and read
    only the config's ε (K from the data set):

    * "smoothing never changes the argmax": at the optimum it holds if the optimal logit gap
      (uniform convention) is positive at every swept ε and at 0.99; in a trained network, the
      share of test predictions that ε = ``churn_eps`` changes from the same seed. *holds* if
      both hold and nothing changed; *partly — holds at the optimum, not in a trained network*
      if predictions changed; *does not hold* if the optimum already breaks it;
    * "too large ε underfits": two checks at the largest swept ε against ε = 0 — the
      probabilities move towards uniform (mean test confidence lower *and* test NLL higher), and
      accuracy collapses (test accuracy closer to chance, 1/K, than to the best of the sweep).
      *holds* if both, *does not hold* if neither, else *partly*, saying which;
    * "smoothing is negligible for many classes" (ε = 0.1, K = 10 to 32 000): per class, the
      wrong-class target ε/K at the largest K is below 10⁻⁴; in total, the optimal confidence
      1 − ε + ε/K moves by less than 0.01 from K = 10 (the cap does not weaken). *holds* if
      negligible per class and the cap weakens, *does not hold* if neither, else *partly*;
    * "multi-label heads need per-label smoothing": *holds* if the per-label (K = 2) targets
      t(1 − ε) + ε/2 give a finite optimal logit at every ε of 0.05, 0.1, 0.2, 0.3 while the
      naive t(1 − ε) + ε leaves positives at 1 (no finite optimum) and, over K classes, sums to
      1 + (K − 1)ε; else *does not hold*;
    * "smoothing does not apply to regression": least squares on seeded synthetic data
      y = 3 + 2x + noise; *holds* if shrinking the targets towards their mean with ε = 0.1
      multiplies the fitted slope by 1 − ε (to 10⁻⁹) and raises the squared error against the
      real targets; else *does not hold*;
    * "ε/K and ε/(K − 1) are interchangeable": *does not hold* if the two conventions' optimal
      confidences differ by at least 0.01 at K = 2, ε = 0.1 *and* the measured mean test
      confidence is higher under the uniform convention at every nominal ε of
      ``convention_eps``; *holds* if neither; else *partly*.
    """
    from lsutils import theory
    from lsutils.multilabel import optimal_logit, smooth_binary_targets

    if not isinstance(data_, dict) or not {"runs", "churn"} <= set(data_):
        raise ValueError("data_ must be the stored data of the myths experiment (runs, churn)")
    dataset, seeds = config["dataset"], config["sweep_seeds"]
    sweep = [float(e) for e in config["sweep_eps"]]
    convention_eps = config["convention_eps"]
    k = data.DATASETS[dataset].num_classes
    runs = Runs(data_["runs"])

    def metric(convention, eps, key):
        """Mean over the sweep seeds of the test metric ``key`` at (``convention``, ``eps``)."""
        by_seed = runs.where(convention=convention, eps=float(eps)).by("seed")
        return float(np.mean([pick(by_seed[s], f"test.{key}") for s in seeds]))

    def mean_flips(group):
        """Mean number of changed test predictions over the churn pairs of ``group``."""
        return float(np.mean(Runs(pick(data_, f"churn.{group}")).column("differ")))

    # the argmax
    n_test = pick(data_, "churn.n_test")
    churn_eps = mean_flips("same_seed_eps") / n_test
    churn_seed = mean_flips("seed_only_eps0") / n_test
    at_optimum = all(theory.logit_gap(k, e) > 0 for e in [*sweep, 0.99])
    argmax = ("does not hold" if not at_optimum else "holds" if churn_eps == 0
              else "partly — holds at the optimum, not in a trained network")

    # too large ε
    top = max(sweep)
    acc = {e: metric("uniform", e, "accuracy") for e in sweep}
    moves = (metric("uniform", top, "mean_confidence") < metric("uniform", 0.0, "mean_confidence")
             and metric("uniform", top, "nll") > metric("uniform", 0.0, "nll"))
    collapses = acc[top] < (max(acc.values()) + 1 / k) / 2
    underfit = ("holds" if moves and collapses else "does not hold" if not (moves or collapses)
                else "partly — the probabilities move towards uniform as ε grows; accuracy is another "
                     "matter" if moves else "partly — accuracy falls, the probabilities do not")

    # many classes
    ks = (10, 100, 1000, 32000)
    negligible = theory.optimal_probs(ks[-1], 0.1)[1] < 1e-4
    weakens = abs(theory.max_confidence(ks[-1], 0.1) - theory.max_confidence(ks[0], 0.1)) >= 0.01
    many = ("holds" if negligible and weakens else "does not hold" if not (negligible or weakens)
            else "partly — per class negligible, in total not" if negligible
            else "partly — the cap weakens, but each class's share is not negligible")

    # multi-label heads
    one = torch.tensor([1.0], dtype=torch.float64)
    eps_ml = (0.05, 0.1, 0.2, 0.3)
    bounded = all(math.isfinite(optimal_logit(float(smooth_binary_targets(one, e)[0]))) for e in eps_ml)
    naive = all(float(smooth_binary_targets(one, e, mode="shifted")[0]) == 1.0 for e in eps_ml)
    naive_sum = 1 + (k - 1) * 0.1
    multilabel = ("holds — smooth each label symmetrically, and check that targets are what you think"
                  if bounded and naive and abs(naive_sum - 1) > 1e-9 else "does not hold")

    # regression
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    y = 3.0 + 2.0 * x + rng.normal(scale=0.5, size=2000)
    design = np.column_stack([np.ones_like(x), x])
    w0 = np.linalg.lstsq(design, y, rcond=None)[0]
    w1 = np.linalg.lstsq(design, 0.9 * y + 0.1 * y.mean(), rcond=None)[0]
    biased = abs(w1[1] / w0[1] - 0.9) < 1e-9
    worse = np.mean((design @ w1 - y) ** 2) > np.mean((design @ w0 - y) ** 2)
    regression = "holds — for real-valued targets" if biased and worse else "does not hold"

    # the two conventions
    apart = theory.max_confidence(2, 0.1) - theory.max_confidence(2, 0.1, "others") >= 0.01
    measured = all(metric("uniform", e, "mean_confidence") > metric("others", e, "mean_confidence")
                   for e in convention_eps)
    conventions = ("does not hold — the two conventions are different targets: far apart for small K, "
                   f"close for K = {k}" if apart and measured
                   else "holds" if not (apart or measured) else "partly")

    net = f"MLP, {plain(dataset)}"
    row = [("argmax", "smoothing never changes the argmax", f"{net}; the optimum", argmax),
           ("underfit", "too large ε underfits", net, underfit),
           ("many_classes", "smoothing is negligible for many classes", "theory, K = 10 to 32 000", many),
           ("multilabel", "multi-label heads need per-label smoothing", "theory, sigmoid heads", multilabel),
           ("regression", "smoothing does not apply to regression", "least squares, synthetic data",
            regression),
           ("conventions", "ε/K and ε/(K − 1) are interchangeable", f"{net}; theory", conventions)]
    out = [{"key": key, "source": "Tutorials", "claim": claim, "setting": where, "verdict": verdict}
           for key, claim, where, verdict in row]
    out[0].update(churn=churn_eps, churn_seed=churn_seed,
                  against_seed=churn_against_seed(churn_eps, churn_seed))
    return out


EXPERIMENT = declare(
    "myths", version=1, presets=PRESETS, run=myths,
    page="chapters/practice/myths",
    claims=claims, sections=SECTIONS)
