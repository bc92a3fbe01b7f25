"""Müller et al. (2019), Section 4 on Fashion-MNIST: smoothed teachers and their students.

Three experiments:

* ``distillation`` — Figure 5: ResNet teachers trained with smoothing α, the hard-target teacher
  distilled at several temperatures T, AlexNet students trained on the teacher's outputs with
  β = 1 (student at temperature 1, as in the paper), and AlexNets trained directly with smoothing;
  teacher and student accuracy against the equivalent smoothing γ.
* ``distillation_mnist_style`` — the MNIST experiment of the paper's text: fully connected
  teacher 1200-1200 (dropout, ±2-pixel shifts), student 800-800 trained with
  0.4 × hard cross-entropy + 0.6 × half squared error on the logits.
* ``information`` — Figure 6: the paper's estimate of the mutual information between the index
  of a training example and the difference of two logits, during teacher training, α = 0 vs 0.1;
  and the template-plane projection of the same examples at the end.

Teachers are kept in memory for the students of the same process. A resumed sweep retrains a
teacher whose students are not all cached (training is deterministic on the CPU; on a GPU the
retrained teacher may differ in the last bits from the one whose accuracy was stored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from lsutils import data, distill, geometry, info, models, train
from lsutils.experiments.accuracy_clustering import Network, _network
from lsutils.results import experiment

__all__ = ["DistillationConfig", "MnistStyleConfig", "InformationConfig", "information_samples",
           "distillation", "distillation_mnist_style", "information"]


# ---------------------------------------------------------------- recipes (as in accuracy_clustering)

# ResNet (paper, CIFAR ResNet-56): Nesterov 0.9, lr 0.1 ÷10 at 50 % and 75 %, wd 1e-4, clip 1.0,
# crop + flip, batch 128; epochs scaled to each preset.
def _resnet_recipe(epochs: float, batch_size: int = 128) -> train.TrainConfig:
    return train.TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.1, weight_decay=1e-4, schedule="step",
                             milestones=(0.5, 0.75), grad_clip=1.0, crop_padding=2, flip=True)


# AlexNet (paper: lr 0.1 ÷10 at 1/3 and 2/3, wd on the two hidden dense layers; scaled as in
# accuracy_clustering).
def _alexnet_recipe(epochs: float, batch_size: int = 128) -> train.TrainConfig:
    return train.TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.05, weight_decay=4e-3,
                             weight_decay_scope="hidden_dense", schedule="step", milestones=(1 / 3, 2 / 3),
                             crop_padding=2, flip=True)


def _subset(dataset: str, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load_split(dataset, split)
    return (x[:size], y[:size]) if size else (x, y)


def _accuracy(model, x, y) -> float:
    return (train.predict_logits(model, x).argmax(1) == y).float().mean().item()


# ================================================================= Figure 5

@dataclass(frozen=True)
class DistillationConfig:
    teacher: Network
    student: Network
    alphas: tuple[float, ...] = (0.0, 0.15, 0.30, 0.45, 0.60, 0.75)
    temperatures: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 16.0)  # for the hard-target teacher
    smoothed_temperatures: tuple[float, ...] = (1.0,)   # for the smoothed teachers (the paper: T = 1 only)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    dataset: str = "fashion_mnist"
    train_size: int = 0        # 0: the whole training split
    holdout_size: int = 0      # validation / test examples evaluated; 0: all
    gamma_size: int = 10_000   # training examples on which γ is measured


def _gammas(model, x, y, temperatures) -> dict[str, float]:
    z = train.predict_logits(model, x).double()
    return {f"{t:g}": distill.equivalent_smoothing(torch.softmax(z / t, 1), y) for t in temperatures}


def _evaluate(model, splits) -> dict:
    return {split: {"accuracy": _accuracy(model, x, y)} for split, (x, y) in splits.items()}


class _Sweep:
    """The data and the trained teachers of one run of the ``distillation`` experiment."""

    def __init__(self, cfg: DistillationConfig):
        self.cfg = cfg
        self.info = data.DATASETS[cfg.dataset]
        self.xtr, self.ytr = _subset(cfg.dataset, "train", cfg.train_size)
        self.splits = {s: _subset(cfg.dataset, s, cfg.holdout_size) for s in ("val", "test")}
        self.gamma_set = (self.xtr[:cfg.gamma_size], self.ytr[:cfg.gamma_size])
        self.teachers: dict[tuple[float, int], torch.nn.Module] = {}

    def teacher(self, alpha: float, seed: int) -> torch.nn.Module:
        if (alpha, seed) not in self.teachers:
            torch.manual_seed(seed)
            model = _network(self.cfg.teacher, self.info)
            tcfg = replace(self.cfg.teacher.train, eps=alpha, seed=seed)
            self.teachers[(alpha, seed)] = train.train(model, self.xtr, self.ytr, tcfg)[0]
        return self.teachers[(alpha, seed)]

    def teacher_run(self, alpha: float, seed: int) -> dict:
        model = self.teacher(alpha, seed)
        temps = sorted(set(self.cfg.temperatures) | set(self.cfg.smoothed_temperatures))
        return {"role": "teacher", "arch": self.cfg.teacher.arch, "alpha": alpha, "seed": seed,
                "parameters": models.count_parameters(model), **_evaluate(model, self.splits),
                "gamma": _gammas(model, *self.gamma_set, temps)}

    def student_run(self, alpha: float, temperature: float | None, seed: int) -> dict:
        """A student of the α-teacher at ``temperature`` (β = 1, student at T = 1), or with
        ``temperature=None`` an AlexNet trained directly with smoothing α."""
        torch.manual_seed(seed)
        model = _network(self.cfg.student, self.info)
        if temperature is None:
            scfg = replace(self.cfg.student.train, eps=alpha, seed=seed)
            model, hist = train.train(model, self.xtr, self.ytr, scfg)
        else:
            scfg = replace(self.cfg.student.train, eps=0.0, seed=seed, distill_temperature=1.0, distill_beta=1.0)
            teacher = distill.TemperedTeacher(self.teacher(alpha, seed), temperature)
            model, hist = train.train(model, self.xtr, self.ytr, scfg, teacher=teacher)
        return {"role": "direct" if temperature is None else "student", "arch": self.cfg.student.arch,
                "alpha": alpha, "temperature": temperature, "seed": seed,
                "parameters": models.count_parameters(model), "images_per_s": hist.images_per_s,
                **_evaluate(model, self.splits), "gamma_own": _gammas(model, *self.gamma_set, (1.0,))["1"]}


def _fig5_grid(cfg: DistillationConfig):
    """(kind, α, T, seed) in teacher-major order, so each teacher's students follow it."""
    grid = []
    for seed in cfg.seeds:
        for alpha in cfg.alphas:
            grid.append(("teacher", alpha, None, seed))
            temps = cfg.temperatures if alpha == 0 else cfg.smoothed_temperatures
            grid += [("student", alpha, t, seed) for t in temps]
        grid += [("direct", alpha, None, seed) for alpha in cfg.alphas]
    return grid


CPU_TEACHER = Network("resnet8", 8, _resnet_recipe(3, 64))
GPU_TEACHER = Network("resnet56", 16, _resnet_recipe(30))

FIG5_PRESETS = {
    "smoke": DistillationConfig(
        teacher=Network("resnet8", 4, _resnet_recipe(1)), student=Network("alexnet", 4, _alexnet_recipe(1)),
        alphas=(0.0, 0.3), temperatures=(1.0, 4.0), smoothed_temperatures=(1.0, 4.0), seeds=(0,), train_size=512,
        holdout_size=256, gamma_size=256),
    # cpu: 10 000 training images, batch 64 (a few hundred steps per run), two seeds; the smoothed
    # teachers are also distilled at T = 4 to test the later work's low/high-temperature claim.
    "cpu": DistillationConfig(
        teacher=CPU_TEACHER, student=Network("alexnet", 16, _alexnet_recipe(2, 64)),
        smoothed_temperatures=(1.0, 4.0), seeds=(0, 1), train_size=10_000, holdout_size=5_000, gamma_size=5_000),
    "gpu": DistillationConfig(
        teacher=GPU_TEACHER, student=Network("alexnet", 64, _alexnet_recipe(30)),
        smoothed_temperatures=(1.0, 2.0, 4.0), seeds=(0, 1, 2, 3, 4)),
}


@experiment("distillation", version=1, presets=FIG5_PRESETS)
def distillation(cfg: DistillationConfig, memo) -> dict:
    """Smoothed teachers, their students and the equivalent smoothing γ (Müller et al. 2019, Fig. 5)."""
    sweep = None

    def compute(kind, alpha, t, seed):
        nonlocal sweep
        sweep = sweep or _Sweep(cfg)
        if kind == "teacher":
            return sweep.teacher_run(alpha, seed)
        return sweep.student_run(alpha, t, seed)

    runs = []
    for kind, alpha, t, seed in tqdm(_fig5_grid(cfg), desc="distillation", leave=False):
        key = f"{kind}_alpha={alpha}" + (f"_T={t:g}" if t is not None else "") + f"_seed={seed}"
        runs.append(memo(key, lambda kind=kind, alpha=alpha, t=t, seed=seed: compute(kind, alpha, t, seed)))
    return {"runs": runs, "num_classes": data.DATASETS[cfg.dataset].num_classes}


# ================================================================= MNIST-style (the paper's text)

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
    seeds: tuple[int, ...] = (0, 1, 2)
    datasets: tuple[str, ...] = ("fashion_mnist", "mnist")
    train_size: int = 0
    holdout_size: int = 0


def _mnist_style_runs(cfg: MnistStyleConfig, dataset: str, seed: int, memo) -> list[dict]:
    info_ = data.DATASETS[dataset]
    shape = (info_.channels, *info_.image_size)
    cache: dict = {}

    def load():
        if not cache:
            cache["train"] = _subset(dataset, "train", cfg.train_size)
            cache["splits"] = {s: _subset(dataset, s, cfg.holdout_size) for s in ("val", "test")}
        return cache["train"], cache["splits"]

    def teacher(alpha):
        if alpha not in cache:
            (x, y), _ = load()
            torch.manual_seed(seed)
            model = models.mlp(shape, info_.num_classes, cfg.teacher_hidden, dropout=cfg.teacher_dropout)
            cache[alpha] = train.train(model, x, y, replace(cfg.teacher_train, eps=alpha, seed=seed))[0]
        return cache[alpha]

    def teacher_run(alpha):
        model = teacher(alpha)
        (x, y), splits = load()
        z = train.predict_logits(model, x[:10_000])
        return {"role": "teacher", "dataset": dataset, "alpha": alpha, "seed": seed,
                **_evaluate(model, splits), "logit_std": z.std().item(),
                "gamma": distill.equivalent_smoothing(z.double().softmax(1), y[:10_000])}

    def student_run(alpha):
        (x, y), splits = load()
        torch.manual_seed(seed)
        student = models.mlp(shape, info_.num_classes, cfg.student_hidden)
        scfg = replace(cfg.student_train, seed=seed)
        if alpha is None:   # the same student on hard labels alone: what distillation adds
            student, _ = train.train(student, x, y, scfg)
        else:
            student, _ = distill.train_logit_matching(student, x, y, teacher(alpha), scfg,
                                                      hard_weight=cfg.hard_weight, logit_weight=cfg.logit_weight)
        return {"role": "student" if alpha is not None else "baseline", "dataset": dataset, "alpha": alpha,
                "seed": seed, **_evaluate(student, splits)}

    runs = []
    for alpha in cfg.alphas:
        runs.append(memo(f"{dataset}_teacher_alpha={alpha}_seed={seed}", lambda a=alpha: teacher_run(a)))
        runs.append(memo(f"{dataset}_student_alpha={alpha}_seed={seed}", lambda a=alpha: student_run(a)))
    runs.append(memo(f"{dataset}_baseline_seed={seed}", lambda: student_run(None)))
    return runs


def _fc_teacher(epochs: float) -> train.TrainConfig:
    # SGD with momentum, ±2-pixel shifts (the paper's "±2-pixel" jitter), no flips; wd 1e-4.
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.05, weight_decay=1e-4, schedule="cosine",
                             crop_padding=2, flip=False)


def _fc_student(epochs: float) -> train.TrainConfig:
    # No regularisation and no jitter for the student (Hinton et al. 2015's small net); a lower
    # learning rate and clipping because the squared error on logits has large gradients.
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.01, weight_decay=0.0, schedule="cosine",
                             grad_clip=5.0)


MNIST_PRESETS = {
    "smoke": MnistStyleConfig(_fc_teacher(1), _fc_student(1), teacher_hidden=(64, 64), student_hidden=(32, 32),
                              seeds=(0,), train_size=512, holdout_size=256),
    # cpu: 20 000 training images, 5 epochs; dropout 0.2 (0.5 leaves the jittered MLP teacher
    # below an unregularised student at this budget, which would void the setup).
    "cpu": MnistStyleConfig(_fc_teacher(5), _fc_student(5), teacher_dropout=0.2, seeds=(0, 1), train_size=20_000),
    "gpu": MnistStyleConfig(_fc_teacher(60), _fc_student(60), seeds=(0, 1, 2, 3, 4)),
}


@experiment("distillation_mnist_style", version=1, presets=MNIST_PRESETS)
def distillation_mnist_style(cfg: MnistStyleConfig, memo) -> dict:
    """Fully connected teacher 1200-1200 → student 800-800 with logit matching (Müller et al. 2019, Sec. 4 text)."""
    runs, availability = [], {}
    for dataset in cfg.datasets:
        try:
            data.locate(dataset)
        except FileNotFoundError:
            availability[dataset] = "not present on the machine that ran this preset"
            continue
        availability[dataset] = "present"
        for seed in tqdm(cfg.seeds, desc=f"mnist-style {dataset}", leave=False):
            runs += _mnist_style_runs(cfg, dataset, seed, memo)
    return {"runs": runs, "availability": availability}


# ================================================================= Figure 6

@dataclass(frozen=True)
class InformationConfig:
    network: Network
    alphas: tuple[float, ...] = (0.0, 0.1)
    seeds: tuple[int, ...] = (0,)
    classes: tuple[int, int] = (1, 8)   # f = z_a − z_b; Fashion-MNIST Trouser and Bag (the paper: airplane, dog)
    third_class: int = 5                # completes the template plane of the projection (Sandal)
    per_class: int = 300                # N = 2 × 300 = 600 training examples, as in the paper
    copies: int = 5                     # L, as in the paper
    copies_large: int = 50              # a second, less biased estimate at the end of training
    evaluations: int = 10               # evaluations during training (plus one before it)
    dataset: str = "fashion_mnist"
    train_size: int = 0
    test_size: int = 0                  # test images for the teacher's accuracy; 0: all


def _pool(cfg: InformationConfig, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.cat([torch.nonzero(y == c).flatten()[:cfg.per_class] for c in cfg.classes])
    return x[idx], y[idx]


def information_samples(model, images: torch.Tensor, classes: tuple[int, int], copies: int,
                        padding: int, flip: bool, seed: int = 0) -> np.ndarray:
    """f = z_a − z_b for ``copies`` augmented copies of each image: an (N, L) float64 array.

    The augmentations (``lsutils.train.augment``: random crop with ``padding``, flip) are drawn
    from a generator seeded with ``seed``, so every evaluation sees the same copies.
    """
    gen = torch.Generator().manual_seed(seed)
    a, b = classes
    cols = []
    for _ in range(copies):
        z = train.predict_logits(model, train.augment(images, padding, flip, gen))
        cols.append((z[:, a] - z[:, b]).double())
    return torch.stack(cols, 1).numpy()


def _null(samples: np.ndarray, seed: int) -> float:
    """Î after shuffling all N·L values across examples: f no longer depends on the example, so
    what remains is the estimator's own bias at this N and L."""
    flat = np.random.default_rng(seed).permutation(samples.ravel())
    return info.mutual_information(flat.reshape(samples.shape))


def _information_run(cfg: InformationConfig, alpha: float, seed: int) -> dict:
    info_ = data.DATASETS[cfg.dataset]
    xtr, ytr = _subset(cfg.dataset, "train", cfg.train_size)
    pool_x, pool_y = _pool(cfg, xtr, ytr)
    tcfg = cfg.network.train
    steps = train.total_steps(len(xtr), tcfg.epochs, tcfg.batch_size)
    tcfg = replace(tcfg, eps=alpha, seed=seed, eval_every=max(1, steps // cfg.evaluations))

    def measure(model, large: bool = False) -> dict:
        f = information_samples(model, pool_x, cfg.classes, cfg.copies, tcfg.crop_padding, tcfg.flip)
        within = float(np.sqrt(((f - f.mean(1, keepdims=True)) ** 2).mean()))
        out = {"mi": info.mutual_information(f), "mi_null": _null(f, seed),
               "between_std": float(f.mean(1).std()), "within_std": within}
        if large:
            fl = information_samples(model, pool_x, cfg.classes, cfg.copies_large, tcfg.crop_padding, tcfg.flip)
            out.update(mi_large=info.mutual_information(fl), mi_large_null=_null(fl, seed), samples=f.tolist())
        return out

    torch.manual_seed(seed)
    model = _network(cfg.network, info_)
    start = {"step": 0, **measure(model)}
    model, hist = train.train(model, xtr, ytr, tcfg, hooks={"info": measure})
    curve = [start] + [{"step": e["step"], **e["info"]} for e in hist.evals]
    final = measure(model, large=True)
    w, b = model.classifier.weight.detach().cpu().double(), model.classifier.bias.detach().cpu().double()
    triplet = (*cfg.classes, cfg.third_class)
    origin, basis = geometry.template_plane(w, b, triplet)
    coords = geometry.project(train.extract_features(model, pool_x).double(), origin, basis)
    test = _subset(cfg.dataset, "test", cfg.test_size)
    return {"alpha": alpha, "seed": seed, "steps": steps, "eval_every": tcfg.eval_every,
            "curve": [{k: v for k, v in c.items() if k != "samples"} for c in curve],
            "final": final, "test_accuracy": _accuracy(model, *test),
            "projection": {"triplet": list(triplet), "coords": coords.tolist(), "labels": pool_y.tolist(),
                           "templates": geometry.project_templates(w, b, triplet, origin, basis).tolist()}}


INFO_PRESETS = {
    "smoke": InformationConfig(Network("resnet8", 4, _resnet_recipe(1)), per_class=20, copies_large=10,
                               evaluations=2, train_size=512, test_size=256),
    # the teachers of the ``distillation`` preset of the same name, on the same training images
    "cpu": InformationConfig(CPU_TEACHER, evaluations=8, copies_large=20, train_size=10_000),
    "gpu": InformationConfig(GPU_TEACHER, seeds=(0, 1, 2), evaluations=30),
}


@experiment("information", version=1, presets=INFO_PRESETS)
def information(cfg: InformationConfig, memo) -> dict:
    """Mutual information between example index and a logit difference during training (Müller et al. 2019, Fig. 6)."""
    runs = [memo(f"alpha={alpha}_seed={seed}", lambda alpha=alpha, seed=seed: _information_run(cfg, alpha, seed))
            for seed in cfg.seeds for alpha in tqdm(cfg.alphas, desc="information", leave=False)]
    names = data.DATASETS[cfg.dataset].class_names
    return {"runs": runs, "class_names": list(names), "log_n": math.log(2 * cfg.per_class),
            "bias_formula": {"copies": info.mutual_information_bias(cfg.copies),
                             "copies_large": info.mutual_information_bias(cfg.copies_large)}}
