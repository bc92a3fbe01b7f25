"""Xia et al. (ICLR 2025) on Fashion-MNIST: does label smoothing hurt selective classification,
and does normalising the logits repair it?

Networks trained to the end with α ∈ {0, 0.1, 0.2, 0.6} (paired seeds). Each is scored on the
test split under the max softmax probability (MSP) and under max_k z_k / ‖z‖_p with p chosen on
the validation split (``lsutils.selective``); the gradient argument is checked on the logits
themselves (max logit and ‖z‖ of right and wrong predictions).
"""

from __future__ import annotations

from functools import partial
from dataclasses import dataclass

import numpy as np
import torch

from lsutils import data, selective, stats, train
from lsutils.recipes import Network, build_network, cosine
from lsutils.stats import mean_or_nan
from lsutils.results import declare
from lsutils.table import Runs

__all__ = ["SelectiveConfig", "Gates", "selective_classification", "claims", "COVERAGES"]

COVERAGES = (0.1, 0.2, 0.5, 0.8)
P_GRID = tuple(range(1, 11))


@dataclass(frozen=True)
class Gates:
    # Both are the book's own, not Xia et al.'s (a ResNet-50 does not fit ImageNet; the paper gives
    # no margin). Values unchanged since written; the gate's scope (both arms of each α, instead of
    # every run) and the cpu recipe (30 → 60 epochs) were changed in commit 63faf54, after the
    # 30-epoch sweep had missed the gate.
    train_accuracy: float = 0.99     # every run, on its training images
    aurc_margin: float = 0.25        # AURC points (%): "normalisation recovers" tolerates this much


@dataclass(frozen=True)
class SelectiveConfig:
    network: Network
    alphas: tuple[float, ...] = (0.0, 0.1, 0.2, 0.6)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    dataset: str = "fashion_mnist"
    train_size: int = 0
    val_size: int = 5_000        # held-out images on which p is chosen
    test_size: int = 0           # 0: the whole test split
    curve_points: int = 100      # risk–coverage points stored per score
    gates: Gates = Gates()


def _score_summary(scores: np.ndarray, correct: np.ndarray, points: int) -> dict:
    cov, risk = selective.risk_coverage(scores, correct)
    pick = np.unique(np.linspace(0, len(cov) - 1, points).round().astype(int))
    return {"aurc": 100 * selective.aurc(scores, correct), "e_aurc": 100 * selective.e_aurc(scores, correct),
            **{f"risk@{c:g}": 100 * selective.risk_at_coverage(scores, correct, c) for c in COVERAGES},
            "curve": {"coverage": cov[pick].tolist(), "risk": (100 * risk[pick]).tolist()}}


def _logit_stats(z: np.ndarray, correct: np.ndarray) -> dict:
    """Mean max logit, ‖z‖₂ and MSP of right and of wrong predictions (centred logits)."""
    zc = z - z.mean(1, keepdims=True)
    out = {}
    for name, mask in (("right", correct), ("wrong", ~correct)):
        out[name] = {"max_logit": float(zc[mask].max(1).mean()), "norm": float(np.linalg.norm(zc[mask], axis=1).mean()),
                     "msp": float(selective.max_softmax(z[mask]).mean()), "n": int(mask.sum())}
    return out


def _run(cfg: SelectiveConfig, alpha: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    xtr, ytr = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
    xva, yva = data.load_split(cfg.dataset, "val", limit=cfg.val_size)
    xte, yte = data.load_split(cfg.dataset, "test", limit=cfg.test_size)
    torch.manual_seed(seed)
    model = build_network(cfg.network, info)
    model, hist = train.train(model, xtr, ytr, train.TrainConfig(**{**cfg.network.train.__dict__, "eps": alpha,
                                                                     "seed": seed}))
    z_tr, z_va, z_te = (train.predict_logits(model, x, bf16=False).double().numpy() for x in (xtr, xva, xte))
    right_va, right_te = z_va.argmax(1) == yva.numpy(), z_te.argmax(1) == yte.numpy()
    p = selective.choose_p(z_va, right_va, P_GRID)
    p_centred = selective.choose_p(z_va, right_va, P_GRID, centre=True)
    scores = {"msp": selective.max_softmax(z_te), "pnorm": selective.max_logit_pnorm(z_te, p),
              "pnorm_centred": selective.max_logit_pnorm(z_te, p_centred, centre=True)}
    return {"alpha": alpha, "seed": seed, "arch": cfg.network.arch, "images_per_s": hist.images_per_s,
            "accuracy": {"train": float((z_tr.argmax(1) == ytr.numpy()).mean()), "val": float(right_va.mean()),
                         "test": float(right_te.mean())},
            "p": p, "p_centred": p_centred,
            "scores": {k: _score_summary(s, right_te, cfg.curve_points) for k, s in scores.items()},
            "logits": _logit_stats(z_te, right_te)}


# the cpu preset: accuracy_clustering's MLP recipe, which fits its training images within the budget
PRESETS = {
    "smoke": SelectiveConfig(Network("mlp", 32, cosine(1, 0.05)), alphas=(0.0, 0.2), seeds=(0, 1),
                             train_size=512, val_size=256, test_size=256, curve_points=10),
    # 60 epochs: at 30 the smoothed networks fit 94.5–99.2 % of their training images, under the gate
    "cpu": SelectiveConfig(Network("mlp", 512, cosine(60, 0.05)), train_size=10_000),
    "gpu": SelectiveConfig(Network("resnet56", 16, cosine(60, 0.1, weight_decay=1e-4, crop_padding=2, flip=True))),
}


def selective_classification(cfg: SelectiveConfig, memo) -> dict:
    """Risk–coverage under MSP and normalised logits, with and without smoothing (Xia et al. 2025)."""
    shared = {k: getattr(cfg, k) for k in ("network", "dataset", "train_size", "val_size", "test_size",
                                           "curve_points")}
    runs = memo.many([(f"alpha={alpha}_seed={seed}", partial(_run, cfg, alpha, seed),
                       {**shared, "alpha": alpha, "seed": seed})
                      for seed in cfg.seeds for alpha in cfg.alphas])
    return {"runs": runs, "coverages": list(COVERAGES), "p_grid": list(P_GRID)}


# ----------------------------------------------------------------------------- verdicts

def _arms(runs: Runs, score: str, measure: str, alpha: float) -> tuple[list, list]:
    """``measure`` of ``score`` ("msp", "pnorm") at α = 0 and at ``alpha``, paired by seed. A
    measure's name may hold a dot ("risk@0.2"), so it is read from the score's dict of measures."""
    hard, smoothed = runs.paired(f"scores.{score}", {"alpha": 0.0}, {"alpha": alpha})
    return [s[measure] for s in hard], [s[measure] for s in smoothed]


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {key: "sec-sel-verdicts" for key in ("xia_aurc", "xia_eaurc", "xia_low", "xia_fix")}


def claims(data_: dict, config: dict) -> list[dict]:
    """Per smoothed α, against α = 0 (paired by seed; both arms must fit their training images,
    else "premise not met" for that α): smoothing raises AURC and E-AURC under MSP
    and the risk at 20 % coverage; with normalised logits the smoothed network's AURC is within
    the margin of (or below) the unsmoothed network's under MSP. Each is read off its interval at
    its Holm level within these claims (``stats.holm_family``)."""
    g = Gates(**config["gates"])
    alphas = [float(a) for a in config["alphas"]]
    runs = Runs(data_["runs"])
    fit = {a: min(runs.where(alpha=a).column("accuracy.train")) for a in alphas}
    out = []
    for a1 in [a for a in alphas if a > 0]:
        worst = min(fit[0.0], fit[a1])   # both arms of the comparison must fit their training images
        prem = {"min_train_accuracy": worst, "train_accuracy": fit, "fits": worst >= g.train_accuracy,
                "met": worst >= g.train_accuracy}
        msp_aurc, pnorm_aurc = _arms(runs, "msp", "aurc", a1), _arms(runs, "pnorm", "aurc", a1)
        # the smoothed network under the p-norm score against the unsmoothed one under MSP, on −AURC
        recovered = [-v for v in msp_aurc[0]], [-v for v in pnorm_aurc[1]]
        specs = [
            ("xia_aurc", "smoothing raises AURC under MSP", "AURC (%)", "effect", +1, msp_aurc),
            ("xia_eaurc", "… also at matched accuracy (E-AURC)", "E-AURC (%)", "effect", +1,
             _arms(runs, "msp", "e_aurc", a1)),
            ("xia_low", "the damage is at low coverage", "risk at 20 % coverage (%)", "effect", +1,
             _arms(runs, "msp", "risk@0.2", a1)),
            ("xia_fix", "normalised logits recover it (smoothed, p-norm vs unsmoothed, MSP)", "−AURC (%)", "harm",
             None, recovered),
        ]
        for key, statement, measure, kind, sign, (a, b) in specs:
            diff, verdict = stats.judge_paired(a, b, prem["met"], kind, sign, g.aurc_margin)
            out.append({"key": key, "alpha": a1, "source": "Xia et al. (2025)", "claim": statement,
                        "arch": f"α = {a1:g}", "measure": measure, "hard": mean_or_nan(a), "smoothed": mean_or_nan(b),
                        "diff": diff, "verdict": verdict, "premise": prem, "kind": kind,
                        **({"margin": g.aurc_margin} if kind == "harm" else {"expected_sign": sign})})
    return stats.holm_family(out)



# ----------------------------------------------------------------------------- what the chapter shows

ALPHA_COLORS = ("tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green")


def rc_panels(data_: dict, config: dict) -> list[dict]:
    """Risk–coverage curves (mean over seeds) per α: under MSP, and under the p-norm score."""
    from lsutils.plot import band

    panels = []
    for score, title in (("msp", "max softmax probability"),
                         ("pnorm", r"max logit / $\Vert z\Vert_p$ ($p$ chosen on validation)")):
        series = []
        for color, alpha in zip(ALPHA_COLORS, [float(a) for a in config["alphas"]]):
            mine = [r for r in data_["runs"] if r["alpha"] == alpha]
            x = mine[0]["scores"][score]["curve"]["coverage"]
            mean, lo, hi = band([r["scores"][score]["curve"]["risk"] for r in mine])
            series.append({"x": x, "y": mean, "lo": lo, "hi": hi, "label": f"α = {alpha:g}", "color": color,
                           "marker": ""})
        panels.append({"title": title, "xlabel": "coverage", "ylabel": "selective risk (%)", "series": series,
                       "legend": score == "msp", "legend_loc": "upper center"})
    return panels


def summary_rows(data_: dict, config: dict) -> list[list[str]]:
    """Per α (mean ± std over seeds): test error, AURC and E-AURC under MSP, risk at 20 %
    coverage, AURC under the p-norm score, the p chosen (once where every seed chose the same)."""
    from lsutils.report import mean_std

    rows = []
    for alpha in [float(a) for a in config["alphas"]]:
        mine = [r for r in data_["runs"] if r["alpha"] == alpha]
        m = lambda s, k: mean_std([r["scores"][s][k] for r in mine])  # noqa: E731
        ps = sorted(r["p"] for r in mine)
        rows.append([f"{alpha:g}", mean_std([100 * (1 - r["accuracy"]["test"]) for r in mine]),
                     m("msp", "aurc"), m("msp", "e_aurc"), m("msp", "risk@0.2"), m("pnorm", "aurc"),
                     str(ps[0]) if len(set(ps)) == 1 else ", ".join(str(p) for p in ps)])
    return rows


SUMMARY_HEADER = ("α", "test error (%)", "AURC, MSP", "E-AURC, MSP", "risk at 20 % coverage, MSP",
                  "AURC, $p$-norm score", "$p$ chosen")


def logit_rows(data_: dict, config: dict) -> list[list[str]]:
    """Per α: mean (centred) max logit and ‖z‖₂ of right and wrong test predictions, and their ratio."""
    rows = []
    for alpha in [float(a) for a in config["alphas"]]:
        mine = [r["logits"] for r in data_["runs"] if r["alpha"] == alpha]
        avg = lambda side, k: sum(m[side][k] for m in mine) / len(mine)  # noqa: E731
        rows.append([f"{alpha:g}", f"{avg('right', 'max_logit'):.2f}", f"{avg('wrong', 'max_logit'):.2f}",
                     f"{avg('right', 'max_logit') / avg('wrong', 'max_logit'):.2f}",
                     f"{avg('right', 'msp'):.3f}", f"{avg('wrong', 'msp'):.3f}"])
    return rows


LOGIT_HEADER = ("α", "max logit, right", "max logit, wrong", "ratio", "MSP, right", "MSP, wrong")


EXPERIMENT = declare(
    "selective", version=1, presets=PRESETS, run=selective_classification,
    page="chapters/after/selective",
    claims=claims, sections=SECTIONS,
    headlines={"xia_aurc": "Smoothing makes confidence worse at putting mistakes last"})
