"""Label noise: hard targets, label smoothing and negative label smoothing (Wei et al. 2022) when a
fraction of the training labels is wrong.

A fixed fraction η of the Fashion-MNIST training labels is replaced by a different class chosen
uniformly (``tasks.symmetric_label_noise``, one fixed noise seed per η, so every method sees the
same corrupted set). Each run trains one MLP at one (η, ε, seed) — ε < 0 goes through the explicit
``allow_negative`` path of ``smoothed_cross_entropy`` — and reports on the **clean** test split:
``metrics.summary`` at the end, the test accuracy after every epoch (is there a peak that
training then loses?), and what the network does with the corrupted training images: the fraction
it predicts as their (wrong) training label — memorised — and as their true class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from lsutils import data, metrics, models, tasks, train
from lsutils.results import experiment


@dataclass(frozen=True)
class LabelNoiseConfig:
    dataset: str = "fashion_mnist"
    noise_rates: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)
    eps_values: tuple[float, ...] = (-0.4, -0.2, 0.0, 0.1, 0.2, 0.4)
    seeds: tuple[int, ...] = (0, 1)
    hidden: tuple[int, ...] = (512,)
    epochs: float = 12.0
    batch_size: int = 128
    lr: float = 0.05
    train_size: int = 0
    eval_size: int = 0
    noise_seed: int = 0


def noisy_train(cfg: LabelNoiseConfig, rate: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, noisy labels, clean labels, corrupted mask) of the training split at noise ``rate``."""
    x, y = data.load_split(cfg.dataset, "train")
    if cfg.train_size:
        x, y = x[:cfg.train_size], y[:cfg.train_size]
    k = data.DATASETS[cfg.dataset].num_classes
    noisy, mask = tasks.symmetric_label_noise(y, k, rate, cfg.noise_seed + round(1000 * rate))
    return x, noisy, y, mask


def _one_run(cfg: LabelNoiseConfig, rate: float, eps: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    x, noisy, clean, mask = noisy_train(cfg, rate)
    xt, yt = data.load_split(cfg.dataset, "test")
    xt, yt = (xt[:cfg.eval_size], yt[:cfg.eval_size]) if cfg.eval_size else (xt, yt)
    per_epoch = max(1, len(x) // cfg.batch_size)
    tcfg = train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                             schedule="cosine", eps=eps, seed=seed, eval_every=per_epoch)
    torch.manual_seed(seed)
    model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
    model, hist = train.train(model, x, noisy, tcfg, hooks={
        "test_accuracy": lambda m: (train.predict_logits(m, xt).argmax(1) == yt).float().mean().item()})
    out = {"noise": rate, "eps": eps, "seed": seed, "n_corrupted": int(mask.sum()),
           "epoch_test_accuracy": [e["test_accuracy"] for e in hist.evals],
           "epoch": [e["step"] / per_epoch for e in hist.evals],
           "test": metrics.summary(train.predict_logits(model, xt).double().numpy(), yt.numpy())}
    pred = train.predict_logits(model, x).argmax(1)
    if mask.any():
        out["corrupted_memorised"] = (pred[mask] == noisy[mask]).float().mean().item()
        out["corrupted_true_class"] = (pred[mask] == clean[mask]).float().mean().item()
    out["clean_train_accuracy"] = (pred[~mask] == clean[~mask]).float().mean().item()
    return out


PRESETS = {
    "smoke": LabelNoiseConfig(noise_rates=(0.0, 0.4), eps_values=(-0.2, 0.0, 0.2), seeds=(0,), hidden=(16,),
                              epochs=2.0, train_size=2000, eval_size=1000),
    "cpu": LabelNoiseConfig(),
    "gpu": LabelNoiseConfig(eps_values=(-0.8, -0.4, -0.2, 0.0, 0.1, 0.2, 0.4, 0.6), seeds=(0, 1, 2),
                            hidden=(1024, 1024), epochs=60.0),
}


@experiment("label_noise", version=1, presets=PRESETS)
def label_noise(cfg: LabelNoiseConfig, memo) -> dict:
    """Symmetric label noise η ∈ {0, 10, 20, 40 %}: hard targets vs smoothing vs negative smoothing."""
    grid = [(r, e, s) for r in cfg.noise_rates for e in cfg.eps_values for s in cfg.seeds]
    runs = [memo(f"noise={r:g}_eps={e:g}_seed={s}", lambda r=r, e=e, s=s: _one_run(cfg, r, e, s),
                 run_config={"cfg": cfg, "noise": r, "eps": e, "seed": s})
            for r, e, s in tqdm(grid, desc="label_noise", leave=False)]
    return {"runs": runs}
