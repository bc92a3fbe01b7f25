"""The logit bound of the smoothed loss: free logits, and softmax regression on Fashion-MNIST.

At the optimum of one example's smoothed loss, z_y − z_j = log(p*_y/p*_j) for every wrong
class j (``lsutils.theory.logit_gap``); with hard labels (ε = 0) there is no finite optimum.
This module checks both statements twice:

* on **free logits** (one logit vector per problem, nothing shared): :func:`fit_free_logits`
  minimises the smoothed loss from random starts with L-BFGS, :func:`gd_free_logits` runs
  plain gradient descent and records the gap (the hard-label gap grows like log t);
* on a **linear model** (softmax regression, weights shared by all examples): the registered
  experiment ``theory_gap`` trains it full-batch with L-BFGS on the (whitened, see
  :func:`whitening_map`) pixels of the Fashion-MNIST training split for several ε and records
  the per-example gaps (:func:`per_example_gaps`) along the way.
"""

from __future__ import annotations

from functools import partial
import math
from dataclasses import dataclass

import numpy as np
import torch

from lsutils import data, losses, models, theory, train
from lsutils.results import declare
from lsutils.targets import check_convention, check_eps, check_labels, check_num_classes, target_values

__all__ = [
    "per_example_gaps",
    "whitening_map",
    "fit_free_logits",
    "gd_free_logits",
    "log_steps",
    "TheoryGapConfig",
    "theory_gap",
]


# --------------------------------------------------------------------------- helpers


def per_example_gaps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(gap_mean, gap_lme, gap_max)``, each of shape (N,), for logits (N, K) and labels (N,).

    Each is z_y minus a summary of the K − 1 wrong logits of the example:

    * gap_mean = z_y − mean_{j≠y} z_j, the average gap to the wrong classes;
    * gap_lme  = z_y − log(mean_{j≠y} e^{z_j}) = log((K − 1)·p_y/(1 − p_y)), the *softmax gap*,
      a function of the confidence on the true class p_y alone;
    * gap_max  = z_y − max_{j≠y} z_j, the margin (> 0 iff the example is classified right).

    gap_mean ≥ gap_lme ≥ gap_max (Jensen, and mean ≤ max), with equality iff all wrong logits
    are equal, as at the optimum of the smoothed loss, where all three equal ``theory.logit_gap``.
    """
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point or logits.dim() != 2:
        raise ValueError(f"logits must be a floating-point torch.Tensor of shape (N, K), got {logits!r:.80}")
    k = check_num_classes(logits.shape[1])
    check_labels(labels, k)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},) to match logits, got {tuple(labels.shape)}")
    idx = labels.to(logits.device).unsqueeze(1)
    z_y = logits.gather(1, idx).squeeze(1)
    gap_mean = z_y - (logits.sum(dim=1) - z_y) / (k - 1)
    wrong = logits.scatter(1, idx, -math.inf)
    gap_lme = z_y - (torch.logsumexp(wrong, dim=1) - math.log(k - 1))
    gap_max = z_y - wrong.max(dim=1).values
    return gap_mean, gap_lme, gap_max


def whitening_map(x: torch.Tensor, ridge: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(mean, m)`` such that x ↦ (x − mean) @ m whitens the rows of ``x`` (N, D).

    m = U (Λ + δ)^(−1/2) from the eigendecomposition C = U Λ Uᵀ of the covariance of ``x``, with
    δ = ``ridge`` · mean(Λ) > 0, so m is invertible however small the smallest eigenvalue:
    a linear model on the mapped inputs represents exactly the same logit functions as one on
    ``x`` (W' = W m⁻ᵀ, b' = b + W·mean), and only the optimiser's conditioning changes.
    """
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point or x.dim() != 2 or len(x) < 2:
        raise ValueError(f"x must be a floating-point torch.Tensor of shape (N, D) with N >= 2, got {x!r:.80}")
    if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge > 0):
        raise ValueError(f"ridge must be a finite number > 0, got {ridge!r}")
    mean = x.mean(dim=0)
    xc = x - mean
    cov = (xc.T @ xc).double() / len(x)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0.0)
    m = u / (lam + ridge * lam.mean()).sqrt()
    return mean, m.to(x.dtype)


def _softmax_np(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def fit_free_logits(num_classes: int, eps: float, convention: str = "uniform", *, starts: int = 8,
                    scale: float = 4.0, seed: int = 0, max_iter: int = 1000,
                    tolerance_grad: float = 1e-12) -> dict:
    """Minimise the smoothed loss of one example (label 0) over free logits z ∈ R^K with L-BFGS
    (float64, strong-Wolfe line search), from ``starts`` random starts z ~ N(0, scale²).

    Each start is its own run. The loss is multiplied by 1/q_j (q_j = ε/K or ε/(K − 1), the
    smallest target), which leaves the minimiser unchanged but matters in practice: the
    curvature along a wrong logit is p_j ≈ q_j, so near the optimum a gap error δ changes the
    loss by only about q_j·δ²/2, and torch's line search, whose tolerances are absolute, would
    stop early on the unscaled loss (errors ~1e-4 for K = 1000, ε = 0.01).

    Returns a dict of numpy arrays (one row per start): ``z`` (starts, K) the final logits,
    ``gaps`` (starts, K − 1) = z_0 − z_j, ``probs`` (starts, K), ``loss`` (starts,) the
    unscaled loss, and ``grad_max`` (starts,) the largest absolute entry of the gradient at the end.
    """
    k = check_num_classes(num_classes)
    eps = check_eps(eps)
    convention = check_convention(convention)
    q_off = target_values(k, eps, convention)[1]
    factor = 1.0 / q_off if q_off > 0 else 1.0
    gen = torch.Generator().manual_seed(seed)
    z0 = scale * torch.randn(starts, k, generator=gen, dtype=torch.float64)
    label = torch.zeros(1, dtype=torch.int64)
    rows = []
    for i in range(starts):
        z = z0[i:i + 1].clone().requires_grad_(True)
        opt = torch.optim.LBFGS([z], lr=1.0, max_iter=max_iter, max_eval=2 * max_iter, history_size=50,
                                tolerance_grad=tolerance_grad, tolerance_change=0.0,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = factor * losses.smoothed_cross_entropy(z, label, eps, convention, reduction="sum")
            loss.backward()
            return loss

        opt.step(closure)
        rows.append(z.detach()[0])
    zz = torch.stack(rows)
    labels = torch.zeros(starts, dtype=torch.int64)
    zg = zz.clone().requires_grad_(True)
    loss = losses.smoothed_cross_entropy(zg, labels, eps, convention, reduction="none")
    loss.sum().backward()
    return {"z": zz.numpy().copy(), "gaps": (zz[:, :1] - zz[:, 1:]).numpy().copy(),
            "probs": zz.softmax(dim=1).numpy().copy(), "loss": loss.detach().numpy().copy(),
            "grad_max": zg.grad.abs().max(dim=1).values.numpy().copy()}


def log_steps(total: int, num: int) -> list[int]:
    """About ``num`` roughly log-spaced integers from 0 to ``total`` inclusive (0, 1, 2, …, total)."""
    if total < 0 or num < 2:
        raise ValueError(f"need total >= 0 and num >= 2, got total={total}, num={num}")
    if total == 0:
        return [0]
    pts = np.unique(np.round(np.geomspace(1, total, num - 1)).astype(int))
    return [0, *(int(p) for p in pts)]


def gd_free_logits(num_classes: int, eps_values, *, lr: float = 1.0, steps: int = 10_000,
                   record: list[int] | None = None, convention: str = "uniform") -> dict:
    """Plain gradient descent z ← z − lr·(softmax(z) − q) on free logits, one row per ε, from z = 0.

    The gradient of the smoothed loss with respect to the logits is softmax(z) − q. From z = 0
    the wrong logits stay equal, so one number, the gap z_y − z_j, describes each row.
    Returns ``{"step": record, "gap": (len(eps_values), len(record)) array, "loss": same shape}``.
    With ε = 0 the gap grows like log(lr·K·t) without bound; with ε > 0 it settles at
    ``theory.logit_gap``.
    """
    k = check_num_classes(num_classes)
    convention = check_convention(convention)
    eps_values = [check_eps(e) for e in eps_values]
    record = sorted(set(record if record is not None else log_steps(steps, 60)))
    if record[0] < 0 or record[-1] > steps:
        raise ValueError(f"record steps must lie in [0, {steps}]")
    q = np.array([[target_values(k, e, convention)[0]] + [target_values(k, e, convention)[1]] * (k - 1)
                  for e in eps_values])
    z = np.zeros_like(q)
    gaps = np.empty((len(eps_values), len(record)))
    loss = np.empty_like(gaps)
    want = {s: i for i, s in enumerate(record)}
    for t in range(steps + 1):
        if t in want:
            zs = z - z.max(axis=1, keepdims=True)
            logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
            gaps[:, want[t]] = z[:, 0] - z[:, 1:].mean(axis=1)
            loss[:, want[t]] = -(q * logp).sum(axis=1)
        if t < steps:
            z -= lr * (_softmax_np(z) - q)
    return {"step": record, "gap": gaps, "loss": loss}


# --------------------------------------------------------------------------- the experiment

GAPS = ("gap_mean", "gap_lme", "gap_max")


@dataclass(frozen=True)
class TheoryGapConfig:
    dataset: str = "fashion_mnist"
    train_size: int = 0            # 0: the whole training split (50 000 images)
    eval_size: int = 0             # 0: the whole test split
    eps_values: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3)
    convention: str = "uniform"
    whiten_ridge: float = 1e-3     # inputs whitened (an invertible map: same model, faster L-BFGS)
    iterations: int = 150          # full-batch L-BFGS iterations per ε
    history_size: int = 20
    log_points: int = 25           # roughly log-spaced iterations at which the gaps are recorded
    dtype: str = "float32"
    split_seed: int = 0
    hist_range: tuple[float, float] = (-10.0, 30.0)
    hist_bins: int = 160


_QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def _gap_summary(gap: torch.Tensor, bound: float | None, cfg: TheoryGapConfig) -> dict:
    g = gap.double().cpu()
    lo, hi = cfg.hist_range
    counts, _ = np.histogram(g.numpy(), bins=cfg.hist_bins, range=(lo, hi))  # out-of-range: counted apart
    out = {"mean": g.mean().item(), "std": g.std().item(), "min": g.min().item(), "max": g.max().item(),
           "quantiles": dict(zip([f"{q:g}" for q in _QUANTILES],
                                 torch.quantile(g, torch.tensor(_QUANTILES, dtype=torch.float64)).tolist())),
           "hist": {"counts": counts.tolist(), "below": int((g < lo).sum()),
                    "above": int((g > hi).sum())}}
    if bound is not None:
        out["frac_above_bound"] = (g > bound).double().mean().item()
    return out


@torch.no_grad()
def _measure(model, x: torch.Tensor, y: torch.Tensor, eps: float, cfg: TheoryGapConfig, bound, full: bool) -> dict:
    z = model(x)
    gaps = dict(zip(GAPS, per_example_gaps(z, y)))
    p = z.softmax(dim=1)
    out = {"loss": losses.smoothed_cross_entropy(z, y, eps, cfg.convention).item(),
           "nll": losses.smoothed_cross_entropy(z, y, 0.0).item(),
           "accuracy": (z.argmax(dim=1) == y).double().mean().item(),
           "mean_confidence": p.max(dim=1).values.double().mean().item(),
           "mean_p_true": p.gather(1, y.unsqueeze(1)).double().mean().item()}
    out.update({name: g.double().mean().item() for name, g in gaps.items()})
    if full:
        out.update({f"{name}_dist": _gap_summary(g, bound, cfg) for name, g in gaps.items()})
    return out


def _one_eps(cfg: TheoryGapConfig, eps: float) -> dict:
    dtype = getattr(torch, cfg.dtype)
    device = train.default_device()
    info = data.DATASETS[cfg.dataset]
    k = info.num_classes

    def load(split, n):
        x, y = data.load_split(cfg.dataset, split, seed=cfg.split_seed, limit=n)
        return train.to_float(x).reshape(len(x), -1).to(device=device, dtype=dtype), y.to(device)

    xtr, ytr = load("train", cfg.train_size)
    xte, yte = load("test", cfg.eval_size)
    mean, m = whitening_map(xtr, cfg.whiten_ridge)
    xtr, xte = (xtr - mean) @ m, (xte - mean) @ m
    # hidden=() is softmax regression; its Flatten is a no-op on the flattened inputs
    model = models.mlp((info.channels, *info.image_size), k, hidden=()).to(device=device, dtype=dtype)
    for p in model.parameters():
        torch.nn.init.zeros_(p)  # a convex problem: start at z = 0 (all gaps 0), deterministic

    bound = None if eps == 0 else theory.logit_gap(k, eps, cfg.convention)
    params = list(model.parameters())
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=cfg.history_size,
                            tolerance_grad=1e-10, tolerance_change=0.0, line_search_fn="strong_wolfe")
    evals = [0]

    def closure():
        opt.zero_grad(set_to_none=False)
        loss = losses.smoothed_cross_entropy(model(xtr), ytr, eps, cfg.convention)
        loss.backward()
        evals[0] += 1
        return loss

    keys = ("loss", "accuracy", "mean_confidence", "mean_p_true", *GAPS)
    history = {key: [] for key in ("iteration", *keys)}
    done = 0
    for target in log_steps(cfg.iterations, cfg.log_points):
        if target > done:
            opt.param_groups[0]["max_iter"] = target - done
            opt.param_groups[0]["max_eval"] = 2 * (target - done)
            opt.step(closure)
            done = target
        m_ = _measure(model, xtr, ytr, eps, cfg, bound, full=False)
        history["iteration"].append(done)
        for key in keys:
            history[key].append(m_[key])

    closure()
    grad_max = max(float(p.grad.abs().max()) for p in params)
    return {"eps": eps, "bound": bound, "floor": theory.loss_floor(k, eps, cfg.convention),
            "max_confidence": theory.max_confidence(k, eps, cfg.convention), "num_classes": k,
            "history": history, "function_evals": evals[0], "grad_max": grad_max,
            "train": _measure(model, xtr, ytr, eps, cfg, bound, full=True),
            "test": _measure(model, xte, yte, eps, cfg, bound, full=True),
            "n_train": len(ytr), "n_test": len(yte)}


PRESETS = {
    "smoke": TheoryGapConfig(train_size=2000, eval_size=500, eps_values=(0.0, 0.1), iterations=10, log_points=5),
    "cpu": TheoryGapConfig(),
    "gpu": TheoryGapConfig(iterations=1000, log_points=40, dtype="float64"),
}


def theory_gap(cfg: TheoryGapConfig, memo) -> dict:
    """Softmax regression on Fashion-MNIST, full-batch L-BFGS, several ε: per-example logit gaps vs the bound."""
    runs = memo.many([(f"eps={eps}", partial(_one_eps, cfg, eps), None) for eps in cfg.eps_values])
    return {"runs": runs}


EXPERIMENT = declare(
    "theory_gap", version=1, presets=PRESETS, run=theory_gap,
    page="chapters/theory/optimum")
