r"""Selective classification: accept the most confident predictions, measure the risk of those.

Sort the N test predictions by a confidence score s, highest first. At coverage c = i/N the
classifier answers the top i and abstains on the rest; its *selective risk* is the error rate
among the answered,

.. math::

   \mathrm{risk}(i/N) = \frac{1}{i} \sum_{j \le i} \mathbf{1}[\text{prediction } j \text{ wrong}].

Tied scores have no order: over the ``t`` members of a tie block every order is equally likely,
so the expected number of errors after taking ``m`` of them is m·(errors in block)/t — the
cumulative error count is interpolated linearly across the block (``risk_coverage``).

* AURC — the area under the risk–coverage curve, by the trapezoid rule over the N points
  (i/N, risk(i/N)), i = 1..N (Geifman et al. 2019; Xia et al. 2025 report it in %).
* E-AURC = AURC − AURC*, where AURC* = r + (1 − r)·ln(1 − r) is the area a perfect ranking
  (every error after every correct prediction) reaches at full-coverage error r, in the
  continuous limit (Geifman et al. 2019): what is left is the ranking's fault, not the
  classifier's accuracy.
* ``max_logit_pnorm`` — Xia et al.'s post-hoc score max_k z_k / ‖z‖_p (optionally of the
  centred logits z − mean z), p chosen on held-out data by ``choose_p``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["risk_coverage", "aurc", "optimal_aurc", "e_aurc", "risk_at_coverage", "max_softmax",
           "max_logit_pnorm", "choose_p"]


def _scores_and_errors(scores, correct) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores.detach().cpu().numpy() if hasattr(scores, "detach") else scores, dtype=np.float64)
    c = np.asarray(correct.detach().cpu().numpy() if hasattr(correct, "detach") else correct)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"scores must be a non-empty 1-D array (one confidence per prediction), got shape {s.shape}")
    if c.shape != s.shape or not (c.dtype == bool or np.isin(c, (0, 1)).all()):
        raise ValueError(f"correct must be a boolean (or 0/1) array of shape {s.shape}, got {c.dtype} {c.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return s, ~c.astype(bool)


def risk_coverage(scores, correct) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, risk) at i/N, i = 1..N: float64 arrays of length N, ties interpolated."""
    s, wrong = _scores_and_errors(scores, correct)
    order = np.argsort(-s, kind="stable")
    s, wrong = s[order], wrong[order].astype(np.float64)
    cum = np.cumsum(wrong)
    # tie blocks: [start, end) of equal scores; within one, errors accrue at the block's mean rate
    change = np.flatnonzero(np.diff(s)) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(s)]
    before = np.r_[0.0, cum][starts]
    rate = (cum[ends - 1] - before) / (ends - starts)
    block = np.repeat(np.arange(len(starts)), ends - starts)
    taken = np.arange(len(s)) - starts[block] + 1
    expected = before[block] + rate[block] * taken
    i = np.arange(1, len(s) + 1)
    return i / len(s), expected / i


def aurc(scores, correct) -> float:
    """Area under the risk–coverage curve (trapezoid rule over i/N, i = 1..N), in [0, 1]."""
    cov, risk = risk_coverage(scores, correct)
    if len(cov) == 1:
        return float(risk[0])
    return float(np.trapezoid(risk, cov) if hasattr(np, "trapezoid") else np.trapz(risk, cov))


def optimal_aurc(error_rate: float) -> float:
    """AURC* = r + (1 − r)·ln(1 − r): a perfect ranking's area at full-coverage error r ∈ [0, 1]."""
    if isinstance(error_rate, bool) or not isinstance(error_rate, numbers.Real) or not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate must be a real number in [0, 1], got {error_rate!r}")
    r = float(error_rate)
    return r + (1 - r) * math.log1p(-r) if r < 1 else 1.0


def e_aurc(scores, correct) -> float:
    """Excess AURC: ``aurc`` − ``optimal_aurc`` of the full-coverage error rate."""
    _, wrong = _scores_and_errors(scores, correct)
    return aurc(scores, correct) - optimal_aurc(float(wrong.mean()))


def risk_at_coverage(scores, correct, coverage: float) -> float:
    """Selective risk when the ⌈coverage·N⌉ most confident predictions are answered."""
    if isinstance(coverage, bool) or not isinstance(coverage, numbers.Real) or not 0 < coverage <= 1:
        raise ValueError(f"coverage must be a real number in (0, 1], got {coverage!r}")
    _, risk = risk_coverage(scores, correct)
    return float(risk[max(1, math.ceil(coverage * len(risk) - 1e-9)) - 1])


def _logits(logits) -> np.ndarray:
    z = np.asarray(logits.detach().cpu().numpy() if hasattr(logits, "detach") else logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) == 0:
        raise ValueError(f"logits must be a non-empty 2-D array (N, K ≥ 2), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    return z


def max_softmax(logits) -> np.ndarray:
    """max_k softmax(z)_k, computed in float64 (fewer ties at the top than float32)."""
    z = _logits(logits)
    z = z - z.max(1, keepdims=True)
    return 1.0 / np.exp(z).sum(1)


def max_logit_pnorm(logits, p: float, centre: bool = False) -> np.ndarray:
    """max_k z_k / ‖z‖_p per row (z − mean_k z_k first with ``centre``); p ≥ 1 or ``math.inf``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 1:
        raise ValueError(f"p must be a real number >= 1 (math.inf allowed), got {p!r}")
    z = _logits(logits)
    if centre:
        z = z - z.mean(1, keepdims=True)
    norm = np.linalg.norm(z, ord=p, axis=1)
    if (norm == 0).any():
        raise ValueError("a row of logits has norm 0 (all logits 0, or all equal with centre=True)")
    return z.max(1) / norm


def choose_p(logits, correct, ps=tuple(range(1, 11)), centre: bool = False) -> float:
    """The p of ``ps`` whose ``max_logit_pnorm`` score has the lowest AURC on these (held-out)
    predictions; the smallest such p on ties."""
    ps = list(ps)
    if not ps:
        raise ValueError("ps must name at least one p >= 1")
    areas = [aurc(max_logit_pnorm(logits, p, centre), correct) for p in ps]
    return ps[int(np.argmin(areas))]
