"""Müller et al. (2019) Table 2 and Figure 1 on Fashion-MNIST: accuracy, penultimate geometry, logit gaps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from lsutils import data, geometry, models, train
from lsutils.experiments.theory_gap import per_example_gaps
from lsutils.results import experiment

# Figure 1 rows: (a) three dissimilar classes; (b) two similar classes and a dissimilar one
# (the paper's poodle row): Trouser, Sandal, Bag and Pullover, Coat, Sneaker.
TRIPLETS = {"dissimilar": (1, 5, 8), "similar": (2, 4, 7)}


@dataclass(frozen=True)
class Network:
    arch: str                 # models.build name: "alexnet", "resnet8", "resnet56", ...
    width: int
    train: train.TrainConfig  # eps and seed are filled in per run


@dataclass(frozen=True)
class AccuracyClusteringConfig:
    networks: tuple[Network, ...]
    eps_values: tuple[float, ...] = (0.0, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2)
    dataset: str = "fashion_mnist"
    train_size: int = 0        # 0: the whole training split
    eval_size: int = 10_000    # training examples used for logit gaps and train-set geometry
    holdout_size: int = 0      # validation / test examples evaluated; 0: all of them
    per_class: int = 100       # examples per class in the projections, as in the paper


def _network(spec: Network, info: data.DatasetInfo) -> torch.nn.Module:
    return models.build(spec.arch, (info.channels, *info.image_size), info.num_classes, width=spec.width)


def _first_per_class(labels: torch.Tensor, classes, n: int) -> torch.Tensor:
    return torch.cat([torch.nonzero(labels == c).flatten()[:n] for c in classes])


def logit_gaps(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean over examples of z_y − mean_{j≠y} z_j and of z_y − max_{j≠y} z_j (``per_example_gaps``)."""
    gap_mean, _, gap_max = per_example_gaps(logits, labels)
    return {"gap_mean_other": gap_mean.mean().item(), "gap_max_other": gap_max.mean().item()}


def _projections(model, splits, triplet, per_class) -> dict:
    w, b = model.classifier.weight.detach().cpu().double(), model.classifier.bias.detach().cpu().double()
    origin, basis = geometry.template_plane(w, b, triplet)
    out = {"templates": geometry.project_templates(w, b, triplet, origin, basis).tolist()}
    for split, (x, y) in splits.items():
        idx = _first_per_class(y, triplet, per_class)
        coords = geometry.project(train.extract_features(model, x[idx]).double(), origin, basis)
        out[split] = {"coords": coords.tolist(), "labels": y[idx].tolist(),
                      "spread": {str(k): v for k, v in geometry.cluster_spread(coords, y[idx]).items()}}
    return out


def _one_run(cfg: AccuracyClusteringConfig, spec: Network, eps: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    xtr, ytr = data.load_split(cfg.dataset, "train")
    if cfg.train_size:
        xtr, ytr = xtr[:cfg.train_size], ytr[:cfg.train_size]
    torch.manual_seed(seed)
    model = _network(spec, info)
    tcfg = train.TrainConfig(**{**spec.train.__dict__, "eps": eps, "seed": seed})
    model, hist = train.train(model, xtr, ytr, tcfg)
    splits = {"train": (xtr[:cfg.eval_size], ytr[:cfg.eval_size])}
    for split in ("val", "test"):
        x, y = data.load_split(cfg.dataset, split)
        splits[split] = (x[:cfg.holdout_size or None], y[:cfg.holdout_size or None])
    out = {"arch": spec.arch, "eps": eps, "seed": seed, "parameters": models.count_parameters(model),
           "images_per_s": hist.images_per_s, "loss_curve": {"step": hist.step, "loss": hist.loss}}
    w, b = model.classifier.weight.detach().cpu().double(), model.classifier.bias.detach().cpu().double()
    for split, (x, y) in splits.items():
        feats = train.extract_features(model, x)
        logits = (feats.double() @ w.T + b).float()   # the classifier, applied to the features we keep
        probs = logits.softmax(1)
        out[split] = {"accuracy": (logits.argmax(1) == y).float().mean().item(),
                      "mean_confidence": probs.max(1).values.mean().item(),
                      **logit_gaps(logits, y)}
        if split != "test":
            out[split]["nc1"] = geometry.nc1(feats.double(), y, info.num_classes)
            out[split]["distances"] = geometry.distance_summary(
                geometry.template_distances(feats.double(), y, w, b))
    if seed == cfg.seeds[0]:
        out["projections"] = {name: _projections(model, {k: splits[k] for k in ("train", "val")}, t,
                                                 cfg.per_class)
                              for name, t in TRIPLETS.items()}
    return out


def _cifar_status() -> dict:
    status = {}
    for name in ("cifar10", "cifar100"):
        try:
            data.locate(name)
            status[name] = "present (not part of this preset)"
        except FileNotFoundError:
            status[name] = "not present on the machine that ran this preset"
    return status


# Paper recipe for ResNet-56 (CIFAR): Nesterov 0.9, lr 0.1 ÷10 at 50 % and 75 %, wd 1e-4, clip 1.0,
# crop + flip, batch 128. Epoch counts are scaled to each preset's budget (the paper: ~205 epochs).
def _resnet_recipe(epochs: float) -> train.TrainConfig:
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.1, weight_decay=1e-4, schedule="step",
                             milestones=(0.5, 0.75), grad_clip=1.0, crop_padding=2, flip=True)


# AlexNet (paper: lr 0.1 ÷10 at 1/3 and 2/3, wd on the two hidden dense layers). The paper's
# wd 0.04 with 390k steps is scaled here; 0.004 on the dense layers follows the TF CIFAR model.
def _alexnet_recipe(epochs: float) -> train.TrainConfig:
    return train.TrainConfig(epochs=epochs, batch_size=128, lr=0.05, weight_decay=4e-3,
                             weight_decay_scope="hidden_dense", schedule="step", milestones=(1 / 3, 2 / 3),
                             crop_padding=2, flip=True)


PRESETS = {
    "smoke": AccuracyClusteringConfig(
        networks=(Network("resnet8", 4, _resnet_recipe(1)), Network("alexnet", 8, _alexnet_recipe(1))),
        seeds=(0,), train_size=512, eval_size=256, holdout_size=512, per_class=10),
    "cpu": AccuracyClusteringConfig(
        networks=(Network("resnet8", 8, _resnet_recipe(1.5)), Network("alexnet", 16, _alexnet_recipe(1.5))),
        seeds=(0, 1)),
    "gpu": AccuracyClusteringConfig(
        networks=(Network("resnet56", 16, _resnet_recipe(30)), Network("alexnet", 64, _alexnet_recipe(30))),
        seeds=(0, 1, 2, 3, 4)),
}


def _run_config(cfg: AccuracyClusteringConfig, spec: Network, eps: float, seed: int) -> dict:
    """What one run depends on: a sweep may gain seeds or networks without recomputing the others."""
    return {"network": spec, "eps": eps, "seed": seed, "projections": seed == cfg.seeds[0],
            **{k: getattr(cfg, k) for k in ("dataset", "train_size", "eval_size", "holdout_size", "per_class")}}


@experiment("accuracy_clustering", version=1, presets=PRESETS)
def accuracy_clustering(cfg: AccuracyClusteringConfig, memo) -> dict:
    """Accuracy with and without smoothing, penultimate-layer geometry and logit gaps (Table 2, Fig. 1)."""
    grid = [(spec, eps, seed) for spec in cfg.networks for eps in cfg.eps_values for seed in cfg.seeds]
    runs = [memo(f"{spec.arch}-w{spec.width}_eps={eps}_seed={seed}",
                 lambda spec=spec, eps=eps, seed=seed: _one_run(cfg, spec, eps, seed),
                 run_config=_run_config(cfg, spec, eps, seed))
            for spec, eps, seed in tqdm(grid, desc="accuracy_clustering", leave=False)]
    return {"runs": runs, "cifar": _cifar_status(), "triplets": TRIPLETS,
            "class_names": list(data.DATASETS[cfg.dataset].class_names)}
