"""Label noise: hard targets, label smoothing and negative label smoothing (Wei et al. 2022) when a
fraction of the training labels is wrong.

A fixed fraction η of the Fashion-MNIST training labels is replaced by a different class chosen
uniformly (``tasks.symmetric_label_noise``, one fixed noise seed per η, so every method sees the
same corrupted set). Two protocols, as Wei et al. run them:

* ``direct``: train from scratch with ε (cosine schedule);
* ``warmup``: train with hard targets first, then continue from that network with ε at a small
  constant learning rate. The warm-up network depends only on (η, seed), so it is trained once
  per process and shared by every ε.

ε < 0 goes through the explicit ``allow_negative`` path of ``smoothed_cross_entropy``. A run whose
weights stop being finite is recorded as diverged, with the epoch it happened in. Each run reports,
on the **clean** test split, ``metrics.summary`` at the end and the test accuracy after every
epoch, and on the corrupted training images the fraction predicted as their (wrong) training label
— memorised — and as their true class.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from lsutils import data, metrics, models, tasks, train
from lsutils.results import declare
from lsutils.table import Runs, pick


@dataclass(frozen=True)
class LabelNoiseConfig:
    dataset: str = "fashion_mnist"
    protocols: tuple[str, ...] = ("direct", "warmup")
    noise_rates: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)
    eps_values: tuple[float, ...] = (-0.4, -0.2, 0.0, 0.1, 0.2, 0.4)
    seeds: tuple[int, ...] = (0, 1)
    hidden: tuple[int, ...] = (256,)
    epochs: float = 12.0            # direct: the whole run
    batch_size: int = 128
    lr: float = 0.05
    warmup_epochs: float = 8.0      # warmup: hard targets, cosine schedule from ``lr``
    finetune_epochs: float = 4.0    # warmup: then ε at a constant ``finetune_lr``
    finetune_lr: float = 0.005
    train_size: int = 0
    eval_size: int = 0
    noise_seed: int = 0
    # added after the first cpu result; at its default it leaves that result's identity unchanged
    eval_every_epochs: int = field(default=1, metadata={"omit_if_default": True})   # test accuracy every n epochs


def noisy_train(cfg: LabelNoiseConfig, rate: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, noisy labels, clean labels, corrupted mask) of the training split at noise ``rate``."""
    x, y = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
    k = data.DATASETS[cfg.dataset].num_classes
    noisy, mask = tasks.symmetric_label_noise(y, k, rate, cfg.noise_seed + round(1000 * rate))
    return x, noisy, y, mask


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _fit(cfg: LabelNoiseConfig, model, x, y, tcfg: train.TrainConfig, xt, yt):
    per_epoch = max(1, len(x) // tcfg.batch_size)
    tcfg = dataclasses.replace(tcfg, eval_every=per_epoch * cfg.eval_every_epochs)
    hooks = {"test_accuracy": lambda m: (train.predict_logits(m, xt).argmax(1) == yt).float().mean().item(),
             "finite": _finite}
    model, hist = train.train(model, x, y, tcfg, hooks=hooks)
    return model, [e["step"] / per_epoch for e in hist.evals], hist.evals


def warmup_network(cfg: LabelNoiseConfig, rate: float, seed: int) -> torch.nn.Module:
    """The hard-target network the ``warmup`` protocol continues from (deterministic in (η, seed))."""
    info = data.DATASETS[cfg.dataset]
    x, noisy, _, _ = noisy_train(cfg, rate)
    torch.manual_seed(seed)
    model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
    tcfg = train.TrainConfig(epochs=cfg.warmup_epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                             schedule="cosine", seed=seed)
    return train.train(model, x, noisy, tcfg)[0]


def _one_run(cfg: LabelNoiseConfig, protocol: str, rate: float, eps: float, seed: int, warm=None) -> dict:
    info = data.DATASETS[cfg.dataset]
    x, noisy, clean, mask = noisy_train(cfg, rate)
    xt, yt = data.load_split(cfg.dataset, "test", limit=cfg.eval_size)
    if protocol == "direct":
        torch.manual_seed(seed)
        model = models.mlp((info.channels, *info.image_size), info.num_classes, cfg.hidden)
        tcfg = train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0,
                                 schedule="cosine", eps=eps, seed=seed)
    else:
        model = copy.deepcopy(warm)
        start_acc = (train.predict_logits(model, xt).argmax(1) == yt).float().mean().item()
        tcfg = train.TrainConfig(epochs=cfg.finetune_epochs, batch_size=cfg.batch_size, lr=cfg.finetune_lr,
                                 weight_decay=0.0, schedule="constant", eps=eps, seed=seed)
    model, epochs, evals = _fit(cfg, model, x, noisy, tcfg, xt, yt)
    out = {"protocol": protocol, "noise": rate, "eps": eps, "seed": seed, "n_corrupted": int(mask.sum()),
           "epoch": epochs, "epoch_test_accuracy": [e["test_accuracy"] for e in evals],
           "diverged": not evals[-1]["finite"],
           "diverged_epoch": next((ep for ep, e in zip(epochs, evals) if not e["finite"]), None)}
    if protocol == "warmup":
        out["warmup_test_accuracy"] = start_acc
    if out["diverged"]:
        return out
    out["test"] = metrics.summary(train.predict_logits(model, xt).double().numpy(), yt.numpy())
    pred = train.predict_logits(model, x).argmax(1)
    if mask.any():
        out["corrupted_memorised"] = (pred[mask] == noisy[mask]).float().mean().item()
        out["corrupted_true_class"] = (pred[mask] == clean[mask]).float().mean().item()
    out["clean_train_accuracy"] = (pred[~mask] == clean[~mask]).float().mean().item()
    return out


PRESETS = {
    "smoke": LabelNoiseConfig(noise_rates=(0.0, 0.4), eps_values=(-0.2, 0.0, 0.2), seeds=(0,), hidden=(16,),
                              epochs=2.0, warmup_epochs=1.0, finetune_epochs=1.0, train_size=2000, eval_size=1000),
    "cpu": LabelNoiseConfig(),
    "gpu": LabelNoiseConfig(eps_values=(-0.8, -0.4, -0.2, 0.0, 0.1, 0.2, 0.4, 0.6), seeds=(0, 1, 2),
                            hidden=(1024, 1024), epochs=60.0, warmup_epochs=40.0, finetune_epochs=20.0),
}


def _sweep(cfg: LabelNoiseConfig, memo, desc: str) -> dict:
    warm: dict[tuple[float, int], torch.nn.Module] = {}

    def run(p, r, e, s):
        if p == "warmup" and (r, s) not in warm:
            warm[(r, s)] = warmup_network(cfg, r, s)
        return _one_run(cfg, p, r, e, s, warm.get((r, s)))

    grid = [(p, r, e, s) for p in cfg.protocols for r in cfg.noise_rates for e in cfg.eps_values for s in cfg.seeds]
    runs = [memo(f"{p}_noise={r:g}_eps={e:g}_seed={s}", lambda p=p, r=r, e=e, s=s: run(p, r, e, s),
                 run_config={"cfg": cfg, "protocol": p, "noise": r, "eps": e, "seed": s})
            for p, r, e, s in tqdm(grid, desc=desc, leave=False)]
    return {"runs": runs}


def label_noise(cfg: LabelNoiseConfig, memo) -> dict:
    """Symmetric label noise η ∈ {0, 10, 20, 40 %}: hard targets vs smoothing vs negative smoothing,
    trained directly and after a hard-target warm-up, on the whole training split."""
    return _sweep(cfg, memo, "label_noise")


# The same sweep on a small training set trained for many passes: the regime in which a network
# memorises its noisy labels (on the whole split, a few epochs leave little memorised).
SMALL_PRESETS = {
    "smoke": dataclasses.replace(PRESETS["smoke"], train_size=500, epochs=6.0, warmup_epochs=4.0,
                                 finetune_epochs=2.0, eval_every_epochs=2),
    "cpu": LabelNoiseConfig(train_size=5000, epochs=150.0, warmup_epochs=100.0, finetune_epochs=20.0,
                            eval_every_epochs=5),
    "gpu": dataclasses.replace(PRESETS["gpu"], train_size=5000, epochs=400.0, warmup_epochs=300.0,
                               finetune_epochs=100.0, eval_every_epochs=10),
}


def label_noise_small(cfg: LabelNoiseConfig, memo) -> dict:
    """The label-noise sweep on 5 000 training images for many epochs: the memorising regime."""
    return _sweep(cfg, memo, "label_noise_small")


# ----------------------------------------------------------------------------- the chapter's verdicts

# The chapter's two settings and the experiment that stores each: claims() reads both.
SETTINGS = {"full": "label_noise", "small": "label_noise_small"}

# claim key -> the label of the chapter section that shows its evidence
SECTIONS = {"tolerance": "sec-noise-verdicts", "wei": "sec-noise-verdicts"}


def accuracy(runs: list[dict] | Runs, protocol: str, rate: float, eps: float) -> float | None:
    """Mean clean test accuracy (%) over the seeds of (``protocol``, η = ``rate``, ``eps``)
    that did not diverge; ``None`` if every one diverged. Raises ``ValueError`` for a cell
    the runs do not hold."""
    cell = Runs(runs).where(protocol=protocol, noise=rate, eps=eps)
    if not cell:
        raise ValueError(f"runs hold no run for protocol={protocol!r}, rate={rate!r}, eps={eps!r}")
    ok = cell.where(diverged=False).column("test.accuracy")
    return 100 * sum(ok) / len(ok) if ok else None


def best_eps(runs: list[dict] | Runs, protocol: str, rate: float, candidates) -> float | None:
    """The ε of ``candidates`` with the highest ``accuracy`` (the first on a tie), among those
    with a run that did not diverge; ``None`` if none has one."""
    ok = [e for e in candidates if accuracy(runs, protocol, rate, e) is not None]
    return max(ok, key=lambda e: accuracy(runs, protocol, rate, e)) if ok else None


def claims(data_: dict, config: dict) -> list[dict]:
    """The chapter's two verdicts, judged on both settings at once. ``data_`` and ``config`` map
    each experiment of ``SETTINGS`` (``label_noise``, ``label_noise_small``) to its stored data
    and config. The rules compare means over the seeds that did not diverge (clean test accuracy,
    %), not intervals:

    * "smoothing makes training tolerant to label noise" — trained directly, at each noise rate
      η > 0, the best positive ε is set against hard targets. *holds where the network memorises*
      if in the small setting it beats them by more than half a point at every η > 0; else
      *partly* if it beats them at some η in some setting; else *does not hold*;
    * Wei et al. (2022), "negative smoothing is the better choice at high noise, positive
      smoothing at low noise" — in the warm-up protocol, per setting, two checks: at the highest η
      the best negative ε (one that did not diverge) beats the best positive ε; at the lowest
      η > 0 the best positive ε at least matches the best negative one (or every negative ε
      diverged). *holds* if every check passes, *does not hold* if none does, else *partly*.

    Each claim carries its checks: ``wins`` (setting → number of η won by more than half a point)
    and ``gains`` (setting → the largest gain, points) for the first; ``high`` and ``low``
    (setting → whether that check passed) for the second.
    """
    missing = [n for n in SETTINGS.values() if n not in data_ or n not in config]
    if missing:
        raise ValueError(f"data_ and config must map each of {list(SETTINGS.values())} to its stored "
                         f"data and config; missing {missing}")
    runs = {s: Runs(pick(data_, f"{name}.runs")) for s, name in SETTINGS.items()}
    rates = {s: [float(r) for r in pick(config, f"{name}.noise_rates")] for s, name in SETTINGS.items()}
    eps = {s: [float(e) for e in pick(config, f"{name}.eps_values")] for s, name in SETTINGS.items()}

    def acc(s, protocol, rate, e):
        return accuracy(runs[s], protocol, rate, e)

    def best(s, protocol, rate, sign):
        return best_eps(runs[s], protocol, rate, [e for e in eps[s] if e * sign > 0])

    wins, gains, won_any = {}, {}, False
    for s in SETTINGS:
        wins[s], gains[s] = 0, []
        for r in (r for r in rates[s] if r > 0):
            b, hard = best(s, "direct", r, +1), acc(s, "direct", r, 0.0)
            if b is None or hard is None:
                continue
            wins[s] += acc(s, "direct", r, b) > hard + 0.5
            gains[s].append(acc(s, "direct", r, b) - hard)
            won_any = won_any or acc(s, "direct", r, b) > hard
        gains[s] = max(gains[s], default=float("nan"))
    n_noisy = len([r for r in rates["small"] if r > 0])
    tolerance = ("holds where the network memorises" if n_noisy and wins["small"] == n_noisy
                 else "partly" if won_any else "does not hold")

    high, low = {}, {}
    for s in SETTINGS:
        hi, lo = max(rates[s]), min(r for r in rates[s] if r > 0)
        nh, ph = best(s, "warmup", hi, -1), best(s, "warmup", hi, +1)
        nl, pl = best(s, "warmup", lo, -1), best(s, "warmup", lo, +1)
        high[s] = (nh is not None and ph is not None
                   and acc(s, "warmup", hi, nh) > acc(s, "warmup", hi, ph))
        low[s] = nl is None or (pl is not None and acc(s, "warmup", lo, pl) >= acc(s, "warmup", lo, nl))
    passed = sum(high.values()) + sum(low.values())
    wei = "holds" if passed == 2 * len(SETTINGS) else "does not hold" if passed == 0 else "partly"

    where = "MLP, Fashion-MNIST with noisy labels"
    return [
        {"key": "tolerance", "source": "Tutorials", "claim": "smoothing makes training tolerant to label noise",
         "setting": where, "verdict": tolerance, "wins": wins, "gains": gains},
        {"key": "wei", "source": "Wei et al. (2022)",
         "claim": "negative smoothing is the better choice at high noise, positive smoothing at low noise",
         "setting": f"{where}, after a hard-target warm-up", "verdict": wei, "high": high, "low": low},
    ]


EXPERIMENT = declare(
    "label_noise", version=1, presets=PRESETS, run=label_noise,
    page="chapters/practice/label_noise",
    claims=claims, sections=SECTIONS,
    reads=("label_noise_small",))
EXPERIMENT_SMALL = declare(
    "label_noise_small", version=1, presets=SMALL_PRESETS, run=label_noise_small,
    page="chapters/practice/label_noise")
