"""Label smoothing against the regularisers said to do "roughly the same": weight decay, the
confidence penalty, temperature scaling alone, mixup, and mixup with smoothing on top.

One MLP on Fashion-MNIST, one schedule; each method has one knob and a small grid of values.
Every run reports, on the test split, the metrics of ``metrics.summary`` at T = 1 and after
temperature scaling (T fitted on the validation split), and the NC1 clustering measure of its
penultimate features (``geometry.nc1``) on training and test images. A method's knob is chosen on
validation accuracy (``select``); the full grid is kept so other choices can be read off.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from lsutils import data, geometry, metrics, models, train
from lsutils.results import declare


@dataclass(frozen=True)
class Method:
    family: str                       # what is compared: "baseline", "smoothing", "weight decay", …
    eps: float = 0.0
    weight_decay: float = 0.0
    confidence_penalty: float = 0.0
    mixup_alpha: float = 0.0

    @property
    def name(self) -> str:
        knobs = {"ε": self.eps, "wd": self.weight_decay, "β": self.confidence_penalty, "α": self.mixup_alpha}
        return self.family + "".join(f" {k}={v:g}" for k, v in knobs.items() if v)

    @property
    def key(self) -> str:
        """``name`` in the characters a results key allows."""
        knobs = {"eps": self.eps, "wd": self.weight_decay, "beta": self.confidence_penalty,
                 "alpha": self.mixup_alpha}
        return self.family.replace(" + ", "+").replace(" ", "-").replace("+", "_and_") + "".join(
            f"_{k}={v:g}" for k, v in knobs.items() if v)


def _grid(family: str, knob: str, values) -> tuple[Method, ...]:
    return tuple(Method(family, **{knob: v}) for v in values)


METHODS = (Method("baseline"),
           *_grid("smoothing", "eps", (0.05, 0.1, 0.2)),
           *_grid("weight decay", "weight_decay", (1e-4, 5e-4, 2e-3)),
           *_grid("confidence penalty", "confidence_penalty", (0.1, 0.3, 1.0)),
           *_grid("mixup", "mixup_alpha", (0.2, 1.0)),
           Method("mixup + smoothing", eps=0.1, mixup_alpha=0.2),
           Method("mixup + smoothing", eps=0.2, mixup_alpha=1.0))


@dataclass(frozen=True)
class AlternativesConfig:
    methods: tuple[Method, ...] = METHODS
    dataset: str = "fashion_mnist"
    seeds: tuple[int, ...] = (0, 1, 2)
    hidden: tuple[int, ...] = (256,)
    epochs: float = 10.0
    batch_size: int = 128
    lr: float = 0.05
    train_size: int = 0          # 0: all 50 000
    eval_size: int = 0           # validation and test images; 0: all 10 000
    nc1_size: int = 5000         # training images on which NC1 is measured


def _one_run(cfg: AlternativesConfig, method: Method, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    xtr, ytr = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
    tcfg = train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, schedule="cosine",
                             seed=seed, eps=method.eps, weight_decay=method.weight_decay,
                             confidence_penalty=method.confidence_penalty, mixup_alpha=method.mixup_alpha)
    torch.manual_seed(seed)
    model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
    model, _ = train.train(model, xtr, ytr, tcfg)
    xv, yv = data.load_split(cfg.dataset, "val", limit=cfg.eval_size)
    xt, yt = data.load_split(cfg.dataset, "test", limit=cfg.eval_size)
    zv, zt = (train.predict_logits(model, x).double().numpy() for x in (xv, xt))
    t = metrics.fit_temperature(zv, yv.numpy())
    n = cfg.nc1_size
    return {"family": method.family, "name": method.name, "seed": seed, "temperature": t,
            "val": metrics.summary(zv, yv.numpy()),
            "test": metrics.summary(zt, yt.numpy()),
            "test_ts": metrics.summary(zt, yt.numpy(), temperature=t),
            "nc1_train": geometry.nc1(train.extract_features(model, xtr[:n]), ytr[:n], info.num_classes),
            "nc1_test": geometry.nc1(train.extract_features(model, xt), yt, info.num_classes),
            "weight_norm": float(torch.linalg.vector_norm(
                torch.cat([p.detach().flatten() for p in model.parameters()])))}


def select(runs: list[dict], family: str, metric: str = "accuracy") -> str:
    """The method name of ``family`` with the highest mean validation ``metric`` over seeds (the
    lowest for NLL, Brier and the ECEs); ties go to the first in run order."""
    lower = metric in metrics.LOWER_IS_BETTER
    names = list(dict.fromkeys(r["name"] for r in runs if r["family"] == family))
    if not names:
        raise ValueError(f"no runs of family {family!r}")

    def score(name):
        m = float(np.mean([r["val"][metric] for r in runs if r["name"] == name]))
        return m if lower else -m

    return min(names, key=score)


PRESETS = {
    "smoke": AlternativesConfig(methods=(Method("baseline"), Method("smoothing", eps=0.1),
                                         Method("weight decay", weight_decay=5e-4),
                                         Method("confidence penalty", confidence_penalty=0.3),
                                         Method("mixup + smoothing", eps=0.1, mixup_alpha=0.2)),
                                seeds=(0,), hidden=(16,), epochs=1.0, train_size=2000, eval_size=1000,
                                nc1_size=1000),
    "cpu": AlternativesConfig(),
    "gpu": AlternativesConfig(seeds=(0, 1, 2, 3, 4), hidden=(1024, 1024), epochs=40.0),
}


def alternatives(cfg: AlternativesConfig, memo) -> dict:
    """Smoothing vs weight decay, confidence penalty, temperature scaling and mixup (+ smoothing)."""
    grid = [(m, s) for m in cfg.methods for s in cfg.seeds]
    runs = memo.many([(f"{m.key}_seed={s}", partial(_one_run, cfg, m, s), {"cfg": cfg, "method": m, "seed": s})
                      for m, s in grid])
    return {"runs": runs, "families": list(dict.fromkeys(m.family for m in cfg.methods))}


# ----------------------------------------------------------------------------- verdicts

def mean(runs: list[dict], name: str, view: str, metric: str | None = None) -> float:
    """Mean over seeds of ``run[view][metric]`` (or ``run[view]``) for the method ``name``."""
    vals = [r[view][metric] if metric else r[view] for r in runs if r["name"] == name]
    if not vals:
        raise ValueError(f"no runs of method {name!r}")
    return float(np.mean(vals))


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {"weight_decay": "sec-alt-weight-decay", "confidence_penalty": "sec-alt-penalty",
            "temperature_scaling": "sec-alt-temperature", "mixup_stack": "sec-alt-mixup"}


def claims(data_: dict, config: dict) -> list[dict]:
    """The four tutorial claims of the chapter, each with the rule it is judged by (the chapter's
    own rules, moved here unchanged; they compare means over seeds, not paired intervals):

    * weight decay "gives roughly the same effect": *partly* if some weight decay of the grid
      reaches an NC1 ratio (to the baseline) within 10 % of the weakest smoothing's, else *does
      not hold* (both shrink the logits; the question is the clusters);
    * the confidence penalty "is an alternative": *holds on these measures* if the chosen penalty's
      logit-norm and NC1 ratios are both within 0.15 of the chosen smoothing's, else *partly*;
    * temperature scaling "alone does the job" for calibration: *holds here* if no method's NLL
      after temperature scaling beats the baseline's by more than 0.002, else *partly*;
    * smoothing on heavy mixup "over-regularises": the most under-confident mixup + smoothing run
      must be under-confident by more than 0.05 *and* below both ingredients in accuracy —
      *holds* if both, *partly* if one, else *does not hold*.
    """
    runs = data_["runs"]
    names = list(dict.fromkeys(r["name"] for r in runs))
    chosen = {f: select(runs, f) for f in data_["families"]}
    base = "baseline"

    def ratio(name, view, metric=None):
        return mean(runs, name, view, metric) / mean(runs, base, view, metric)

    def family(prefix):
        return [n for n in names if n.startswith(prefix)]

    ls, cp = chosen["smoothing"], chosen["confidence penalty"]
    same_geometry = (min(ratio(n, "nc1_train") for n in family("weight decay"))
                     <= 1.1 * max(ratio(n, "nc1_train") for n in family("smoothing")))
    close = (abs(ratio(cp, "test", "logit_norm") - ratio(ls, "test", "logit_norm")) < 0.15
             and abs(ratio(cp, "nc1_train") - ratio(ls, "nc1_train")) < 0.15)
    best_ts = min(mean(runs, n, "test_ts", "nll") for n in names)
    ts_holds = mean(runs, base, "test_ts", "nll") - best_ts <= 0.002
    mix_only, mix_ls = family("mixup α"), family("mixup + smoothing")
    heavy = min(mix_ls, key=lambda n: mean(runs, n, "test", "overconfidence"))
    alpha = heavy.split("α=")[1]
    eps = float(heavy.split("ε=")[1].split()[0])
    parts = [n for n in mix_only if n.split("α=")[1] == alpha]
    parts += [n for n in family("smoothing") if float(n.split("ε=")[1]) == eps]
    under = mean(runs, heavy, "test", "overconfidence") < -0.05
    below = all(mean(runs, heavy, "test", "accuracy") < mean(runs, p, "test", "accuracy") for p in parts)
    stack = "holds" if under and below else "partly" if under or below else "does not hold"
    where = "MLP, Fashion-MNIST"
    return [
        {"key": "weight_decay", "source": "Tutorials", "where": where, "setting": where,
         "claim": "weight decay gives roughly the same effect as label smoothing",
         "verdict": "partly" if same_geometry else "does not hold"},
        {"key": "confidence_penalty", "source": "Tutorials", "where": where, "setting": where,
         "claim": "the confidence penalty is an alternative to smoothing",
         "verdict": "holds on these measures" if close else "partly"},
        {"key": "temperature_scaling", "source": "Tutorials", "where": where, "setting": where,
         "claim": "for calibration, temperature scaling alone does the job",
         "verdict": "holds here" if ts_holds else "partly"},
        {"key": "mixup_stack", "source": "Tutorials", "where": where, "setting": where,
         "claim": "stacking smoothing on heavy mixup over-regularises", "verdict": stack},
    ]


EXPERIMENT = declare(
    "alternatives", version=1, presets=PRESETS, run=alternatives,
    page="chapters/practice/alternatives",
    claims=claims, sections=SECTIONS)
