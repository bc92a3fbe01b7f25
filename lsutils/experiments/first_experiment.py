"""The book's first end-to-end experiment: an MLP on Fashion-MNIST with and without smoothing."""

from __future__ import annotations

from functools import partial
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lsutils import data, models, train
from lsutils.results import declare


@dataclass(frozen=True)
class FirstConfig:
    dataset: str = "fashion_mnist"
    train_size: int = 0          # 0: the whole training split
    eval_size: int = 0           # 0: the whole validation / test split
    hidden: tuple[int, ...] = (256,)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    eps_values: tuple[float, ...] = (0.0, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2)
    split_seed: int = 0
    confidence_bins: int = 20


def _evaluate(logits: torch.Tensor, labels: torch.Tensor, bins: int) -> dict:
    probs = logits.softmax(1)
    conf = probs.max(1).values
    top2 = logits.topk(2, dim=1).values
    return {"accuracy": (probs.argmax(1) == labels).float().mean().item(),
            "mean_confidence": conf.mean().item(),
            "nll": F.cross_entropy(logits, labels).item(),
            "mean_top_gap": (top2[:, 0] - top2[:, 1]).mean().item(),
            "confidence_hist": np.histogram(conf.numpy(), bins=bins, range=(0.0, 1.0))[0].tolist()}


def _one_run(cfg: FirstConfig, eps: float, seed: int) -> dict:
    xtr, ytr = data.load_split(cfg.dataset, "train", seed=cfg.split_seed, limit=cfg.train_size)
    info = data.DATASETS[cfg.dataset]
    torch.manual_seed(seed)  # the initialisation belongs to the seed too
    model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
    tcfg = train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                             schedule="cosine", eps=eps, seed=seed)
    model, hist = train.train(model, xtr, ytr, tcfg)
    out = {"eps": eps, "seed": seed, "loss_curve": {"step": hist.step, "loss": hist.loss}}
    for split in ("train", "test"):
        x, y = data.load_split(cfg.dataset, split, seed=cfg.split_seed, limit=cfg.eval_size)
        out[split] = _evaluate(train.predict_logits(model, x), y, cfg.confidence_bins)
    return out


PRESETS = {
    "smoke": FirstConfig(train_size=1000, eval_size=500, hidden=(32,), epochs=1, seeds=(0,)),
    "cpu": FirstConfig(),
    "gpu": FirstConfig(epochs=30, seeds=(0, 1, 2, 3, 4)),
}


def first_experiment(cfg: FirstConfig, memo) -> dict:
    """An MLP on Fashion-MNIST trained with hard targets and with smoothing: test accuracy and mean confidence."""
    grid = [(eps, seed) for eps in cfg.eps_values for seed in cfg.seeds]
    runs = memo.many([(f"eps={eps}_seed={seed}", partial(_one_run, cfg, eps, seed), None) for eps, seed in grid])
    return {"runs": runs}


EXPERIMENT = declare(
    "first_experiment", version=3, presets=PRESETS, run=first_experiment,
    page="chapters/practice/first_experiment")
