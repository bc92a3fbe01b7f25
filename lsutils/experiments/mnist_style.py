"""The MNIST experiment of Müller et al. (2019, Sec. 4 text), on the data sets present.

A fully connected teacher 1200-1200 (dropout, ±2-pixel shifts) trained with α = 0 and α = 0.1;
a student 800-800 (no regularisation, no shifts) trained on 0.4 × hard cross-entropy +
0.6 × ½‖z_s − z_t‖², the teacher's logits computed once on the un-shifted training images;
the same student on the labels alone, to see what distillation adds. Paper (test error, %):
hard teacher 0.67 → student 0.74; smoothed teacher 0.59 → student 0.91.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from lsutils import data, distill, models, stats, train
from lsutils.stats import mean_or_nan
from lsutils.results import declare

__all__ = ["MnistStyleConfig", "Gates", "distillation_mnist_style", "claims"]


@dataclass(frozen=True)
class Gates:
    train_accuracy: float = 0.99   # both teachers, on their un-shifted training images
    teacher_margin: float = 0.5    # points: the hard teacher above the student alone


@dataclass(frozen=True)
class MnistStyleConfig:
    teacher_train: train.TrainConfig
    student_train: train.TrainConfig
    teacher_hidden: tuple[int, ...] = (1200, 1200)
    student_hidden: tuple[int, ...] = (800, 800)
    teacher_dropout: float = 0.5
    alphas: tuple[float, ...] = (0.0, 0.1)   # the paper's hard and smoothed teachers
    hard_weight: float = 0.4                 # student loss: 0.4 × CE(y) + 0.6 × ½‖z_s − z_t‖²
    logit_weight: float = 0.6
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    datasets: tuple[str, ...] = ("fashion_mnist", "mnist")
    train_size: int = 0
    holdout_size: int = 0
    gates: Gates = Gates()


def _evaluate(model, splits: dict) -> dict:
    out = {}
    for split, (x, y) in splits.items():
        out[split] = {"accuracy": (train.predict_logits(model, x, bf16=False).argmax(1) == y).double().mean().item()}
    return out


class _Seed:
    """The data and the two teachers of one (data set, seed), built on first use."""

    def __init__(self, cfg: MnistStyleConfig, dataset: str, seed: int):
        self.cfg, self.dataset, self.seed = cfg, dataset, seed
        self.info = data.DATASETS[dataset]
        self.shape = (self.info.channels, *self.info.image_size)
        self.x, self.y = data.load_split(dataset, "train", limit=cfg.train_size)
        self.splits = {"train": (self.x, self.y),
                       **{s: data.load_split(dataset, s, limit=cfg.holdout_size) for s in ("val", "test")}}
        self.logits: dict[float, torch.Tensor] = {}

    def teacher(self, alpha: float) -> dict:
        torch.manual_seed(self.seed)
        model = models.mlp(self.shape, self.info.num_classes, self.cfg.teacher_hidden, dropout=self.cfg.teacher_dropout)
        model, _ = train.train(model, self.x, self.y, replace(self.cfg.teacher_train, eps=alpha, seed=self.seed))
        z = train.predict_logits(model, self.x, bf16=False)
        self.logits[alpha] = z
        return {"role": "teacher", "dataset": self.dataset, "alpha": alpha, "seed": self.seed,
                **_evaluate(model, self.splits), "logit_std": z.std().item(),
                "gamma": distill.equivalent_smoothing(z.double().softmax(1), self.y)}

    def student(self, alpha: float | None) -> dict:
        torch.manual_seed(self.seed)
        model = models.mlp(self.shape, self.info.num_classes, self.cfg.student_hidden)
        scfg = replace(self.cfg.student_train, seed=self.seed)
        if alpha is None:     # the same student on hard labels alone
            model, _ = train.train(model, self.x, self.y, scfg)
        else:
            if alpha not in self.logits:
                self.teacher(alpha)
            loss = functools.partial(distill.logit_matching_loss, hard_weight=self.cfg.hard_weight,
                                     logit_weight=self.cfg.logit_weight)
            model, _ = train.train(model, self.x, self.y, scfg, teacher_logits=self.logits[alpha], loss_fn=loss)
        return {"role": "baseline" if alpha is None else "student", "dataset": self.dataset, "alpha": alpha,
                "seed": self.seed, **_evaluate(model, self.splits)}


def _fc_teacher(epochs: float) -> train.TrainConfig:
    # SGD with momentum, ±2-pixel shifts (the paper's jitter), no flips, wd 1e-4
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.05, weight_decay=1e-4, schedule="cosine",
                             crop_padding=2)


def _fc_student(epochs: float) -> train.TrainConfig:
    # no regularisation and no shifts (Hinton et al. 2015's small net); a lower learning rate and
    # clipping because the squared error on logits has large gradients
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.01, weight_decay=0.0, schedule="cosine",
                             grad_clip=5.0)


PRESETS = {
    "smoke": MnistStyleConfig(_fc_teacher(1), _fc_student(1), teacher_hidden=(64, 64), student_hidden=(32, 32),
                              seeds=(0, 1), train_size=256, holdout_size=256),
    "cpu": MnistStyleConfig(_fc_teacher(30), _fc_student(30), train_size=10_000, holdout_size=5_000),
    "gpu": MnistStyleConfig(_fc_teacher(100), _fc_student(100)),
}


def distillation_mnist_style(cfg: MnistStyleConfig, memo) -> dict:
    """Fully connected teacher 1200-1200 → student 800-800 with logit matching (Müller et al. 2019, Sec. 4 text)."""
    runs, availability = [], {}
    shared = {k: getattr(cfg, k) for k in ("teacher_train", "teacher_hidden", "teacher_dropout", "train_size",
                                           "holdout_size")}
    student_cfg = {k: getattr(cfg, k) for k in ("student_train", "student_hidden", "hard_weight", "logit_weight")}
    for dataset in cfg.datasets:
        try:
            data.locate(dataset)
        except FileNotFoundError:
            availability[dataset] = "not present on the machine that ran this preset"
            continue
        availability[dataset] = "present"
        for seed in tqdm(cfg.seeds, desc=f"mnist-style {dataset}", leave=False):
            one = None

            def get(d=dataset, s=seed):
                nonlocal one
                one = one or _Seed(cfg, d, s)
                return one
            for alpha in cfg.alphas:
                rc = {**shared, "dataset": dataset, "alpha": alpha, "seed": seed}
                runs.append(memo(f"{dataset}_teacher_alpha={alpha}_seed={seed}",
                                 lambda a=alpha: get().teacher(a), run_config=rc))
                runs.append(memo(f"{dataset}_student_alpha={alpha}_seed={seed}",
                                 lambda a=alpha: get().student(a), run_config={**rc, **student_cfg}))
            runs.append(memo(f"{dataset}_baseline_seed={seed}", lambda: get().student(None),
                             run_config={**student_cfg, "dataset": dataset, "seed": seed,
                                         "train_size": cfg.train_size, "holdout_size": cfg.holdout_size}))
    return {"runs": runs, "availability": availability}


# ----------------------------------------------------------------------------- verdicts

def error(run: dict, split: str = "test") -> float:
    return 100 * (1 - run[split]["accuracy"])


def arm(runs: list[dict], dataset: str, role: str, alpha: float | None) -> dict[int, dict]:
    return {r["seed"]: r for r in runs if r["dataset"] == dataset and r["role"] == role and r["alpha"] == alpha}


def claims(data_: dict, config: dict) -> list[dict]:
    """Per data set present: the smoothed teacher errs less; its student errs more (paired); each
    read off its interval at its Holm level within these claims (``stats.holm_family``)."""
    g = Gates(**config["gates"])
    runs, out = data_["runs"], []
    a0, a1 = (float(a) for a in config["alphas"])
    for dataset, status in data_["availability"].items():
        if status != "present":
            continue
        teachers = [r for r in runs if r["dataset"] == dataset and r["role"] == "teacher"]
        hard, alone = arm(runs, dataset, "teacher", a0), arm(runs, dataset, "baseline", None)
        worst = min(r["train"]["accuracy"] for r in teachers)
        gap = mean_or_nan([error(r) for r in alone.values()]) - mean_or_nan([error(r) for r in hard.values()])
        prem = {"min_teacher_train_accuracy": worst, "fits": worst >= g.train_accuracy,
                "teacher_gap": gap, "teacher_better": gap >= g.teacher_margin}
        prem["met"] = prem["fits"] and prem["teacher_better"]
        for key, statement, role in (("mnist_teacher", "the smoothed teacher has the lower error", "teacher"),
                                     ("mnist_student", "yet its student has the higher error", "student")):
            x, y = arm(runs, dataset, role, a0), arm(runs, dataset, role, a1)
            seeds = sorted(set(x) & set(y))
            a, b = [error(x[s]) for s in seeds], [error(y[s]) for s in seeds]
            sign = -1 if role == "teacher" else +1
            diff, verdict = stats.judge_paired(a, b, prem["met"], "effect", sign)
            out.append({"key": key, "source": "Sec. 4 (MNIST text)", "claim": statement, "arch": dataset,
                        "measure": "test error (%)", "hard": mean_or_nan(a), "smoothed": mean_or_nan(b), "diff": diff,
                        "verdict": verdict, "premise": prem, "kind": "effect", "expected_sign": sign})
    return stats.holm_family(out)


EXPERIMENT = declare(
    "distillation_mnist_style", version=2, presets=PRESETS, run=distillation_mnist_style,
    page="chapters/reproduction/distillation_mnist",
    claims=claims)
