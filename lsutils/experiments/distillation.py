"""Müller et al. (2019) Figure 5 on Fashion-MNIST: smoothed teachers make worse teachers.

Teachers (the paper's ResNet family) are trained with smoothing α to the end; each teacher's
logits are computed once and its students (a smaller network) are trained on them:

* the paper's form, β = 1, student at temperature 1: every teacher at T = 1, the hard teacher
  (α = 0) at every T of the grid, each smoothed teacher also at a high T (Chandrasegaran et al.);
* at matched γ: the hard teacher at the T* whose equivalent smoothing γ equals that of the
  α-teacher at T = 1 — the comparison Figure 5's x-axis makes;
* Hinton et al.'s standard form (student at T, T² factor, β < 1) beside it;
* students trained directly on the labels with smoothing α (α = 0: the student alone).

``claims`` turns the runs into verdicts, gated by the premises: teachers fit their training
images, the hard teacher is confident (γ at T = 1 small), and it beats the student alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from scipy.optimize import brentq
from tqdm import tqdm

from lsutils import data, distill, models, stats, train
from lsutils.experiments.accuracy_clustering import Network, _mean, _network
from lsutils.results import experiment

__all__ = ["DistillationConfig", "Gates", "distillation", "claims", "matched_temperature", "gamma_at"]


@dataclass(frozen=True)
class Gates:
    """Premises and margins, fixed before the runs."""
    train_accuracy: float = 0.99     # every teacher, on its un-augmented training images
    gamma_hard: float = 0.05         # the hard teacher's γ at T = 1: it is confident, not smoothed
    teacher_margin: float = 1.0      # points: hard teacher's test accuracy above the student alone
    harm_margin: float = 0.5         # points: "not worse" claims tolerate this much


@dataclass(frozen=True)
class DistillationConfig:
    teacher: Network
    student: Network
    alphas: tuple[float, ...] = (0.0, 0.15, 0.30, 0.60)          # a subset of the paper's grid
    temperatures: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 8.0, 16.0)  # the hard teacher
    high_temperature: float = 4.0     # smoothed teachers also read here (Chandrasegaran et al.)
    hinton_temperatures: tuple[float, ...] = (1.0, 4.0)   # standard KD, every teacher
    hinton_beta: float = 0.5          # weight of the soft term in the standard form
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    dataset: str = "fashion_mnist"
    train_size: int = 0               # 0: the whole training split
    holdout_size: int = 0             # validation / test images evaluated; 0: all
    gates: Gates = Gates()


def gamma_at(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """γ of softmax(logits / T): ``distill.equivalent_smoothing`` at temperature T."""
    return distill.equivalent_smoothing(torch.softmax(logits.double() / temperature, 1), labels)


def matched_temperature(logits: torch.Tensor, labels: torch.Tensor, gamma: float,
                        bounds: tuple[float, float] = (0.05, 1000.0)) -> float | None:
    """The T at which the teacher's γ equals ``gamma`` (Brent's method on γ(T) − gamma), or
    None when ``gamma`` lies outside [γ(low), γ(high)]."""
    lo, hi = bounds
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"bounds must be 0 < low < high < inf, got {bounds!r}")
    f = lambda t: gamma_at(logits, labels, t) - gamma  # noqa: E731
    if f(lo) > 0 or f(hi) < 0:
        return None
    return float(brentq(f, lo, hi, xtol=1e-6))


class _Sweep:
    """Data, teachers and teacher logits of one preset, built on first use."""

    def __init__(self, cfg: DistillationConfig):
        self.cfg, self.info = cfg, data.DATASETS[cfg.dataset]
        self.xtr, self.ytr = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
        self.splits = {s: data.load_split(cfg.dataset, s, limit=cfg.holdout_size) for s in ("val", "test")}
        self.logits: dict[tuple[float, int], torch.Tensor] = {}
        self.teacher_runs: dict[tuple[float, int], dict] = {}

    def _evaluate(self, model) -> dict:
        out = {}
        for split, (x, y) in {"train": (self.xtr, self.ytr), **self.splits}.items():
            z = train.predict_logits(model, x, bf16=False)
            out[split] = {"accuracy": (z.argmax(1) == y).double().mean().item(),
                          "nll": torch.nn.functional.cross_entropy(z, y).item()}
        return out

    def teacher(self, alpha: float, seed: int) -> dict:
        """Train teacher (α, seed), keep its training logits, return its record."""
        if (alpha, seed) not in self.teacher_runs:
            torch.manual_seed(seed)
            model = _network(self.cfg.teacher, self.info)
            model, hist = train.train(model, self.xtr, self.ytr, replace(self.cfg.teacher.train, eps=alpha, seed=seed))
            z = train.predict_logits(model, self.xtr, bf16=False)
            self.logits[(alpha, seed)] = z
            temps = sorted({1.0, *self.cfg.temperatures, self.cfg.high_temperature, *self.cfg.hinton_temperatures})
            self.teacher_runs[(alpha, seed)] = {
                "role": "teacher", "arch": self.cfg.teacher.arch, "alpha": alpha, "seed": seed,
                "parameters": models.count_parameters(model), "images_per_s": hist.images_per_s,
                **self._evaluate(model), "gamma": {f"{t:g}": gamma_at(z, self.ytr, t) for t in temps}}
        return self.teacher_runs[(alpha, seed)]

    def student(self, kind: str, alpha: float, temperature: float | None, seed: int) -> dict:
        torch.manual_seed(seed)
        model = _network(self.cfg.student, self.info)
        base = replace(self.cfg.student.train, seed=seed)
        if kind == "direct":
            model, hist = train.train(model, self.xtr, self.ytr, replace(base, eps=alpha))
        else:
            self.teacher(alpha, seed)
            z_t = self.logits[(alpha, seed)]
            if kind == "hinton":
                loss = lambda s, t, y: distill.hinton_distillation_loss(  # noqa: E731
                    s, t, y, temperature, self.cfg.hinton_beta)
                model, hist = train.train(model, self.xtr, self.ytr, base, teacher_logits=z_t, loss_fn=loss)
            else:   # the paper's form: β = 1, the teacher read at T, the student at 1
                scfg = replace(base, eps=0.0, distill_temperature=1.0, distill_beta=1.0)
                model, hist = train.train(model, self.xtr, self.ytr, scfg, teacher_logits=z_t / temperature)
        return {"role": kind, "arch": self.cfg.student.arch, "alpha": alpha, "temperature": temperature,
                "seed": seed, "parameters": models.count_parameters(model), "images_per_s": hist.images_per_s,
                **self._evaluate(model)}

    def matched(self, alpha: float, seed: int) -> float | None:
        """T* of the hard teacher matching the α-teacher's γ at T = 1 (same seed)."""
        target = self.teacher(alpha, seed)["gamma"]["1"]
        self.teacher(0.0, seed)
        return matched_temperature(self.logits[(0.0, seed)], self.ytr, target)


def _grid(cfg: DistillationConfig) -> list[tuple[str, float, float | None, int]]:
    """(kind, α, T, seed), teacher-major so that each teacher's students follow it. For kind
    "matched" the T is found at run time; α names the smoothed teacher matched."""
    grid = []
    for seed in cfg.seeds:
        for alpha in cfg.alphas:
            grid.append(("teacher", alpha, None, seed))
            temps = cfg.temperatures if alpha == 0 else sorted({1.0, cfg.high_temperature})
            grid += [("student", alpha, t, seed) for t in temps]
            grid += [("hinton", alpha, t, seed) for t in cfg.hinton_temperatures]
            if alpha > 0:
                grid.append(("matched", alpha, None, seed))
        grid += [("direct", alpha, None, seed) for alpha in cfg.alphas]
    return grid


def _run_config(cfg: DistillationConfig, kind: str, alpha: float, t, seed: int) -> dict:
    shared = {k: getattr(cfg, k) for k in ("teacher", "dataset", "train_size", "holdout_size")}
    if kind == "teacher":
        return {**shared, "alpha": alpha, "seed": seed}
    extra = {"hinton_beta": cfg.hinton_beta} if kind == "hinton" else {}
    return {**shared, "student": cfg.student, "kind": kind, "alpha": alpha, "temperature": t, "seed": seed, **extra}


def _compute(sweep: _Sweep, kind: str, alpha: float, t, seed: int) -> dict:
    if kind == "teacher":
        return sweep.teacher(alpha, seed)
    if kind == "matched":
        t_star = sweep.matched(alpha, seed)
        if t_star is None:
            return {"role": "matched", "alpha": alpha, "seed": seed, "temperature": None,
                    "note": "γ of the α-teacher lies outside the hard teacher's γ(T) range"}
        run = sweep.student("student", 0.0, t_star, seed)
        return {**run, "role": "matched", "alpha": alpha, "teacher_alpha": 0.0}
    return sweep.student(kind, alpha, t, seed)


# The paper's Figure 5 design, for the departures table.
PAPER_DESIGN = ("CIFAR-10", "ResNet-56 teacher → AlexNet student", "α 0 … 0.75 (step 0.15)",
                "T ∈ {1, 2, 3, 4, 8, 12, 16}", "5 seeds, min / mean / max")


def _cpu_recipe(epochs: float, lr: float) -> train.TrainConfig:
    # as accuracy_clustering's cpu preset: no augmentation (so teacher logits can be computed
    # once), cosine schedule, wd 5e-4 — the terminal phase within a minute per teacher
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=lr, weight_decay=5e-4, schedule="cosine")


def _resnet_recipe(epochs: float) -> train.TrainConfig:
    # the paper's ResNet recipe without augmentation (see the gpu preset's note)
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.1, weight_decay=1e-4, schedule="step",
                             milestones=(0.5, 0.75), grad_clip=1.0)


PRESETS = {
    "smoke": DistillationConfig(
        teacher=Network("resnet8", 4, _cpu_recipe(1, 0.1)),
        student=Network("mlp", 8, _cpu_recipe(1, 0.05), paper="alexnet"),
        alphas=(0.0, 0.3), temperatures=(1.0, 4.0), seeds=(0, 1), train_size=256, holdout_size=256),
    # cpu: ResNet-8 (19k parameters) teachers on 3 000 images for 40 epochs; MLP 784-16-16
    # students (13k parameters: smaller than the teacher, as AlexNet is no ResNet-56).
    "cpu": DistillationConfig(
        teacher=Network("resnet8", 8, _cpu_recipe(40, 0.1)),
        student=Network("mlp", 16, _cpu_recipe(40, 0.05), paper="alexnet"),
        train_size=3_000, holdout_size=5_000),
    # gpu: the paper's networks; no augmentation so that the teacher's logits are computed once
    # (the paper augments: a departure the chapter names).
    "gpu": DistillationConfig(
        teacher=Network("resnet56", 16, _resnet_recipe(60)),
        student=Network("alexnet", 64, _cpu_recipe(60, 0.05)),
        alphas=(0.0, 0.15, 0.30, 0.45, 0.60, 0.75), temperatures=(1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 16.0)),
}


@experiment("distillation", version=2, presets=PRESETS)
def distillation(cfg: DistillationConfig, memo) -> dict:
    """Smoothed teachers, their students and the equivalent smoothing γ (Müller et al. 2019, Fig. 5)."""
    sweep = None

    def compute(kind, alpha, t, seed):
        nonlocal sweep
        sweep = sweep or _Sweep(cfg)
        return _compute(sweep, kind, alpha, t, seed)

    runs = []
    for kind, alpha, t, seed in tqdm(_grid(cfg), desc="distillation", leave=False):
        key = f"{kind}_alpha={alpha}" + (f"_T={t:g}" if t is not None else "") + f"_seed={seed}"
        runs.append(memo(key, lambda k=kind, a=alpha, t=t, s=seed: compute(k, a, t, s),
                         run_config=_run_config(cfg, kind, alpha, t, seed)))
    return {"runs": runs, "num_classes": data.DATASETS[cfg.dataset].num_classes}


# ----------------------------------------------------------------------------- from runs to verdicts

def select(runs: list[dict], role: str, alpha: float, temperature: float | None = None) -> dict[int, dict]:
    """{seed: run} of one role, teacher α and (if given) temperature."""
    return {r["seed"]: r for r in runs if r["role"] == role and r["alpha"] == alpha
            and (temperature is None or r.get("temperature") == temperature)}


def accuracy(run: dict, split: str = "test") -> float:
    return 100 * run[split]["accuracy"]


def _paired(a: dict[int, dict], b: dict[int, dict], value=accuracy) -> tuple[list[float], list[float]]:
    seeds = sorted(set(a) & set(b))
    return [value(a[s]) for s in seeds], [value(b[s]) for s in seeds]


def _mean_over_alphas(runs, smoothed, pick_a, pick_b) -> tuple[list[float], list[float]]:
    """Per seed, the mean over smoothed α of two arms: one paired pair of lists."""
    seeds = sorted({r["seed"] for r in runs})
    xs, ys = [], []
    for s in seeds:
        a = [pick_a(al).get(s) for al in smoothed]
        b = [pick_b(al).get(s) for al in smoothed]
        pairs = [(u, v) for u, v in zip(a, b) if u is not None and v is not None and "test" in u and "test" in v]
        if pairs:
            xs.append(sum(accuracy(u) for u, _ in pairs) / len(pairs))
            ys.append(sum(accuracy(v) for _, v in pairs) / len(pairs))
    return xs, ys


def best_on_validation(groups: dict) -> object:
    """The key whose runs have the highest mean validation accuracy."""
    return max(groups, key=lambda k: sum(accuracy(r, "val") for r in groups[k].values()) / max(len(groups[k]), 1))


def premise(runs: list[dict], config: dict) -> dict:
    """The premises measured: the hard teacher fits its training images, is confident (γ at
    T = 1) and beats the student alone by the margin; the student is the smaller network. A
    smoothed teacher that misses the training-accuracy gate (any seed) is a run that misses its
    premise: its α is listed in ``excluded`` and left out of every claim."""
    g = Gates(**config["gates"])
    hard = list(select(runs, "teacher", 0.0).values())
    alone = list(select(runs, "direct", 0.0).values())
    fit = {float(a): min(r["train"]["accuracy"] for r in select(runs, "teacher", float(a)).values())
           for a in config["alphas"] if select(runs, "teacher", float(a))}
    gamma_hard = sum(r["gamma"]["1"] for r in hard) / len(hard)
    gap = (sum(accuracy(r) for r in hard) / len(hard) - sum(accuracy(r) for r in alone) / len(alone)) if alone else math.nan
    smaller = bool(alone) and alone[0]["parameters"] < hard[0]["parameters"]
    out = {"teacher_train_accuracy": fit, "fits": fit.get(0.0, 0.0) >= g.train_accuracy,
           "gamma_hard": gamma_hard, "confident": gamma_hard <= g.gamma_hard,
           "teacher_gap": gap, "teacher_better": gap >= g.teacher_margin, "student_smaller": smaller,
           "excluded": [a for a, acc in fit.items() if a > 0 and acc < g.train_accuracy]}
    out["met"] = out["fits"] and out["confident"] and out["teacher_better"] and out["student_smaller"]
    return out


def claims(data_: dict, config: dict) -> list[dict]:
    """One dict per claim: the paired 95 % interval (over seeds) and the verdict."""
    g = Gates(**config["gates"])
    runs = data_["runs"]
    prem = premise(runs, config)
    smoothed = [float(a) for a in config["alphas"] if a > 0 and float(a) not in prem["excluded"]]
    if not smoothed:
        return [{"key": "fig5", "source": "Figure 5", "claim": "every smoothed teacher misses its premise",
                 "kind": "effect", "measure": "—", "arch": config["student"]["arch"], "hard": math.nan,
                 "smoothed": math.nan, "diff": None, "verdict": "premise not met", "premise": prem}]
    t_high = float(config["high_temperature"])
    best_alpha = best_on_validation({a: select(runs, "teacher", a) for a in smoothed})
    best_t = best_on_validation({t: select(runs, "student", 0.0, t) for t in config["temperatures"]})
    best_s = best_on_validation({a: select(runs, "student", a, 1.0) for a in smoothed})
    h_lo, h_hi = (float(t) for t in (config["hinton_temperatures"][0], config["hinton_temperatures"][-1]))
    specs = [
        ("fig5_teacher", "Figure 5", f"smoothing improves the teacher (best α = {best_alpha:g} on validation)",
         "effect", +1, _paired(select(runs, "teacher", 0.0), select(runs, "teacher", best_alpha))),
        ("fig5_matched", "Figure 5", "at equal γ the hard teacher's student beats the smoothed teacher's",
         "effect", -1, _mean_over_alphas(runs, smoothed, lambda a: select(runs, "matched", a),
                                         lambda a: select(runs, "student", a, 1.0))),
        ("fig5_best", "Figure 5",
         f"the hard teacher's best student (T = {best_t:g}) beats the best smoothed teacher's (α = {best_s:g})",
         "effect", -1, _paired(select(runs, "student", 0.0, best_t), select(runs, "student", best_s, 1.0))),
        ("shen", "Shen et al. (2021)", "a smoothed teacher's student is not worse (both at T = 1)",
         "harm", None, _paired(select(runs, "student", 0.0, 1.0), select(runs, "student", best_s, 1.0))),
        ("chandrasegaran", "Chandrasegaran et al. (2022)",
         f"smoothed teachers distil better at T = 1 than at T = {t_high:g} (paper's form)", "effect", -1,
         _mean_over_alphas(runs, smoothed, lambda a: select(runs, "student", a, 1.0),
                           lambda a: select(runs, "student", a, t_high))),
        ("chandrasegaran_hinton", "Chandrasegaran et al. (2022)",
         f"… and with standard distillation (T² factor, β = {config['hinton_beta']:g}), T = {h_lo:g} vs {h_hi:g}",
         "effect", -1, _mean_over_alphas(runs, smoothed, lambda a: select(runs, "hinton", a, h_lo),
                                         lambda a: select(runs, "hinton", a, h_hi))),
    ]
    out = []
    for key, source, statement, kind, sign, (a, b) in specs:
        diff, verdict = stats.judge_paired(a, b, prem["met"], kind, sign, g.harm_margin)
        out.append({"key": key, "source": source, "claim": statement, "kind": kind,
                    "measure": "test accuracy (points)",
                    "arch": (f"{config['teacher']['arch']} teachers" if key == "fig5_teacher"
                             else f"{config['student']['arch']} students"),
                    "hard": _mean(a), "smoothed": _mean(b),
                    "diff": diff, "verdict": verdict, "premise": prem,
                    **({"margin": g.harm_margin} if kind == "harm" else {"expected_sign": sign})})
    return out


# ----------------------------------------------------------------------------- what the chapter shows

def _stats(group: dict[int, dict], value) -> tuple[float, float, float]:
    v = [value(r) for r in group.values()]
    return sum(v) / len(v), min(v), max(v)


def _series(points: list[tuple[float, dict]], label: str, color: str, **kw) -> dict:
    """A plot series: x per point, test accuracy mean / min / max over seeds."""
    ys = [_stats(g, accuracy) for _, g in points]
    return {"x": [x for x, _ in points], "y": [y[0] for y in ys], "lo": [y[1] for y in ys],
            "hi": [y[2] for y in ys], "label": label, "color": color, "bars": True, **kw}


def mean_gamma(runs: list[dict], alpha: float, temperature: float) -> float:
    g = [r["gamma"][f"{temperature:g}"] for r in select(runs, "teacher", alpha).values()]
    return sum(g) / len(g)


def figure5_panels(runs: list[dict], config: dict) -> list[dict]:
    """Figure 5's two panels for ``plot.series_panels``: (a) teachers' test accuracy against
    their γ at T = 1; (b) students against the γ of the targets they were trained on."""
    alphas = [float(a) for a in config["alphas"]]
    smoothed = [a for a in alphas if a > 0]
    temps = [float(t) for t in config["temperatures"]]
    teachers = _series([(mean_gamma(runs, a, 1.0), select(runs, "teacher", a)) for a in alphas],
                       "teacher trained with α", "k", annotate=[f"α={a:g}" for a in alphas])
    hard = _series([(mean_gamma(runs, 0.0, t), select(runs, "student", 0.0, t)) for t in temps],
                   "student of the hard teacher at T", "tab:blue", annotate=[f"T={t:g}" for t in temps],
                   annotate_offset=(4, -11))
    soft = _series([(mean_gamma(runs, a, 1.0), select(runs, "student", a, 1.0)) for a in smoothed],
                   "student of the α-teacher, T = 1", "tab:red", annotate=[f"α={a:g}" for a in smoothed])
    matched = _series([(mean_gamma(runs, a, 1.0), select(runs, "matched", a)) for a in smoothed],
                      "student of the hard teacher at matched γ", "tab:purple", ls=":", marker="s")
    direct = _series([(a, select(runs, "direct", a)) for a in alphas],
                     "student trained with smoothing α (x = α)", "tab:green", ls="--", marker="^")
    return [{"title": "(a) teachers", "xlabel": "γ of the teacher at T = 1", "ylabel": "test accuracy (%)",
             "series": [teachers], "legend_loc": "lower left"},
            {"title": "(b) students", "xlabel": "γ of the targets (x = α for direct training)",
             "ylabel": "test accuracy (%)", "series": [hard, soft, matched, direct], "legend_loc": "below"}]


def results_rows(runs: list[dict], config: dict) -> list[list[str]]:
    """Per teacher and temperature: γ, teacher accuracy, its students' (paper's and standard
    form) and the matched student; test accuracy mean ± std over seeds."""
    def ms(group):
        v = [accuracy(r) for r in group.values()]
        if not v:
            return "—"
        m = sum(v) / len(v)
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
        return f"{m:.2f} ± {sd:.2f}"
    rows = []
    for a in [float(x) for x in config["alphas"]]:
        temps = config["temperatures"] if a == 0 else sorted({1.0, float(config["high_temperature"])})
        for t in temps:
            rows.append([f"{a:g}", f"{t:g}", f"{mean_gamma(runs, a, t):.3f}",
                         ms(select(runs, "teacher", a)) if t == 1 else "", ms(select(runs, "student", a, t)),
                         ms(select(runs, "hinton", a, t)) if t in config["hinton_temperatures"] else ""])
    return rows


RESULTS_HEADER = ("teacher α", "T", "γ", "teacher", "student (paper's form)", "student (standard form)")


def design_rows(config: dict, runs: list[dict]) -> list[list[str]]:
    """The paper's design beside this preset's, read from the stored config."""
    t, s = config["teacher"], config["student"]
    hard = next(iter(select(runs, "teacher", 0.0).values()))
    alone = next(iter(select(runs, "direct", 0.0).values()))
    name = lambda n: f"MLP {n['width']}-{n['width']}" if n["arch"] == "mlp" else f"{n['arch']} (width {n['width']})"  # noqa: E731
    return [["data", "CIFAR-10", f"{config['dataset']}, {config['train_size'] or 'all'} training images"],
            ["teacher", "ResNet-56", f"{name(t)}, {hard['parameters'] / 1e3:.0f}k parameters, "
                                     f"{t['train']['epochs']:g} epochs, no augmentation"],
            ["student", "AlexNet", f"{name(s)}, {alone['parameters'] / 1e3:.0f}k parameters, "
                                   f"{s['train']['epochs']:g} epochs, no augmentation"],
            ["teacher α", "0, 0.15, …, 0.75", ", ".join(f"{a:g}" for a in config["alphas"])],
            ["T (hard teacher)", "1, 2, 3, 4, 8, 12, 16", ", ".join(f"{x:g}" for x in config["temperatures"])],
            ["seeds", "5 (min / mean / max)", f"{len(config['seeds'])}, paired; 95 % t-intervals"],
            ["beyond the paper", "—", f"matched-γ students; smoothed teachers at T = {config['high_temperature']:g}; "
                                     f"standard form at T = {', '.join(f'{x:g}' for x in config['hinton_temperatures'])}, "
                                     f"β = {config['hinton_beta']:g}"]]
