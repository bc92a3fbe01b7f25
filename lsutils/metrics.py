r"""Calibration and accuracy metrics for classifiers: ECE, reliability tables, Brier, NLL, temperature.

Everything takes **probabilities** ``(N, K)`` (rows on the simplex) and integer ``labels`` ``(N,)``,
as numpy arrays or CPU torch tensors, and computes in float64 numpy; scalars come back as Python
floats. ``fit_temperature`` and ``nll_logits`` take **logits**.

Definitions (Guo et al. 2017, following Naeini et al. 2015). With confidence c_i = max_k p_ik and
prediction ŷ_i = argmax_k p_ik, partition the examples into bins B_1..B_M by confidence and write
acc(B) and conf(B) for the fraction correct and the mean confidence in a bin. Then

.. math::

   \mathrm{ECE} = \sum_m \frac{|B_m|}{N} \, \bigl| \mathrm{acc}(B_m) - \mathrm{conf}(B_m) \bigr|.

* ``binning="width"`` (the paper's): M equal-width intervals of [0, 1], each open on the left and
  closed on the right, (lo, hi] — exactly the intervals of Guo et al.'s reference code. Empty bins
  contribute nothing.
* ``binning="mass"`` (equal-mass, "adaptive" ECE, Nixon et al. 2019): examples sorted by confidence
  (ties kept in input order) and cut into M groups whose sizes differ by at most one. Every bin is
  then equally credible; bins are never empty when N ≥ M.

Brier score is the multi-class one of Brier (1950): mean over examples of Σ_k (p_ik − 1[k = y_i])²,
in [0, 2] (some libraries divide by K; we do not). NLL is :math:`-\operatorname{mean}_i \log p_{i, y_i}`
in nats.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BINNINGS",
    "Reliability",
    "softmax",
    "confidence",
    "accuracy",
    "nll",
    "nll_logits",
    "brier",
    "reliability",
    "ece",
    "adaptive_ece",
    "classwise_ece",
    "probability_reliability",
    "ece_noise_floor",
    "per_class",
    "fit_temperature",
    "roc_auc",
    "macro_auc",
    "precision_recall",
    "summary",
    "LOWER_IS_BETTER",
]

BINNINGS = ("width", "mass")


# ----------------------------------------------------------------------------- input checks

def _labels(labels, n: int | None = None) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {y.dtype} and shape {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"labels must have length {n} (one per row), got {len(y)}")
    return y.astype(np.int64)


def _matrix(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] < 2:
        raise ValueError(f"{what} must be a non-empty (N, K) array with K ≥ 2, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} must be finite (found NaN or inf)")
    return a


def _check(probs, labels, *, simplex: bool = True) -> tuple[np.ndarray, np.ndarray]:
    p = _matrix(probs, "probs")
    y = _labels(labels, len(p))
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in [0, {p.shape[1] - 1}], got range [{y.min()}, {y.max()}]")
    if simplex:
        if (p < -1e-9).any():
            raise ValueError("probs must be non-negative (rows of a probability distribution)")
        worst = float(np.abs(p.sum(1) - 1.0).max())
        if worst > 1e-4:
            raise ValueError(f"rows of probs must sum to 1 (worst row is off by {worst:.2g}); "
                             f"pass probabilities, not logits (see softmax)")
    return p, y


# ----------------------------------------------------------------------------- basic metrics

def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) along the last axis, in float64, stable for large logits."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = _matrix(logits, "logits") / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def confidence(probs) -> np.ndarray:
    """Top-1 confidence max_k p_k of each row."""
    return _matrix(probs, "probs").max(1)


def accuracy(probs, labels) -> float:
    """Fraction of rows whose argmax is the label (works on logits too: argmax is the same)."""
    p, y = _check(probs, labels, simplex=False)
    return float((p.argmax(1) == y).mean())


def nll(probs, labels, floor: float = 0.0) -> float:
    """−mean log p_y in nats; ``floor`` > 0 clamps p_y from below first (otherwise p_y = 0 gives inf)."""
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not 0 <= floor < 1:
        raise ValueError(f"floor must be a real number in [0, 1), got {floor!r}")
    p, y = _check(probs, labels)
    py = p[np.arange(len(y)), y]
    if floor > 0:
        py = np.maximum(py, floor)
    with np.errstate(divide="ignore"):
        return float(-np.log(py).mean())


def nll_logits(logits, labels, temperature: float = 1.0) -> float:
    """−mean log softmax(z / T)_y computed with log-sum-exp (exact where softmax would underflow)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z, y = _check(logits, labels, simplex=False)
    z = z / temperature
    m = z.max(1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(1))
    return float((lse - z[np.arange(len(y)), y]).mean())


def brier(probs, labels) -> float:
    """Multi-class Brier score: mean of Σ_k (p_k − 1[k = y])², in [0, 2]."""
    p, y = _check(probs, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(((p - onehot) ** 2).sum(1).mean())


# ----------------------------------------------------------------------------- reliability / ECE

@dataclass(frozen=True)
class Reliability:
    """The per-bin table a reliability diagram is drawn from.

    ``binning`` is "width" or "mass" (top-1 confidence, see ``reliability``) or "probability"
    (every class probability, see ``probability_reliability``). ``lower``/``upper`` are the bin's
    interval (fixed bins) or the smallest/largest confidence in it (equal-mass); ``count`` the
    number of examples; ``confidence``/``accuracy`` the bin means (NaN for an empty bin);
    ``conf_sum``/``correct_sum`` the sums, so tables of several runs with the same fixed bins can
    be pooled exactly by adding them.
    """

    binning: str
    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    conf_sum: np.ndarray
    correct_sum: np.ndarray

    @property
    def n(self) -> int:
        return int(self.count.sum())

    @property
    def confidence(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.conf_sum / np.maximum(self.count, 1), np.nan)

    @property
    def accuracy(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.correct_sum / np.maximum(self.count, 1), np.nan)

    @property
    def gap(self) -> np.ndarray:
        """Per bin, mean confidence minus accuracy; > 0 is over-confident, < 0 under-confident (NaN if empty)."""
        return self.confidence - self.accuracy

    @property
    def ece(self) -> float:
        """The ECE of the table, ``Σ (count/N)·|acc − conf| = Σ |correct_sum − conf_sum| / N``."""
        return float(np.abs(self.correct_sum - self.conf_sum).sum() / max(self.n, 1))

    def to_dict(self) -> dict:
        """Plain lists (JSON-ready); bin means are derived, so only sums and counts are stored."""
        return {"binning": self.binning, "lower": self.lower.tolist(), "upper": self.upper.tolist(),
                "count": self.count.astype(int).tolist(), "conf_sum": self.conf_sum.tolist(),
                "correct_sum": self.correct_sum.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Reliability":
        return cls(d["binning"], np.asarray(d["lower"], float), np.asarray(d["upper"], float),
                   np.asarray(d["count"], np.int64), np.asarray(d["conf_sum"], float),
                   np.asarray(d["correct_sum"], float))

    def __add__(self, other: "Reliability") -> "Reliability":
        """Pool two tables with the same fixed bins (e.g. the test sets of two seeds)."""
        if (self.binning == "mass" or self.binning != other.binning or len(self.count) != len(other.count)
                or not np.allclose(self.lower, other.lower)):
            raise ValueError("only tables with the same fixed bins can be pooled (not equal-mass ones)")
        return Reliability(self.binning, self.lower, self.upper, self.count + other.count,
                           self.conf_sum + other.conf_sum, self.correct_sum + other.correct_sum)


def reliability(probs, labels, n_bins: int = 15, binning: str = "width") -> Reliability:
    """Bin the top-1 confidences (see the top of this page) and return the per-bin table."""
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p, y = _check(probs, labels)
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    if binning == "width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        # bin m holds (edges[m], edges[m+1]]; confidence 0 is impossible for a top-1 probability
        idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
        count = np.bincount(idx, minlength=n_bins)
        conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
        correct_sum = np.bincount(idx, weights=correct, minlength=n_bins)
        return Reliability("width", edges[:-1], edges[1:], count, conf_sum, correct_sum)
    order = np.argsort(conf, kind="stable")
    groups = [g for g in np.array_split(order, n_bins) if len(g)]
    return Reliability("mass",
                       np.array([conf[g].min() for g in groups]), np.array([conf[g].max() for g in groups]),
                       np.array([len(g) for g in groups], dtype=np.int64),
                       np.array([conf[g].sum() for g in groups]), np.array([correct[g].sum() for g in groups]))


def ece(probs, labels, n_bins: int = 15, binning: str = "width") -> float:
    """Expected calibration error of the top-1 confidence (equal-width bins by default, as the paper)."""
    return reliability(probs, labels, n_bins, binning).ece


def adaptive_ece(probs, labels, n_bins: int = 15) -> float:
    """ECE with equal-mass bins (each bin holds N/M examples)."""
    return ece(probs, labels, n_bins, "mass")


def classwise_ece(probs, labels, n_bins: int = 15) -> float:
    """Class-wise ECE (Kull et al. 2019): for each class k, the equal-width ECE of the probability p_k
    against the event y = k, over all examples; averaged over the K classes. Unlike the top-1 ECE it
    also asks whether the *small* probabilities mean what they say."""
    p, y = _check(probs, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for k in range(p.shape[1]):
        pk, hit = p[:, k], (y == k).astype(np.float64)
        idx = np.clip(np.searchsorted(edges, pk, side="left") - 1, 0, n_bins - 1)
        gap = np.bincount(idx, weights=pk, minlength=n_bins) - np.bincount(idx, weights=hit, minlength=n_bins)
        total += np.abs(gap).sum() / len(y)
    return float(total / p.shape[1])


def probability_reliability(probs, labels, edges) -> Reliability:
    """Reliability of **every** probability, not only the top one: all N·K pairs (i, k) are binned
    by p_ik into the bins (edges[m], edges[m+1]] (the first also holds p = edges[0]), and each bin
    compares the mean p_ik with the frequency of y_i = k. ``confidence`` is then the mean predicted
    probability and ``accuracy`` the observed frequency; use e.g. log-spaced edges to see the small
    probabilities that the top-1 view ignores."""
    p, y = _check(probs, labels)
    edges = np.asarray(edges, dtype=np.float64)
    if (edges.ndim != 1 or len(edges) < 2 or (np.diff(edges) <= 0).any() or edges[0] > p.min()
            or edges[-1] < p.max() - 1e-9):
        raise ValueError("edges must increase strictly and cover every probability")
    hit = np.zeros_like(p)
    hit[np.arange(len(y)), y] = 1.0
    flat, hits = p.ravel(), hit.ravel()
    idx = np.clip(np.searchsorted(edges, flat, side="left") - 1, 0, len(edges) - 2)
    m = len(edges) - 1
    return Reliability("probability", edges[:-1], edges[1:], np.bincount(idx, minlength=m),
                       np.bincount(idx, weights=flat, minlength=m), np.bincount(idx, weights=hits, minlength=m))


def ece_noise_floor(table: Reliability, draws: int = 2000, seed: int = 0) -> float:
    """The ECE a *perfectly calibrated* model would still show on a finite sample with this table's
    bin counts and mean confidences: each bin's number correct is drawn as Binomial(count, confidence)
    and the resulting ECE averaged over ``draws`` (fixed seed, so the value is reproducible). ECEs
    within about this much of each other cannot be told apart at this sample size."""
    if not isinstance(table, Reliability):
        raise ValueError(f"table must be a Reliability (from metrics.reliability), got {type(table).__name__}")
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 1:
        raise ValueError(f"draws must be an integer >= 1, got {draws!r}")
    count = table.count.astype(np.int64)
    conf = np.nan_to_num(table.confidence)
    rng = np.random.default_rng(seed)
    correct = rng.binomial(count, np.clip(conf, 0.0, 1.0), size=(draws, len(count)))
    return float(np.abs(correct - count * conf).sum(1).mean() / max(count.sum(), 1))


def per_class(probs, labels) -> dict[str, np.ndarray]:
    """Calibration per **predicted** class k, over the examples the network assigns to k:
    ``count``, mean top-1 ``confidence``, ``accuracy`` (the precision of k) and ``gap`` =
    confidence − accuracy (> 0: over-confident when it says k). NaN where k is never predicted."""
    p, y = _check(probs, labels)
    k = p.shape[1]
    pred, conf = p.argmax(1), p.max(1)
    count = np.bincount(pred, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.bincount(pred, weights=conf, minlength=k) / count
        a = np.bincount(pred, weights=(pred == y).astype(float), minlength=k) / count
    c, a = np.where(count > 0, c, np.nan), np.where(count > 0, a, np.nan)
    return {"count": count, "confidence": c, "accuracy": a, "gap": c - a}


# ----------------------------------------------------------------------------- ranking and decisions

def roc_auc(scores, positive) -> float:
    """Area under the ROC curve of ``scores`` (N,) for the boolean event ``positive`` (N,):
    the probability that a random positive scores above a random negative, ties counting ½
    (Mann–Whitney: AUC = (R₊ − n₊(n₊ + 1)/2) / (n₊ n₋), R₊ the sum of the positives' mid-ranks).
    Raises ``ValueError`` unless both classes occur."""
    x = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive)
    if x.ndim != 1 or pos.shape != x.shape or not (pos.dtype == bool or np.isin(pos, (0, 1)).all()):
        raise ValueError(f"scores and positive must be 1-D of one length, positive boolean or 0/1; "
                         f"got shapes {x.shape} and {pos.shape}")
    if not np.isfinite(x).all():
        raise ValueError("scores must be finite (contains NaN or inf)")
    pos = pos.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"positive must contain both classes, got {n_pos} positives and {n_neg} negatives")
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    # mid-ranks of tied groups: each group's ranks are averaged
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def macro_auc(probs, labels) -> float:
    """One-vs-rest AUC of each class probability p_k for the event y = k, averaged over the K classes."""
    p, y = _check(probs, labels)
    return float(np.mean([roc_auc(p[:, k], y == k) for k in range(p.shape[1])]))


def precision_recall(predicted, positive) -> tuple[float, float]:
    """(precision, recall) of boolean decisions ``predicted`` for the event ``positive``:
    TP/(TP + FP) and TP/(TP + FN). Precision is NaN when nothing is predicted positive."""
    d, t = np.asarray(predicted, dtype=bool), np.asarray(positive, dtype=bool)
    if d.ndim != 1 or d.shape != t.shape:
        raise ValueError(f"predicted and positive must be 1-D of one length, got {d.shape} and {t.shape}")
    tp = int((d & t).sum())
    precision = tp / int(d.sum()) if d.any() else float("nan")
    return float(precision), tp / max(int(t.sum()), 1)


# ----------------------------------------------------------------------------- temperature scaling

def fit_temperature(logits, labels, bounds: tuple[float, float] = (0.05, 20.0), tol: float = 1e-10) -> float:
    r"""The temperature T > 0 that minimises the NLL of softmax(z / T) on (``logits``, ``labels``).

    With β = 1/T the NLL is convex in β (a log-partition function minus a linear term), so its
    derivative :math:`g(\beta) = \operatorname{mean}_i \bigl( \mathbb{E}_{\operatorname{softmax}(\beta z_i)}[z_i]
    - z_{i, y_i} \bigr)` is non-decreasing and the
    minimiser is where g changes sign: found by bisection on log β over ``bounds``, which always
    converges. Degenerate inputs:

    * all logits of every row equal (no information): the NLL does not depend on T; returns 1.0;
    * the NLL keeps falling as T → 0 (every example correct: sharper is always better) or as
      T → ∞ (the true logit is on average below the others): returns the nearer end of ``bounds``.
    """
    lo, hi = bounds
    if not 0 < lo < 1 < hi < math.inf:
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high < inf, got {bounds}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 <= tol < math.inf:
        raise ValueError(f"tol must be a finite real number >= 0 (width of the log-temperature "
                         f"bracket; 0: to machine precision), got {tol!r}")
    z, y = _check(logits, labels, simplex=False)
    z = z - z.mean(1, keepdims=True)          # softmax is unchanged; keeps exp in range
    if np.ptp(z, axis=1).max() == 0.0:
        return 1.0
    zy = z[np.arange(len(y)), y]

    def grad(log_beta: float) -> float:
        bz = math.exp(log_beta) * z
        bz -= bz.max(1, keepdims=True)
        w = np.exp(bz)
        return float(((w * z).sum(1) / w.sum(1) - zy).mean())

    a, b = math.log(1 / hi), math.log(1 / lo)   # log β range
    if grad(a) >= 0:
        return float(hi)                        # NLL non-decreasing in β over the range: smallest β
    if grad(b) <= 0:
        return float(lo)                        # still decreasing at the largest β
    while b - a > tol:
        m = 0.5 * (a + b)
        if not a < m < b:  # a and b are adjacent floats: no tolerance can be met beyond this
            break
        if grad(m) > 0:
            b = m
        else:
            a = m
    return float(math.exp(-0.5 * (a + b)))


# ----------------------------------------------------------------------------- one call per evaluation

# keys of ``summary`` where smaller is better; the others are maximised (``overconfidence`` is signed)
LOWER_IS_BETTER = ("nll", "brier", "ece", "ece_classwise")


def summary(logits, labels, temperature: float = 1.0, n_bins: int = 15) -> dict[str, float]:
    """Every number the practice chapters report for one set of ``logits`` (N, K) at ``temperature``:
    accuracy, NLL, Brier, ECE (top-1, equal width), class-wise ECE, AUC, precision and recall,
    mean confidence, confidence − accuracy (> 0: over-confident) and the mean logit norm ‖z‖₂
    (of the raw logits, before the temperature).

    K = 2: AUC, precision and recall are those of class 1 (the positive), deciding p₁ ≥ ½;
    precision is None when nothing is predicted positive.
    K > 2: the one-vs-rest AUC averaged over classes; precision and recall of the argmax
    decisions, averaged over classes (NaN precisions — a class never predicted — skipped).
    """
    z, y = _check(logits, labels, simplex=False)
    p = softmax(z, temperature)
    k = p.shape[1]
    if k == 2:
        auc = roc_auc(p[:, 1], y == 1)
        prec, rec = precision_recall(p[:, 1] >= 0.5, y == 1)
    else:
        auc = macro_auc(p, y)
        pred = p.argmax(1)
        pr = np.array([precision_recall(pred == c, y == c) for c in range(k)])
        prec, rec = float(np.nanmean(pr[:, 0])), float(pr[:, 1].mean())
    acc, conf = accuracy(p, y), float(p.max(1).mean())
    return {"accuracy": acc, "nll": nll(p, y, floor=1e-12), "brier": brier(p, y),
            "ece": ece(p, y, n_bins), "ece_classwise": classwise_ece(p, y, n_bins), "auc": auc,
            # None (JSON null), not NaN, where precision is undefined: a stored NaN is not valid JSON
            "precision": None if math.isnan(prec) else float(prec), "recall": float(rec), "confidence": conf,
            "overconfidence": conf - acc, "logit_norm": float(np.linalg.norm(z, axis=1).mean())}
