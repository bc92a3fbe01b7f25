r"""Paired-seed statistics: the interval of a mean difference and the verdicts read from it.

The book runs a control and a treatment with the same seeds, so its comparisons are paired:
for seeds s = 1..n the differences d_s = b_s − a_s (treatment − control) are what vary, and
the claim under test is read off the Student-t confidence interval of their mean,

.. math::

   \bar d \pm t_{1-a/2,\, n-1} \, s_d / \sqrt{n},

with a = 1 − the confidence level and :math:`s_d` the sample (n − 1) standard deviation of the
:math:`d_s`.

``paired_difference`` builds that interval; ``judge_effect``, ``judge_equivalence`` and
``judge_harm`` turn it into one of ``VERDICTS`` for the three kinds of claim the chapters
make (an effect with a sign, no difference beyond a margin, no harm beyond a margin);
``min_detectable`` is the half-width a design of n seeds gives, i.e. what it can resolve.

A chapter judges several claims on the same runs, so its verdicts are corrected for multiplicity:
``holm_family`` gives each judged claim of one experiment's ``claims()`` its Holm (1979)
step-down level (``holm_levels``, from the claim's ``p_value``) and re-reads its verdict off the
interval at confidence 1 − that level (``at_confidence``). A claim tested in a setting that
departs from the paper's premise (its ``departure``) is never "refuted": what would refute it on
a faithful setup reads "not seen at this scale (<the departure>)" (``not_seen``).

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
    "mean_or_nan",
    "t_quantile",
    "paired_difference",
    "min_detectable",
    "judge_effect",
    "judge_equivalence",
    "judge_harm",
    "judge_paired",
    "NOT_SEEN",
    "UNJUDGED",
    "not_seen",
    "at_confidence",
    "p_value",
    "holm_levels",
    "holm",
    "holm_family",
]


def mean_or_nan(values) -> float:
    """The mean of ``values`` (``math.fsum``: exactly rounded), NaN when there are none: a
    summary over seeds that no run reached stays visibly undefined instead of raising."""
    values = list(values)
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise ValueError(f"values must be real numbers, got {values!r}")
    return math.fsum(values) / len(values) if values else math.nan

# "refuted" is kept for a setup faithful to the paper under a met premise; in a regime that cannot
# show the paper's mechanism (fewer classes, another network or augmentation) the same interval
# reads "not seen at this scale", qualified by the departure: see ``not_seen``.
NOT_SEEN = "not seen at this scale"
VERDICTS: tuple[str, ...] = ("reproduced", "refuted", "not resolved", NOT_SEEN)
# verdicts given without reading an interval: no test, so no member of a Holm family
UNJUDGED: tuple[str, ...] = ("premise not met", "not testable here")
ALPHA = 0.05   # every family's error rate: one claim alone is read off its 95 % interval

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
    r"""Half-width :math:`t_{1-a/2,\, n-1} \, \mathrm{sd} / \sqrt{n}` of the paired interval,
    a = 1 − ``confidence``.

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
    r"""Student-t interval of the mean paired difference d_s = b_s − a_s over n seeds.

    Returns a dict: ``"n"``; ``"mean"``, d̄; ``"sd"``, :math:`s_d` (n − 1 denominator);
    ``"half_width"``, :math:`t_{1-a/2,\, n-1} \, s_d / \sqrt{n}` with a = 1 − ``confidence``;
    ``"low"``, d̄ − half_width; ``"high"``, d̄ + half_width; and ``"confidence"``. ``a`` and
    ``b`` hold one value per seed in the same seed order (lists, tuples, 1-D arrays or
    tensors), n ≥ 2.
    """
    xs, ys = _values(a, "a"), _values(b, "b")
    if len(xs) != len(ys):
        raise ValueError(f"a and b must have the same length (paired by seed), got {len(xs)} and {len(ys)}")
    n = _check_n(len(xs))
    c = _check_confidence(confidence)
    d = [y - x for x, y in zip(xs, ys)]
    mean = math.fsum(d) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in d) / (n - 1))
    return _paired_interval(n, mean, sd, c)


def _paired_interval(n: int, mean: float, sd: float, confidence: float) -> dict:
    hw = min_detectable(sd, n, confidence)
    return {"n": n, "mean": mean, "sd": sd, "half_width": hw, "low": mean - hw, "high": mean + hw,
            "confidence": confidence}


def _summary(diff: dict) -> tuple[int, float, float]:
    """(n, mean, sd) of a ``paired_difference`` dict, checked."""
    if not isinstance(diff, dict) or not {"n", "mean", "sd"} <= diff.keys():
        raise ValueError("diff must be the dict returned by paired_difference (keys 'n', 'mean', 'sd')")
    n = _check_n(diff["n"])
    mean = _real(diff["mean"], "diff['mean']", "(finite)")
    sd = _real(diff["sd"], "diff['sd']", ">= 0 (finite)")
    if not (math.isfinite(mean) and math.isfinite(sd) and sd >= 0):
        raise ValueError(f"diff['mean'] and diff['sd'] must be finite (sd >= 0), got {mean!r}, {sd!r}")
    return n, mean, sd


def at_confidence(diff: dict, confidence: float) -> dict:
    r"""The same paired interval (same n, d̄, s_d) at another confidence:
    :math:`\bar d \pm t_{1-a/2,\, n-1} \, s_d / \sqrt{n}` with a = 1 − ``confidence``."""
    n, mean, sd = _summary(diff)
    return _paired_interval(n, mean, sd, _check_confidence(confidence))


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
    """Verdict on "no difference beyond ± ``margin``" (two one-sided tests read off the interval).

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


def not_seen(departure: str) -> str:
    """The verdict "not seen at this scale (<departure>)": what reads "refuted" on a setup that
    departs from the paper's premise, e.g. ``not_seen("5 source classes, not ImageNet's 1 000")``."""
    if not isinstance(departure, str) or not departure.strip():
        raise ValueError(f"departure must name how the setup departs from the paper's, got {departure!r}")
    return f"{NOT_SEEN} ({departure.strip()})"


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


# ----------------------------------------------------------------------------- multiplicity (Holm)

def _t_sf(t: float, df: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.sf(t, df))


def p_value(diff: dict, kind: str, margin: float | None = None) -> float:
    """The p-value of a claim's test, on the scale of the book's two-sided intervals: p ≤ λ exactly
    when the interval at confidence 1 − λ (``at_confidence``) gives a decisive verdict
    ("reproduced", "refuted"), so a claim tested at level λ is read off that interval.

    With se = s_d/√n, T a Student t with n − 1 degrees of freedom and P₂(x) = 2·P(T ≥ abs(d̄ − x)/se)
    the two-sided paired t-test of mean x:

    * "effect": P₂(0), the paired t-test of mean 0 (``scipy.stats.ttest_rel``);
    * "harm" (margin m): P₂(−m), which is 2 × the one-sided test of H₀: mean ≤ −m when d̄ > −m;
    * "equivalence" (margin m): the smaller of TOST, 2·max(P(T ≥ (d̄ + m)/se), P(T ≥ (m − d̄)/se)),
      and, when d̄ lies outside the band, P₂(±m) at the margin it is beyond.

    The one-sided tests are doubled because the book reads every claim off one two-sided interval
    (the lower end of a 95 % interval is a one-sided test at 2.5 %): conservative, never wrong.
    With s_d = 0 every interval is the point d̄, so p is 0 if that point is decisive, else 1.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n, mean, sd = _summary(diff)
    m = _check_margin(margin) if kind != "effect" else 0.0
    se = sd / math.sqrt(n)

    def one_sided(t: float) -> float:      # P(T ≥ t)
        return _t_sf(t, n - 1)

    def two_sided(null: float) -> float:
        if se == 0:
            return 0.0 if mean != null else 1.0
        return min(1.0, 2.0 * one_sided(abs(mean - null) / se))

    if kind == "effect":
        return two_sided(0.0)
    if kind == "harm":
        return 0.0 if se == 0 else two_sided(-m)
    if se == 0:
        return 0.0
    tost = min(1.0, 2.0 * max(one_sided((mean + m) / se), one_sided((m - mean) / se)))
    outside = two_sided(m) if mean > m else two_sided(-m) if mean < -m else 1.0
    return min(tost, outside)


def holm_levels(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    r"""Holm's (1979) step-down levels, one per p-value, in the order given.

    Sort the m p-values ascending, p₍₁₎ ≤ … ≤ p₍ₘ₎ (ties in the order given). The claim ranked i
    is tested at α/(m − i + 1) as long as every claim ranked before it was rejected; at the first
    non-rejection, rank k, the procedure stops, and every later claim keeps the level α/(m − k + 1),
    at which it is not rejected either (its p ≥ p₍ₖ₎ > α/(m − k + 1)):

    .. math::

       \text{level}_{(i)} = \frac{\alpha}{m - \min(i, k) + 1},

       \text{reject}_{(i)} \iff p_{(i)} \le \text{level}_{(i)} \iff i < k.

    This controls the family-wise error rate at α for any dependence between the tests.
    """
    a = _real(alpha, "alpha", "in (0, 1)")
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must be a real number in (0, 1), got {alpha!r}")
    ps = _values(p_values, "p_values")
    if any(not 0.0 <= p <= 1.0 for p in ps):
        raise ValueError(f"p_values must lie in [0, 1], got {list(p_values)!r}")
    m = len(ps)
    levels = [0.0] * m
    stopped_at = None
    for i, j in enumerate(sorted(range(m), key=lambda j: ps[j]), start=1):
        if stopped_at is None and ps[j] > a / (m - i + 1):
            stopped_at = i
        levels[j] = a / (m - (stopped_at or i) + 1)
    return levels


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses Holm's procedure rejects at family-wise level ``alpha`` (``holm_levels``)."""
    return [p <= level for p, level in zip(p_values, holm_levels(p_values, alpha))]


def _rule(claim: dict) -> tuple[str, int | None, float | None]:
    kind = claim.get("kind") or ("effect" if "expected_sign" in claim else None)
    if kind not in KINDS:
        raise ValueError(f"a judged claim must say its kind ({KINDS}; 'expected_sign' alone means 'effect'), "
                         f"got {claim.get('key', claim.get('claim'))!r} with kind {kind!r}")
    return kind, claim.get("expected_sign"), claim.get("margin")


def _read(diff: dict, kind: str, sign, margin, departure) -> str:
    verdict = (judge_effect(diff, sign) if kind == "effect" else judge_harm(diff, margin) if kind == "harm"
               else judge_equivalence(diff, margin))
    return not_seen(departure) if verdict == "refuted" and departure else verdict


def holm_family(claims: Sequence[dict], alpha: float = ALPHA) -> list[dict]:
    """The claims of one experiment (one family), each judged at its Holm level.

    A claim takes part when it was judged from its interval (a ``diff`` and a verdict not in
    ``UNJUDGED``); its ``kind`` ("effect", with ``expected_sign``; "harm" or "equivalence", with
    ``margin``) gives its ``p_value``, ``holm_levels`` its level λ, and its verdict is read off its
    interval at confidence 1 − λ, "refuted" becoming ``not_seen(claim["departure"])`` where the
    claim names a departure. Returns new dicts, in the order given, with

    * ``diff``: the interval at confidence 1 − λ (the one the verdict is read from),
    * ``diff_95`` and ``verdict_95``: the 95 % interval and what it alone would say,
    * ``p``, ``holm_level`` (λ), ``holm_rank`` (i) and ``holm_m`` (m).

    Claims that do not take part are returned unchanged but for ``holm_level`` = None. The result
    depends only on each claim's n, d̄ and s_d, so applying it twice changes nothing.
    """
    out = [dict(c) for c in claims]
    judged = [i for i, c in enumerate(out) if c.get("diff") and c.get("verdict") not in UNJUDGED]
    rules = [_rule(out[i]) for i in judged]
    ps = [p_value(out[i]["diff"], kind, margin) for i, (kind, _, margin) in zip(judged, rules)]
    levels = holm_levels(ps, alpha)
    ranks = {j: r for r, j in enumerate(sorted(range(len(ps)), key=lambda j: ps[j]), start=1)}
    for j, (i, (kind, sign, margin)) in enumerate(zip(judged, rules)):
        c = out[i]
        d95, dl = at_confidence(c["diff"], 1 - alpha), at_confidence(c["diff"], 1 - levels[j])
        departure = c.get("departure")
        c.update(diff=dl, diff_95=d95, p=ps[j], holm_level=levels[j], holm_rank=ranks[j], holm_m=len(ps),
                 verdict=_read(dl, kind, sign, margin, departure),
                 verdict_95=_read(d95, kind, sign, margin, departure))
    for i, c in enumerate(out):
        if i not in judged:
            c.setdefault("holm_level", None)
    return out
