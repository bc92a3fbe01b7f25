"""Müller et al. (2019) Table 3 on Fashion-MNIST: calibration of label smoothing vs temperature scaling.

Each run trains one network at one smoothing α and one seed, then keeps only small summaries (the
logits never leave the run): metrics on the validation and test splits at T = 1 and at the
temperature fitted on the validation split, 15-bin reliability tables, per-class calibration, and
the "unsmoothed" probabilities p ↦ (p − α/K)/(1 − α). Choices of α are made afterwards from the
validation numbers only (``select``); the test split is never used to choose anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from dataclasses import dataclass

import numpy as np
import torch

from lsutils import data, metrics, models, stats, theory, train
from lsutils.recipes import paper_resnet
from lsutils.results import declare
from lsutils.table import Runs, pick

NLL_FLOOR = 1e-12   # unsmoothed probabilities can be exactly 0 on the true class; NLL clamps p_y here
# bins for the reliability of every class probability (not only the top one): 0, then 10^-5 … 1 in quarter decades
PROB_EDGES = (0.0, *np.logspace(-5, 0, 21).tolist())
SUMMARY_METRICS = ("ece", "ece_adaptive", "ece_classwise", "nll", "brier", "accuracy", "confidence")


@dataclass(frozen=True)
class Setting:
    """One network trained on one training set; ``train.eps`` and ``train.seed`` are set per run."""

    name: str                 # "full-data" or "small-data"
    arch: str                 # models.build name, e.g. "resnet8", "resnet56", "mlp"
    width: int                # channels; for "mlp" the width of its two hidden layers
    train_size: int           # first n images of the training split; 0: all 50 000
    train: train.TrainConfig
    why: str = ""             # one line for the chapter: what this setting is for


@dataclass(frozen=True)
class Gates:
    """Premises and the claim's rule, fixed before the runs."""
    train_accuracy: float = 0.99   # the hard-target networks fit their training images
    share: float = 2 / 3           # smoothing must remove this share of temperature scaling's ECE reduction


@dataclass(frozen=True)
class CalibrationConfig:
    settings: tuple[Setting, ...]
    eps_values: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3)
    seeds: tuple[int, ...] = (0, 1)
    dataset: str = "fashion_mnist"
    n_bins: int = 15
    val_size: int = 0         # validation examples used to fit T and choose α; 0: all 10 000
    test_size: int = 0        # 0: all 10 000
    train_eval_size: int = 2000   # training examples on which training accuracy/confidence are measured
    gates: Gates = Gates()


def _summary(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict:
    return {"ece": metrics.ece(probs, labels, n_bins),
            "ece_adaptive": metrics.adaptive_ece(probs, labels, n_bins),
            "ece_classwise": metrics.classwise_ece(probs, labels, n_bins),
            "nll": metrics.nll(probs, labels, floor=NLL_FLOOR),
            "brier": metrics.brier(probs, labels),
            "accuracy": metrics.accuracy(probs, labels),
            "confidence": float(probs.max(1).mean())}


def _full(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict:
    """Summary plus the reliability table and the per-class view (what the figures need)."""
    pc = metrics.per_class(probs, labels)
    return {**_summary(probs, labels, n_bins),
            "reliability": metrics.reliability(probs, labels, n_bins).to_dict(),
            "probability_reliability": metrics.probability_reliability(probs, labels, PROB_EDGES).to_dict(),
            "per_class": {"count": pc["count"].tolist(),
                          "conf_sum": np.nan_to_num(pc["confidence"] * pc["count"]).tolist(),
                          "correct_sum": np.nan_to_num(pc["accuracy"] * pc["count"]).tolist()}}


def _network(setting: Setting, info: data.DatasetInfo) -> torch.nn.Module:
    shape = (info.channels, *info.image_size)
    if setting.arch == "mlp":
        return models.build("mlp", shape, info.num_classes, hidden=(setting.width, setting.width))
    return models.build(setting.arch, shape, info.num_classes, width=setting.width)


def evaluate(val_logits, val_labels, test_logits, test_labels, eps: float, n_bins: int = 15) -> dict:
    """Everything a run reports, from its validation and test logits (no training in here).

    T is fitted on the validation logits by ``metrics.fit_temperature`` and applied to the test
    logits. For α > 0 the test probabilities are also "unsmoothed" (clipped at 0, renormalised).
    """
    zv, yv = np.asarray(val_logits, np.float64), np.asarray(val_labels)
    zt, yt = np.asarray(test_logits, np.float64), np.asarray(test_labels)
    k = zv.shape[1]
    t = metrics.fit_temperature(zv, yv)
    out = {"temperature": t,
           "val": {"t1": _summary(metrics.softmax(zv), yv, n_bins),
                   "ts": _summary(metrics.softmax(zv, t), yv, n_bins)},
           "test": {"t1": _full(metrics.softmax(zt), yt, n_bins),
                    "ts": _full(metrics.softmax(zt, t), yt, n_bins)}}
    if eps > 0:
        p = metrics.softmax(zt)
        un = theory.unsmooth(torch.from_numpy(p), k, eps, clip=True).numpy()
        out["test"]["unsmoothed"] = {**_full(un, yt, n_bins),
                                     "true_class_zeroed": float((un[np.arange(len(yt)), yt] == 0).mean())}
        pv = theory.unsmooth(torch.from_numpy(metrics.softmax(zv)), k, eps, clip=True).numpy()
        out["val"]["unsmoothed"] = _summary(pv, yv, n_bins)
    return out


def _one_run(cfg: CalibrationConfig, setting: Setting, eps: float, seed: int) -> dict:
    xtr, ytr = data.load_split(cfg.dataset, "train")
    if setting.train_size:
        xtr, ytr = xtr[:setting.train_size], ytr[:setting.train_size]
    xv, yv = data.load_split(cfg.dataset, "val")
    xt, yt = data.load_split(cfg.dataset, "test")
    xv, yv = xv[:cfg.val_size or None], yv[:cfg.val_size or None]
    xt, yt = xt[:cfg.test_size or None], yt[:cfg.test_size or None]
    torch.manual_seed(seed)
    model = _network(setting, data.DATASETS[cfg.dataset])
    tcfg = train.TrainConfig(**{**setting.train.__dict__, "eps": eps, "seed": seed})
    model, hist = train.train(model, xtr, ytr, tcfg)
    zv, zt = train.predict_logits(model, xv), train.predict_logits(model, xt)
    n_tr = min(cfg.train_eval_size, len(xtr))
    ptr = metrics.softmax(train.predict_logits(model, xtr[:n_tr]).double().numpy())
    out = evaluate(zv.double().numpy(), yv.numpy(), zt.double().numpy(), yt.numpy(), eps, cfg.n_bins)
    out.update({"setting": setting.name, "eps": eps, "seed": seed,
                "parameters": models.count_parameters(model), "images_per_s": hist.images_per_s,
                "steps": hist.step[-1], "final_loss": hist.loss[-1],
                "train": {"accuracy": metrics.accuracy(ptr, ytr[:n_tr].numpy()),
                          "confidence": float(ptr.max(1).mean()), "n": n_tr}})
    return out


# ----------------------------------------------------------------------------- selection on validation

def _mean(values) -> float:
    return float(np.mean(list(values)))


def select(runs: list[dict], setting: str, seeds) -> dict:
    """Choose α on the **validation** split (mean over seeds), for each method of Table 3.

    * ``baseline``: α = 0, T = 1;   * ``ts``: α = 0, T fitted on validation NLL;
    * ``ls``: the α > 0 of the sweep with the lowest mean validation ECE at T = 1;
    * ``ls_ts``: the α > 0 with the lowest mean validation ECE after each run's own fitted T;
    * ``unsmoothed``: the α > 0 with the lowest mean validation ECE after unsmoothing.
    The smoothing methods choose among α > 0 only; ``val_ece_by_eps`` keeps the validation ECE of
    every candidate, and the runs at α = 0 show whether no smoothing would have scored better.
    Returns, per method, the α, the per-seed T and the per-seed test metrics it leads to.
    """
    mine = [r for r in runs if r["setting"] == setting]
    eps_values = sorted({r["eps"] for r in mine})

    def at(eps):
        by_seed = {r["seed"]: r for r in mine if r["eps"] == eps}
        return [by_seed[s] for s in seeds]

    def best(view, candidates):
        scores = {e: _mean(r["val"][view]["ece"] for r in at(e)) for e in candidates}
        return min(candidates, key=lambda e: (scores[e], e)), scores

    chosen = {"baseline": (0.0, "t1", None), "ts": (0.0, "ts", None)}
    positive = [e for e in eps_values if e > 0]
    if positive:
        for method, view in (("ls", "t1"), ("ls_ts", "ts"), ("unsmoothed", "unsmoothed")):
            eps, scores = best(view, positive)
            chosen[method] = (eps, view, scores)
    out = {}
    for method, (eps, view, scores) in chosen.items():
        rs = at(eps)
        out[method] = {"eps": eps, "view": view,
                       "temperature": [r["temperature"] if view == "ts" else 1.0 for r in rs],
                       "val_ece_by_eps": scores,
                       "test": {m: [r["test"][view][m] for r in rs] for m in SUMMARY_METRICS}}
    return out


# ----------------------------------------------------------------------------- presets

# The small-data setting: the same recipe without augmentation, on a small training set, for many passes.
# Augmentation is a regulariser that delays memorisation; this setting is there to memorise.
def memorise_recipe(epochs: float) -> train.TrainConfig:
    return paper_resnet(epochs, augment=False)


# The full-data CPU setting: all 50 000 images, a fully connected network, no augmentation and no weight
# decay, trained until it fits them (measured: 98.9 % of the training images after 25 epochs, 100 % after
# 50): the NLL over-fits on the full training set, as the paper's networks do.
def fit_recipe(epochs: float) -> train.TrainConfig:
    return train.TrainConfig(epochs=epochs, batch_size=256, lr=0.1, weight_decay=0.0, schedule="cosine")


def on_cpu(cfg: train.TrainConfig) -> train.TrainConfig:
    """The same recipe with bf16 autocast on the CPU (AMX): ≈ 1.7× (ResNet-8) to 2× (MLP) the images/s."""
    return train.TrainConfig(**{**cfg.__dict__, "cpu_bf16": True})


_WHY_FULL = "the whole training split, trained until it is fitted (no augmentation)"
_WHY_SMALL = ("a reduced training set, no augmentation, many passes: memorising it is the cheap route to an "
              "over-confident network, the regime the paper's baseline is in")

PRESETS = {
    "smoke": CalibrationConfig(
        settings=(Setting("full-data", "mlp", 32, 512, fit_recipe(2), _WHY_FULL),
                  Setting("small-data", "resnet8", 4, 256, memorise_recipe(4), _WHY_SMALL)),
        eps_values=(0.0, 0.1), seeds=(0, 1), val_size=512, test_size=512, train_eval_size=256),
    "cpu": CalibrationConfig(
        settings=(Setting("full-data", "mlp", 512, 0, on_cpu(fit_recipe(40)), _WHY_FULL),
                  Setting("small-data", "resnet8", 8, 1000, on_cpu(memorise_recipe(80)), _WHY_SMALL)),
        eps_values=(0.0, 0.05, 0.1, 0.2), seeds=(0, 1, 2, 3, 4), val_size=5000),
    # The paper's ResNet-56 recipe at its length: 64k steps of 128 ≈ 164 epochs of 50 000 images;
    # small-data: 5 000 images for 200 epochs (≈ 7.8k steps).
    "gpu": CalibrationConfig(
        settings=(Setting("full-data", "resnet56", 16, 0, paper_resnet(164), _WHY_FULL),
                  Setting("small-data", "resnet56", 16, 5000, memorise_recipe(200), _WHY_SMALL)),
        eps_values=(0.0, 0.05, 0.1, 0.2), seeds=(0, 1, 2, 3, 4)),
}


def calibration(cfg: CalibrationConfig, memo) -> dict:
    """Calibration: baseline, temperature scaling, label smoothing and both (Table 3), reliability diagrams."""
    grid = [(s, eps, seed) for s in cfg.settings for eps in cfg.eps_values for seed in cfg.seeds]
    shared = {k: getattr(cfg, k) for k in ("dataset", "n_bins", "val_size", "test_size", "train_eval_size")}
    runs = memo.many([(f"{s.name}_eps={eps}_seed={seed}", partial(_one_run, cfg, s, eps, seed),
                       {"setting": s, "eps": eps, "seed": seed, **shared})
                      for s, eps, seed in grid])
    return {"runs": runs,
            "selection": {s.name: select(runs, s.name, cfg.seeds) for s in cfg.settings},
            "class_names": list(data.DATASETS[cfg.dataset].class_names),
            "nll_floor": NLL_FLOOR, "probability_edges": list(PROB_EDGES)}


# ----------------------------------------------------------------------------- verdicts

def premise(runs: list[dict], setting: str, gates: Gates) -> dict:
    """Does the baseline (α = 0) of ``setting`` fit its training images, and is it over-confident
    on the test split (the 95 % interval of confidence − accuracy over seeds above 0)?"""
    by_seed = Runs(runs).where(setting=setting, eps=0.0).by("seed")
    base = Runs(by_seed[seed] for seed in sorted(by_seed))
    worst = min(base.column("train.accuracy"))
    gap = [c - a for c, a in zip(base.column("test.t1.confidence"), base.column("test.t1.accuracy"))]
    over = stats.paired_difference([0.0] * len(gap), gap) if len(gap) >= 2 else None
    overconfident = over is not None and over["low"] > 0
    return {"min_train_accuracy": worst, "fits": worst >= gates.train_accuracy,
            "overconfidence": over, "overconfident": overconfident,
            "met": worst >= gates.train_accuracy and overconfident}


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {"table3": "sec-cal-verdicts", "small_probabilities": "sec-cal-small-probabilities"}

SMALL_PROBABILITY = 10 ** -1.25   # "small" class probabilities: the reliability bins up to 10^-1.25 ≈ 5.6 %


def small_probability_ratios(runs: Iterable[dict], setting: str, eps: float, view: str, seeds,
                             upper: float = SMALL_PROBABILITY) -> list[float]:
    """Per seed, the mean predicted probability over the observed frequency of the class
    probabilities in the reliability bins up to ``upper`` (test split; > 1: they overstate how
    often their event happens; inf where none of them came true)."""
    table, out = Runs(runs), []
    for seed in seeds:
        r = table.one(setting=setting, eps=eps, seed=seed)
        t = metrics.Reliability.from_dict(pick(r, f"test.{view}.probability_reliability"))
        m = t.upper <= upper * (1 + 1e-9)
        hits = t.correct_sum[m].sum()
        out.append(float(t.conf_sum[m].sum() / hits) if hits > 0 else float("inf"))
    return out


def _small_probabilities(data_: dict, config: dict, setting: str) -> dict:
    """The book's extension (not a claim of the paper), per setting: smoothing, unlike temperature
    scaling, leaves the small class probabilities overstating their frequency. Rule, fixed before
    the runs: holds when in every seed the smoothed network's ratio (``small_probability_ratios``)
    is above every temperature-scaled baseline's, and its class-wise ECE above every one of theirs."""
    sel, seeds = data_["selection"][setting], config["seeds"]
    row = {"key": "small_probabilities", "setting": setting, "source": "This book (the erasure argument)",
           "claim": "smoothing, unlike temperature scaling, leaves small probabilities overstating their frequency"}
    if "ls" not in sel:
        return {**row, "verdict": "not testable here"}
    ls = small_probability_ratios(data_["runs"], setting, pick(sel, "ls.eps"), "t1", seeds)
    ts = small_probability_ratios(data_["runs"], setting, 0.0, "ts", seeds)
    cw_ls, cw_ts = pick(sel, "ls.test.ece_classwise"), pick(sel, "ts.test.ece_classwise")
    holds = min(ls) > max(ts) and min(cw_ls) > max(cw_ts)
    return {**row, "ratios_ls": ls, "ratios_ts": ts, "verdict": "holds" if holds else "does not hold"}


def claims(data_: dict, config: dict) -> list[dict]:
    """The chapter's claims: Table 3 per setting (``table3_claims``), then the book's own extension
    on small probabilities per setting (``_small_probabilities``: a rule on every seed, not an
    interval, so outside Holm's family)."""
    settings = Runs(config["settings"]).column("name")
    extension = [_small_probabilities(data_, config, s) for s in settings]
    return stats.holm_family(table3_claims(data_, config) + extension)   # idempotent on Table 3's


def table3_claims(data_: dict, config: dict) -> list[dict]:
    """Table 3, per setting: "smoothing calibrates about as well as temperature scaling", read as
    "smoothing (α chosen on validation) removes at least ``gates.share`` of the ECE reduction that
    temperature scaling achieves". Per seed s, d_s = (ECE_base − ECE_LS) − share·(ECE_base − ECE_TS);
    reproduced if the interval of mean d lies above 0, refuted if below, gated by ``premise``; the
    interval is read at each setting's Holm level within these claims (``stats.holm_family``)."""
    gates = Gates(**config["gates"])
    runs, selection = data_["runs"], data_["selection"]
    out = []
    for setting in Runs(config["settings"]).column("name"):
        sel = selection[setting]
        prem = premise(runs, setting, gates)
        base, ts = pick(sel, "baseline.test.ece"), pick(sel, "ts.test.ece")
        ls = pick(sel, "ls.test.ece") if "ls" in sel else None
        entry = {"key": "table3", "setting": setting, "source": "Table 3",
                 "claim": "smoothing calibrates about as well as temperature scaling",
                 "baseline": base, "ts": ts, "ls": ls, "eps": pick(sel, "ls.eps", None), "premise": prem}
        if ls is None or len(base) < 2:
            out.append({**entry, "diff": None, "verdict": "not testable here"})
            continue
        diff = stats.paired_difference([gates.share * (b - t) for b, t in zip(base, ts)],
                                       [b - l for b, l in zip(base, ls)])
        verdict = stats.judge_effect(diff, 1) if prem["met"] else "premise not met"
        out.append({**entry, "diff": diff, "verdict": verdict, "kind": "effect", "expected_sign": 1})
    return stats.holm_family(out)


EXPERIMENT = declare(
    "calibration", version=2, presets=PRESETS, run=calibration,
    page="chapters/reproduction/calibration",
    claims=claims, sections=SECTIONS,
    headlines={"table3": "Smoothing makes confidence as honest as rescaling it after training does"})
