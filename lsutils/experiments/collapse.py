"""Guo et al. (TMLR 2025) on Fashion-MNIST: smoothing reaches neural collapse sooner and stronger.

Networks trained to the end with α = 0 and 0.1 (paired seeds); at every epoch the training
features are measured: NC1, NC2 of the class means and of the templates, NC3, the training
margin. ``claims`` compares NC1 and NC2 at the end and NC2 at matched NC1. "Sooner" is judged
once, in ``accuracy_clustering``; the chapter shows the epochs to the NC1 threshold here, and
the runs that never reach it (``censored_runs``), to say why. It also sets the final margins
beside the unconstrained-features model (``lsutils.ufm``), the book's own exploration.
"""

from __future__ import annotations

from functools import partial
import math
from dataclasses import dataclass

import numpy as np
import torch

from lsutils import data, geometry, models, stats, train
from lsutils.experiments.accuracy_clustering import logit_gaps
from lsutils.recipes import Network, build_network, cosine
from lsutils.stats import mean_or_nan
from lsutils.results import declare
from lsutils.table import Runs, pick

__all__ = ["CollapseConfig", "Gates", "collapse", "claims", "epochs_to", "censored_runs", "at_matched_nc1"]


@dataclass(frozen=True)
class Gates:
    train_accuracy: float = 0.99   # every run, on its training images
    nc1_reached: float = 1.0       # "sooner": epochs until NC1 ≤ this value (shown, judged in accuracy_clustering)


@dataclass(frozen=True)
class CollapseConfig:
    network: Network
    alphas: tuple[float, ...] = (0.0, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    dataset: str = "fashion_mnist"
    train_size: int = 0
    curve_points: int = 40     # measurements over training
    gates: Gates = Gates()


def _measure(model, x, y, k: int) -> dict:
    w, b = models.classifier_weights(model)
    h = train.extract_features(model, x, bf16=False).double()
    z = h @ w.T + b
    nc2, nc2w = geometry.nc2(h, y, k), geometry.nc2_templates(w)
    return {"accuracy": (z.argmax(1) == y).double().mean().item(), "nc1": geometry.nc1(h, y, k),
            "nc2": nc2["equiangular"], "nc2_equinorm": nc2["equinorm"], "nc2_templates": nc2w["equiangular"],
            "nc3": geometry.nc3(h, y, k, w), **logit_gaps(z.float(), y),
            "feature_norm": h.norm(dim=1).mean().item(), "weight_norm": w.norm(dim=1).mean().item()}


def _run(cfg: CollapseConfig, alpha: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    xtr, ytr = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
    total = train.total_steps(len(xtr), cfg.network.train.epochs, cfg.network.train.batch_size)
    per_epoch = train.steps_per_epoch(len(xtr), cfg.network.train.batch_size)
    tcfg = train.TrainConfig(**{**cfg.network.train.__dict__, "eps": alpha, "seed": seed,
                                "eval_every": max(1, total // cfg.curve_points)})
    torch.manual_seed(seed)
    model = build_network(cfg.network, info)
    model, hist = train.train(model, xtr, ytr, tcfg,
                              hooks={"m": lambda m: _measure(m, xtr, ytr, info.num_classes)})
    return {"alpha": alpha, "seed": seed, "arch": cfg.network.arch, "images_per_s": hist.images_per_s,
            "curve": [{"epoch": e["step"] / per_epoch, **e["m"]} for e in hist.evals]}


PRESETS = {
    "smoke": CollapseConfig(Network("resnet8", 4, cosine(2, 0.1)), seeds=(0, 1), train_size=256, curve_points=4),
    "cpu": CollapseConfig(Network("resnet8", 8, cosine(40, 0.1)), train_size=3_000),
    "gpu": CollapseConfig(Network("resnet56", 16, cosine(60, 0.1, weight_decay=1e-4)), curve_points=60),
}


def collapse(cfg: CollapseConfig, memo) -> dict:
    """NC1–NC3 and margins over training, with and without smoothing (Guo et al. 2025)."""
    shared = {k: getattr(cfg, k) for k in ("network", "dataset", "train_size", "curve_points")}
    runs = memo.many([(f"alpha={alpha}_seed={seed}", partial(_run, cfg, alpha, seed),
                       {**shared, "alpha": alpha, "seed": seed})
                      for seed in cfg.seeds for alpha in cfg.alphas])
    return {"runs": runs, "num_classes": data.DATASETS[cfg.dataset].num_classes}


# ----------------------------------------------------------------------------- verdicts

def epochs_to(run: dict, threshold: float) -> float:
    """First measured epoch with NC1 ≤ ``threshold``; the last epoch if never (censored)."""
    for p in run["curve"]:
        if p["nc1"] <= threshold:
            return p["epoch"]
    return run["curve"][-1]["epoch"]


def at_matched_nc1(run: dict, level: float, key: str = "nc2") -> float:
    """``key`` where NC1 first falls to ``level``, interpolated linearly in log NC1 between the
    two measurements around the crossing; NaN if the run never reaches ``level``."""
    curve = run["curve"]
    for prev, cur in zip(curve, curve[1:]):
        if prev["nc1"] > level >= cur["nc1"]:
            t = (math.log(prev["nc1"]) - math.log(level)) / (math.log(prev["nc1"]) - math.log(cur["nc1"]))
            return prev[key] + t * (cur[key] - prev[key])
    if curve and curve[0]["nc1"] <= level:
        return curve[0][key]
    return math.nan


def censored_runs(runs: list[dict], threshold: float) -> list[dict]:
    """The runs whose NC1 never falls to ``threshold``: their ``epochs_to`` is a lower bound."""
    return [r for r in runs if all(p["nc1"] > threshold for p in r["curve"])]


def matched_level(runs: list[dict]) -> float:
    """The NC1 level every run reaches: the largest final NC1 over runs."""
    return max(r["curve"][-1]["nc1"] for r in runs)


def _end(run: dict) -> dict:
    """The run's last measurement: the end of training."""
    return pick(run, "curve")[-1]


def _by_seed(runs: Runs, alpha: float, value) -> dict[int, float]:
    """``value(run)`` of the runs at ``alpha``, keyed by seed."""
    return {seed: value(run) for seed, run in runs.where(alpha=alpha).by("seed").items()}


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {key: "sec-collapse-trained" for key in ("guo_nc1", "guo_nc2", "guo_matched")}


def claims(data_: dict, config: dict) -> list[dict]:
    """α = 0.1 against α = 0, paired by seed: stronger (final NC1, final NC2), stronger NC2 at
    matched NC1; each read off its interval at its Holm level within these claims
    (``stats.holm_family``). "Sooner" is judged in ``accuracy_clustering`` alone."""
    g = Gates(**config["gates"])
    a0, a1 = (float(a) for a in config["alphas"][:2])
    arch = pick(config, "network.arch")
    runs = Runs(data_["runs"])
    worst = min(pick(_end(r), "accuracy") for r in runs)
    prem = {"min_train_accuracy": worst, "fits": worst >= g.train_accuracy, "met": worst >= g.train_accuracy}
    level = matched_level(runs.rows)
    specs = [("guo_nc1", "smoothing ends with stronger NC1", "final NC1", lambda r: pick(_end(r), "nc1")),
             ("guo_nc2", "… and stronger NC2", "final NC2 (equiangularity)", lambda r: pick(_end(r), "nc2")),
             ("guo_matched", f"… and stronger NC2 at matched NC1 (= {level:.2f})", "NC2 at matched NC1",
              lambda r: at_matched_nc1(r, level))]
    out = []
    for key, statement, measure, value in specs:
        x, y = _by_seed(runs, a0, value), _by_seed(runs, a1, value)
        seeds = [s for s in sorted(set(x) & set(y)) if np.isfinite(x[s]) and np.isfinite(y[s])]
        a, b = [x[s] for s in seeds], [y[s] for s in seeds]
        diff, verdict = stats.judge_paired(a, b, prem["met"], "effect", -1)
        out.append({"key": key, "source": "Guo et al. (2025)", "claim": statement, "arch": arch,
                    "measure": measure, "hard": mean_or_nan(a), "smoothed": mean_or_nan(b), "diff": diff, "verdict": verdict,
                    "premise": prem, "kind": "effect", "expected_sign": -1})
    return stats.holm_family(out)



# ----------------------------------------------------------------------------- what the chapter shows

COLORS = {0.0: "tab:blue", 0.1: "tab:red"}


def curve_panels(data_: dict, config: dict) -> list[dict]:
    """NC1 and NC2 against epoch (mean and range over seeds), and NC2 against NC1 (every run)."""
    from lsutils.plot import band

    runs = data_["runs"]
    by_time = []
    for key, label, scale in (("nc1", "NC1 (training features)", "log"), ("nc2", "NC2, equiangularity", "log")):
        series = []
        for alpha in [float(a) for a in config["alphas"]]:
            mine = [r for r in runs if r["alpha"] == alpha]
            x = [p["epoch"] for p in mine[0]["curve"]]
            mean, lo, hi = band([[p[key] for p in r["curve"]] for r in mine])
            series.append({"x": x, "y": mean, "lo": lo, "hi": hi, "label": f"α = {alpha:g}",
                           "color": COLORS.get(alpha, "k"), "marker": ""})
        by_time.append({"title": label, "xlabel": "epoch", "ylabel": "", "yscale": scale, "series": series,
                        "legend": key == "nc1"})
    paths = []
    for r in sorted(runs, key=lambda r: (r["alpha"], r["seed"])):
        paths.append({"x": [p["nc1"] for p in r["curve"]], "y": [p["nc2"] for p in r["curve"]],
                      "color": COLORS.get(r["alpha"], "k"), "marker": "", "ls": "-"})
    level = matched_level(runs)
    by_time.append({"title": "NC2 against NC1 (each run)", "xlabel": "NC1", "ylabel": "NC2", "xscale": "log",
                    "yscale": "log", "series": paths, "legend": False,
                    "vlines": [level]})
    return by_time


def margin_rows(data_: dict, config: dict, ufm_margin) -> list[list[str]]:
    """Per α: final NC1, NC2, NC3, training margin z_y − mean_{j≠y} z_j, and the UFM's margin
    ``ufm_margin(alpha)`` (None: no finite optimum)."""
    from lsutils.report import fmt_number, mean_std

    rows = []
    for alpha in [float(a) for a in config["alphas"]]:
        end = [r["curve"][-1] for r in data_["runs"] if r["alpha"] == alpha]
        m = ufm_margin(alpha)
        rows.append([f"{alpha:g}", mean_std([p["nc1"] for p in end], 3), mean_std([p["nc2"] for p in end], 3),
                     mean_std([p["nc3"] for p in end], 3), mean_std([p["gap_mean_other"] for p in end]),
                     "∞ (grows without bound)" if m is None else fmt_number(m, 2)])
    return rows


MARGIN_HEADER = ("α", "NC1", "NC2", "NC3", "margin: true logit − mean of the others",
                 "UFM margin, λ\u00a0→\u00a00")


EXPERIMENT = declare(
    "collapse", version=1, presets=PRESETS, run=collapse,
    page="chapters/after/collapse",
    claims=claims, sections=SECTIONS,
    headlines={"guo_nc1": "Smoothing collapses each class more tightly by the end of training"})
