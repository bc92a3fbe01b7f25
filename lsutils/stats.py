"""Paired-seed statistics: the interval of a mean difference and the verdicts read from it.

The book runs a control and a treatment with the same seeds, so its comparisons are paired:
for seeds s = 1..n the differences d_s = b_s − a_s (treatment − control) are what vary, and
the claim under test is read off the Student-t confidence interval of their mean,

    d̄ ± t_{1−α/2, n−1} · s_d / √n,   s_d the sample (n − 1) standard deviation of the d_s.

``paired_difference`` builds that interval; ``judge_effect``, ``judge_equivalence`` and
``judge_harm`` turn it into one of ``VERDICTS`` for the three kinds of claim the chapters
make (an effect with a sign, no difference beyond a margin, no harm beyond a margin);
``min_detectable`` is the half-width a design of n seeds gives, i.e. what it can resolve.

The t quantile is SciPy's (``scipy.stats.t.ppf``), checked in the tests against closed forms
and the printed table.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from statistics import NormalDist

__all__ = [
    "VERDICTS",
    "t_quantile",
    "paired_difference",
    "min_detectable",
    "judge_effect",
    "judge_equivalence",
    "judge_harm",
    "judge_paired",
]

VERDICTS: tuple[str, ...] = ("reproduced", "refuted", "not resolved")

# ----------------------------------------------------------------------------- validation

def _real(x: object, name: str, allowed: str) -> float:
    # bool is an Integral: True would silently read as 1.
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a real number {allowed}, got {x!r}")
    return float(x)


def _check_confidence(confidence: float) -> float:
    c = _real(confidence, "confidence", "in (0, 1)")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be a real number in (0, 1), got {confidence!r}")
    return c


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return int(n)


def _check_margin(margin: float) -> float:
    m = _real(margin, "margin", "> 0")
    if not (math.isfinite(m) and m > 0):
        raise ValueError(f"margin must be a finite real number > 0, got {margin!r}")
    return m


def _values(x: Sequence[float], name: str) -> list[float]:
    # numpy arrays and torch tensors iterate into 0-d arrays, not numbers: go through tolist()
    items = x.tolist() if hasattr(x, "tolist") else x
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ValueError(f"{name} must be a sequence of finite real numbers (one per seed), got {type(x).__name__}")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a sequence of finite real numbers (one per seed), got element {v!r}")
        out.append(float(v))
    return out


def _interval(diff: dict) -> tuple[float, float]:
    if not isinstance(diff, dict) or not {"low", "high"} <= diff.keys():
        raise ValueError("diff must be the dict returned by paired_difference (keys 'low', 'high')")
    low, high = diff["low"], diff["high"]
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"diff['low'] and diff['high'] must be finite real numbers, got {low!r}, {high!r}")
    if low > high:
        raise ValueError(f"diff must have low <= high, got low = {low!r} > high = {high!r}")
    return float(low), float(high)


# ----------------------------------------------------------------------------- t quantile

def t_quantile(p: float, df: float) -> float:
    """Return t with P(T ≤ t) = p for Student's t with ``df`` degrees of freedom (any real
    df > 0; ``math.inf`` gives the normal quantile), by ``scipy.stats.t.ppf``."""
    from scipy.stats import t as student_t

    p = _real(p, "p", "in (0, 1)")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be a real number in (0, 1), got {p!r}")
    df = _real(df, "df", "> 0 (math.inf allowed)")
    if not df > 0:  # also rejects NaN
        raise ValueError(f"df must be a real number > 0 (math.inf allowed), got {df!r}")
    if df == math.inf:
        return NormalDist().inv_cdf(p)
    return float(student_t.ppf(p, df))


# ----------------------------------------------------------------------------- intervals

def min_detectable(sd: float, n: int, confidence: float = 0.95) -> float:
    """Half-width t_{1−α/2, n−1} · sd / √n of the paired interval, α = 1 − ``confidence``.

    With differences of standard deviation ``sd`` over ``n`` seeds, a mean difference smaller
    than this cannot exclude 0, so it is the smallest effect the design can resolve.
    """
    s = _real(sd, "sd", ">= 0")
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"sd must be a finite real number >= 0, got {sd!r}")
    n = _check_n(n)
    c = _check_confidence(confidence)
    return t_quantile(0.5 + c / 2.0, n - 1) * s / math.sqrt(n)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Student-t interval of the mean paired difference d_s = b_s − a_s over n seeds.

    Returns {"n", "mean": d̄, "sd": s_d (n − 1 denominator), "half_width": t_{1−α/2, n−1}·s_d/√n,
    "low": d̄ − half_width, "high": d̄ + half_width, "confidence"}. ``a`` and ``b`` hold one
    value per seed in the same seed order (lists, tuples, 1-D arrays or tensors), n ≥ 2.
    """
    xs, ys = _values(a, "a"), _values(b, "b")
    if len(xs) != len(ys):
        raise ValueError(f"a and b must have the same length (paired by seed), got {len(xs)} and {len(ys)}")
    n = _check_n(len(xs))
    c = _check_confidence(confidence)
    d = [y - x for x, y in zip(xs, ys)]
    mean = math.fsum(d) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in d) / (n - 1))
    hw = min_detectable(sd, n, c)
    return {"n": n, "mean": mean, "sd": sd, "half_width": hw, "low": mean - hw, "high": mean + hw,
            "confidence": c}


# ----------------------------------------------------------------------------- verdicts

def judge_effect(diff: dict, expected_sign: int) -> str:
    """Verdict on "the treatment moves the metric in direction ``expected_sign``" (+1 or −1).

    "reproduced" if the interval excludes 0 on the expected side (low > 0 for +1, high < 0
    for −1), "refuted" if it excludes 0 on the opposite side, else "not resolved". An interval
    touching 0 does not exclude it.
    """
    low, high = _interval(diff)
    if isinstance(expected_sign, bool) or not isinstance(expected_sign, numbers.Integral) \
            or expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be the integer +1 or -1, got {expected_sign!r}")
    side = 1 if low > 0 else -1 if high < 0 else 0
    return "not resolved" if side == 0 else "reproduced" if side == expected_sign else "refuted"


def judge_equivalence(diff: dict, margin: float) -> str:
    """Verdict on "no difference beyond ±``margin``" (two one-sided tests read off the interval).

    "reproduced" if −margin ≤ low and high ≤ margin (the interval lies inside the band),
    "refuted" if low > margin or high < −margin (it lies wholly outside), else "not resolved".
    With the 95 % interval of ``paired_difference`` this is stricter than the usual TOST at
    α = 0.05, which uses the 90 % interval.
    """
    low, high = _interval(diff)
    m = _check_margin(margin)
    if -m <= low and high <= m:
        return "reproduced"
    if low > m or high < -m:
        return "refuted"
    return "not resolved"


def judge_harm(diff: dict, margin: float) -> str:
    """Verdict on "the treatment does not lower the metric by more than ``margin``".

    diff is treatment − control, so harm is negative: "reproduced" if low ≥ −margin,
    "refuted" if high < −margin (even the most favourable end shows harm beyond the margin),
    else "not resolved". For a lower-is-better metric pass the difference control − treatment.
    """
    low, high = _interval(diff)
    m = _check_margin(margin)
    if low >= -m:
        return "reproduced"
    if high < -m:
        return "refuted"
    return "not resolved"


KINDS = ("effect", "harm", "equivalence")


def judge_paired(a: Sequence[float], b: Sequence[float], premise_met: bool, kind: str,
                 expected_sign: int | None = None, margin: float | None = None) -> tuple[dict | None, str]:
    """The paired interval of b − a and the claim's verdict, in the book's order of rules:
    "not testable here" with fewer than two pairs (interval None), "premise not met" when the
    premise failed (the interval still returned, to be shown), else ``judge_effect`` (``kind``
    "effect", with ``expected_sign``), ``judge_harm`` ("harm", with ``margin``) or
    ``judge_equivalence`` ("equivalence", with ``margin``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if len(a) < 2 or len(b) < 2:
        return None, "not testable here"
    diff = paired_difference(a, b)
    if not premise_met:
        return diff, "premise not met"
    if kind == "effect":
        return diff, judge_effect(diff, expected_sign)
    return diff, (judge_harm if kind == "harm" else judge_equivalence)(diff, margin)
