"""Paired-seed intervals and verdicts against tables, closed forms and independent computations."""

import math
import random
import statistics

import numpy as np
import pytest
import torch

from lsutils.stats import (
    VERDICTS,
    judge_effect,
    judge_equivalence,
    judge_harm,
    judge_paired,
    min_detectable,
    paired_difference,
    t_quantile,
)

# ----------------------------------------------------------------------------- t quantile

# t_{0.975, df} from printed tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2), 3 decimals
T975_TABLE = [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (9, 2.262), (10, 2.228),
              (29, 2.045), (30, 2.042), (100, 1.984), (math.inf, 1.960)]


@pytest.mark.parametrize("df,expected", T975_TABLE)
def test_t_quantile_matches_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


def _closed_form(p, df):
    """Quantiles with elementary closed forms: df = 1 (Cauchy), 2 and 4 (Hill 1970)."""
    if df == 1:   # cot(π q), q the smaller tail: tan(π(p − ½)) is ill-conditioned near p = 0, 1
        return math.copysign(1 / math.tan(math.pi * min(p, 1 - p)), p - 0.5)
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    a = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a)
    return math.copysign(2 * math.sqrt(q - 1), p - 0.5)


@pytest.mark.parametrize("df", [1, 2, 4])
@pytest.mark.parametrize("p", [1e-9, 0.01, 0.3, 0.4999, 0.6, 0.75, 0.9, 0.975, 0.995, 1 - 1e-7])
def test_t_quantile_matches_closed_forms(df, p):
    assert t_quantile(p, df) == pytest.approx(_closed_form(p, df), rel=1e-11)


def test_t_quantile_matches_mpmath_cdf():
    # the exact root of the 40-digit CDF, P(T ≤ t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½) for t > 0
    mpmath = pytest.importorskip("mpmath")

    def cdf(t, df):
        t, df = mpmath.mpf(t), mpmath.mpf(df)
        tail = mpmath.betainc(df / 2, mpmath.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
        return 1 - tail if t > 0 else tail

    with mpmath.workdps(40):
        for df in (0.5, 3, 7.5, 29, 300, 3000, 2e4, 1e7):
            for p in (1e-12, 0.2, 0.5000001, 0.7, 0.95, 0.975, 0.9995):
                t = t_quantile(p, df)
                exact = mpmath.findroot(lambda s: cdf(s, df) - mpmath.mpf(p), t)
                assert t == pytest.approx(float(exact), rel=1e-9), (df, p)


def test_t_quantile_shape():
    ps = [0.001, 0.1, 0.4, 0.5, 0.6, 0.9, 0.999]
    for df in (1, 3, 30, 1e4):
        ts = [t_quantile(p, df) for p in ps]
        assert ts == sorted(ts) and ts[3] == 0.0
        assert [t_quantile(1 - p, df) for p in ps] == pytest.approx([-t for t in ts], rel=1e-12)
    # heavier tails for fewer degrees of freedom, the normal quantile in the limit
    ts = [t_quantile(0.975, df) for df in (1, 2, 5, 30, 1e3, 9999.5, 1e4, 1e6)]
    assert ts == sorted(ts, reverse=True)
    assert t_quantile(0.975, math.inf) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), rel=1e-15)
    assert t_quantile(0.975, 1e12) == pytest.approx(t_quantile(0.975, math.inf), rel=1e-11)


@pytest.mark.parametrize("p", [0, 1, -0.1, 1.5, math.nan, True, "0.5", None])
def test_t_quantile_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be a real number in \(0, 1\)"):
        t_quantile(p, 3)


@pytest.mark.parametrize("df", [0, -1, math.nan, -math.inf, True, "3"])
def test_t_quantile_bad_df(df):
    with pytest.raises(ValueError, match=r"df must be a real number > 0"):
        t_quantile(0.975, df)


# ----------------------------------------------------------------------------- paired_difference

def test_paired_difference_hand_case():
    # d = (1, 2, 0, 3): mean 3/2, s² = (¼ + ¼ + 9/4 + 9/4)/3 = 5/3; t_{0.975,3} = 3.182446305284263
    out = paired_difference([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 7.0])
    sd = math.sqrt(5 / 3)
    hw = 3.182446305284263 * sd / 2
    assert out["n"] == 4 and out["confidence"] == 0.95
    assert out["mean"] == pytest.approx(1.5, rel=1e-15)
    assert out["sd"] == pytest.approx(sd, rel=1e-14)
    assert out["half_width"] == pytest.approx(hw, rel=1e-12)
    assert (out["low"], out["high"]) == pytest.approx((1.5 - hw, 1.5 + hw), rel=1e-12)


@pytest.mark.parametrize("seed,n,confidence", [(0, 2, 0.95), (1, 5, 0.9), (2, 12, 0.99)])
def test_paired_difference_matches_statistics_module(seed, n, confidence):
    rng = random.Random(seed)
    a = [rng.gauss(0.9, 0.02) for _ in range(n)]
    b = [x + rng.gauss(0.003, 0.004) for x in a]
    d = [y - x for x, y in zip(a, b)]
    out = paired_difference(a, b, confidence)
    hw = t_quantile(0.5 + confidence / 2, n - 1) * statistics.stdev(d) / math.sqrt(n)
    assert out["mean"] == pytest.approx(statistics.fmean(d), rel=1e-12)
    assert out["sd"] == pytest.approx(statistics.stdev(d), rel=1e-12)
    assert out["half_width"] == pytest.approx(hw, rel=1e-12)
    assert out["half_width"] == pytest.approx(min_detectable(out["sd"], n, confidence), rel=1e-15)
    assert out["low"] == pytest.approx(out["mean"] - hw, rel=1e-12)


def test_paired_difference_uses_the_pairing():
    # a seed effect shared by both arms cancels: the differences are all 0.1, so the interval is a point
    a = [0.50, 0.80, 0.65]
    out = paired_difference(a, [x + 0.1 for x in a])
    assert out["sd"] == pytest.approx(0.0, abs=1e-15)
    assert out["low"] == pytest.approx(0.1, rel=1e-12) and out["high"] == pytest.approx(0.1, rel=1e-12)
    # swapping the arms flips the sign
    swapped = paired_difference([x + 0.1 for x in a], a)
    assert swapped["mean"] == pytest.approx(-out["mean"], rel=1e-15)


def test_paired_difference_coverage():
    # 95 % intervals from normal differences cover the true mean in about 95 % of draws
    rng = np.random.default_rng(0)
    draws = 1500
    d = rng.normal(0.3, 1.0, size=(draws, 4))
    covered = 0
    for row in d:
        out = paired_difference(np.zeros(4), row)
        covered += out["low"] <= 0.3 <= out["high"]
    assert abs(covered / draws - 0.95) < 0.02   # binomial sd ≈ 0.0056


def test_paired_difference_accepts_arrays_and_tensors():
    a, b = [1.0, 2.0, 4.0], [1.5, 2.0, 5.0]
    ref = paired_difference(a, b)
    assert paired_difference(np.array(a), np.array(b)) == ref
    assert paired_difference(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)) == ref
    assert paired_difference(tuple(a), [1, 2, 5.0 - 0.0]) == paired_difference(a, [1, 2, 5.0])


@pytest.mark.parametrize("a,b,match", [
    ([1.0], [2.0], "n must be an integer >= 2"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], "a and b must have the same length"),
    ([1.0, math.nan], [1.0, 2.0], "a must be a sequence of finite real numbers"),
    ([1.0, 2.0], [1.0, math.inf], "b must be a sequence of finite real numbers"),
    ([1.0, True], [1.0, 2.0], "a must be"),
    ("12", [1.0, 2.0], "a must be a sequence"),
    (3.0, [1.0, 2.0], "a must be a sequence"),
    ([1.0, 2.0], [1.0, None], "b must be"),
])
def test_paired_difference_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_difference(a, b)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.5, math.nan, True, "0.95"])
def test_bad_confidence(confidence):
    with pytest.raises(ValueError, match=r"confidence must be a real number in \(0, 1\)"):
        paired_difference([1.0, 2.0], [2.0, 2.5], confidence)
    with pytest.raises(ValueError, match="confidence"):
        min_detectable(1.0, 5, confidence)


# ----------------------------------------------------------------------------- min_detectable

def test_min_detectable_values():
    # n = 10: t_{0.975, 9} = 2.262 (table); n = 2: t_{0.975, 1} = cot(π/40) (Cauchy)
    assert min_detectable(0.5, 10) == pytest.approx(2.262 * 0.5 / math.sqrt(10), abs=5e-4 * 0.5 / math.sqrt(10))
    assert min_detectable(0.5, 10) == pytest.approx(t_quantile(0.975, 9) * 0.5 / math.sqrt(10), rel=1e-15)
    assert min_detectable(0.0, 3) == 0.0
    assert min_detectable(1.0, 2, 0.95) == pytest.approx(1 / math.tan(math.pi / 40) / math.sqrt(2), rel=1e-12)
    assert min_detectable(2.0, 2, 0.9) == pytest.approx(2 / math.tan(math.pi / 20) / math.sqrt(2), rel=1e-12)
    # more seeds resolve smaller effects, faster than 1/√n while t shrinks
    widths = [min_detectable(1.0, n) for n in (2, 3, 5, 10, 30)]
    assert widths == sorted(widths, reverse=True)


@pytest.mark.parametrize("sd,n,match", [(-1.0, 5, "sd must be"), (math.nan, 5, "sd must be"),
                                        (math.inf, 5, "sd must be"), (1.0, 1, "n must be an integer >= 2"),
                                        (1.0, 2.0, "n must be"), (1.0, True, "n must be"), ("1", 5, "sd must be")])
def test_min_detectable_errors(sd, n, match):
    with pytest.raises(ValueError, match=match):
        min_detectable(sd, n)


# ----------------------------------------------------------------------------- verdicts

def _diff(low, high):
    return {"low": low, "high": high}


@pytest.mark.parametrize("low,high,sign,verdict", [
    (0.1, 0.5, 1, "reproduced"),
    (0.1, 0.5, -1, "refuted"),
    (-0.5, -0.1, -1, "reproduced"),
    (-0.5, -0.1, 1, "refuted"),
    (-0.1, 0.5, 1, "not resolved"),
    (-0.1, 0.5, -1, "not resolved"),
    (0.0, 0.5, 1, "not resolved"),     # touching 0 does not exclude it
    (-0.5, 0.0, -1, "not resolved"),
    (0.2, 0.2, 1, "reproduced"),       # zero-width interval away from 0
    (0.0, 0.0, -1, "not resolved"),
])
def test_judge_effect_table(low, high, sign, verdict):
    assert judge_effect(_diff(low, high), sign) == verdict


@pytest.mark.parametrize("low,high,verdict", [
    (-0.05, 0.05, "reproduced"),
    (-0.1, 0.1, "reproduced"),          # the band's edges count as inside
    (-0.11, 0.05, "not resolved"),
    (-0.05, 0.2, "not resolved"),
    (-0.3, 0.3, "not resolved"),        # too wide to say either way
    (0.05, 0.3, "not resolved"),        # straddles +margin
    (0.11, 0.3, "refuted"),
    (-0.4, -0.2, "refuted"),
    (0.1, 0.3, "not resolved"),         # low = margin: still touches the band
])
def test_judge_equivalence_table(low, high, verdict):
    assert judge_equivalence(_diff(low, high), 0.1) == verdict


@pytest.mark.parametrize("low,high,verdict", [
    (-0.05, 0.3, "reproduced"),
    (-0.1, -0.02, "reproduced"),        # worse, but not by more than the margin
    (0.2, 0.4, "reproduced"),
    (-0.15, 0.1, "not resolved"),
    (-0.3, -0.1, "not resolved"),       # high = −margin: not beyond it
    (-0.3, -0.11, "refuted"),
])
def test_judge_harm_table(low, high, verdict):
    assert judge_harm(_diff(low, high), 0.1) == verdict


def test_verdicts_on_a_constructed_study():
    # seeds where the treatment adds exactly 0.02 ± 0.001: an effect, equivalent within 0.05, harmless
    a = [0.90, 0.91, 0.89, 0.92, 0.905]
    b = [x + 0.02 + e for x, e in zip(a, [0.001, -0.001, 0.0005, -0.0005, 0.0])]
    diff = paired_difference(a, b)
    assert judge_effect(diff, 1) == "reproduced" and judge_effect(diff, -1) == "refuted"
    assert judge_equivalence(diff, 0.05) == "reproduced"
    assert judge_equivalence(diff, 0.01) == "refuted"
    assert judge_harm(diff, 0.001) == "reproduced"
    assert judge_harm(paired_difference(b, a), 0.01) == "refuted"
    assert {judge_effect(diff, 1), judge_equivalence(diff, 0.02), judge_harm(diff, 0.1)} <= set(VERDICTS)


@pytest.mark.parametrize("diff,match", [
    ({"low": 0.1}, "diff must be the dict returned by paired_difference"),
    ([0.1, 0.2], "diff must be the dict"),
    (_diff(math.nan, 0.2), "must be finite real numbers"),
    (_diff(0.1, math.inf), "must be finite real numbers"),
    (_diff(0.3, 0.2), "diff must have low <= high"),
])
def test_judge_bad_diff(diff, match):
    for call in (lambda: judge_effect(diff, 1), lambda: judge_equivalence(diff, 0.1), lambda: judge_harm(diff, 0.1)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("sign", [0, 2, -2, True, 1.0, "+1", None])
def test_judge_effect_bad_sign(sign):
    with pytest.raises(ValueError, match="expected_sign must be the integer"):
        judge_effect(_diff(0.1, 0.2), sign)


@pytest.mark.parametrize("margin", [0, -0.1, math.nan, math.inf, True, "0.1"])
def test_judge_bad_margin(margin):
    for call in (judge_equivalence, judge_harm):
        with pytest.raises(ValueError, match="margin must be a"):
            call(_diff(0.1, 0.2), margin)


def test_judge_paired_applies_the_rules_in_order():
    from lsutils.stats import judge_paired, paired_difference

    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 3.9, 5.0]
    assert judge_paired(a[:1], b[:1], True, "effect", 1) == (None, "not testable here")
    diff, verdict = judge_paired(a, b, False, "effect", 1)
    assert verdict == "premise not met" and diff == paired_difference(a, b)
    assert judge_paired(a, b, True, "effect", 1)[1] == "reproduced"
    assert judge_paired(a, b, True, "effect", -1)[1] == "refuted"
    assert judge_paired(b, a, True, "harm", margin=0.1)[1] == "refuted"      # a 1-point loss, margin 0.1
    assert judge_paired(a, a, True, "equivalence", margin=0.1)[1] == "reproduced"


# ----------------------------------------------------------------------------- not seen at this scale

def test_not_seen_names_the_departure_and_is_a_verdict_of_its_own():
    from lsutils.stats import NOT_SEEN, not_seen

    assert NOT_SEEN in VERDICTS and "refuted" in VERDICTS and NOT_SEEN != "refuted"
    assert not_seen(" 5 source classes, not ImageNet's 1 000 ") == \
        "not seen at this scale (5 source classes, not ImageNet's 1 000)"
    for bad in ("", "  ", None, 3):
        with pytest.raises(ValueError, match="departure must name"):
            not_seen(bad)


# ----------------------------------------------------------------------------- p-values and Holm

def _samples(seed, n, shift, noise=1.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    return a, a + shift + noise * rng.normal(0, 0.3, n)


@pytest.mark.parametrize("seed,n,shift", [(0, 3, 0.5), (1, 5, 0.0), (2, 5, -0.2), (3, 8, 0.05), (4, 20, 0.3)])
def test_p_value_against_scipy_ttest_rel(seed, n, shift):
    from scipy.stats import ttest_rel

    from lsutils.stats import p_value

    a, b = _samples(seed, n, shift)
    diff = paired_difference(a, b)
    # effect: the paired t-test of mean 0
    assert p_value(diff, "effect") == pytest.approx(ttest_rel(b, a).pvalue, rel=1e-9)
    # harm: the paired t-test of mean −m, two-sided (2 × the one-sided test when d̄ > −m)
    m = 0.1
    assert p_value(diff, "harm", m) == pytest.approx(ttest_rel(b + m, a).pvalue, rel=1e-9)
    if diff["mean"] > -m:
        assert p_value(diff, "harm", m) == pytest.approx(
            2 * ttest_rel(b + m, a, alternative="greater").pvalue, rel=1e-9)
    # equivalence: TOST (doubled) inside the band, the test at the margin crossed outside it
    for m in (0.05, 0.2, 1.0):
        tost = 2 * max(ttest_rel(b + m, a, alternative="greater").pvalue,
                       ttest_rel(b - m, a, alternative="less").pvalue)
        beyond = (ttest_rel(b - m, a).pvalue if diff["mean"] > m
                  else ttest_rel(b + m, a).pvalue if diff["mean"] < -m else 1.0)
        assert p_value(diff, "equivalence", m) == pytest.approx(min(1.0, tost, beyond), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("kind,sign,margin", [("effect", 1, None), ("effect", -1, None), ("harm", None, 0.1),
                                              ("equivalence", None, 0.3), ("equivalence", None, 0.02)])
def test_p_value_is_where_the_interval_turns_decisive(kind, sign, margin):
    """p ≤ λ exactly when the interval at confidence 1 − λ gives a decisive verdict."""
    from lsutils.stats import at_confidence, p_value

    def read(d):
        return (judge_effect(d, sign) if kind == "effect" else judge_harm(d, margin) if kind == "harm"
                else judge_equivalence(d, margin))

    checked = 0
    for seed in range(40):
        a, b = _samples(seed, 3 + seed % 6, (seed % 7 - 3) / 10)
        diff = paired_difference(a, b)
        p = p_value(diff, kind, margin)
        if not 1e-6 < p < 0.5:
            continue
        assert read(at_confidence(diff, 1 - p * (1 + 1e-7))) in ("reproduced", "refuted")
        assert read(at_confidence(diff, 1 - p * (1 - 1e-7))) == "not resolved"
        checked += 1
    assert checked >= 10


def test_p_value_without_spread():
    from lsutils.stats import p_value

    point = paired_difference([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])          # every d = 0.5: s_d = 0
    assert point["sd"] == 0
    assert p_value(point, "effect") == 0.0 and p_value(point, "harm", 0.1) == 0.0
    assert p_value(point, "equivalence", 0.1) == 0.0 and p_value(point, "equivalence", 1.0) == 0.0
    assert p_value(paired_difference([1.0, 2.0], [1.0, 2.0]), "effect") == 1.0   # d = 0 exactly
    with pytest.raises(ValueError, match="kind must be one of"):
        p_value(point, "bigger")
    with pytest.raises(ValueError, match="margin must be a"):
        p_value(point, "harm")
    with pytest.raises(ValueError, match="diff must be the dict"):
        p_value({"low": 0, "high": 1}, "effect")


def test_at_confidence_recomputes_the_interval():
    from scipy.stats import t as student_t

    from lsutils.stats import at_confidence

    a, b = _samples(7, 6, 0.2)
    diff = paired_difference(a, b)
    for c in (0.9, 0.95, 0.99, 0.9958):
        out = at_confidence(diff, c)
        hw = student_t.ppf(1 - (1 - c) / 2, 5) * np.std(b - a, ddof=1) / math.sqrt(6)
        assert out["half_width"] == pytest.approx(hw, rel=1e-10) and out["confidence"] == c
        assert (out["mean"], out["sd"], out["n"]) == (diff["mean"], diff["sd"], diff["n"])
    assert at_confidence(diff, 0.95) == diff


def _holm_closed_testing(ps, alpha):
    """Holm by its definition as a closed test (Marcus, Peritz & Gabriel 1976) with Bonferroni
    local tests: H_i is rejected iff every intersection S ∋ i has min_{j∈S} p_j ≤ α/|S|."""
    from itertools import combinations

    m = len(ps)
    return [all(min(ps[j] for j in s) <= alpha / len(s)
                for k in range(1, m + 1) for s in combinations(range(m), k) if i in s) for i in range(m)]


def _holm_adjusted(ps):
    """Holm's adjusted p-values: p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎)."""
    order = sorted(range(len(ps)), key=lambda j: ps[j])
    out, running = [0.0] * len(ps), 0.0
    for r, j in enumerate(order):
        running = max(running, min(1.0, (len(ps) - r) * ps[j]))
        out[j] = running
    return out


def test_holm_hand_case():
    from lsutils.stats import holm, holm_levels

    # sorted: 0.005 ≤ 0.05/4 ✓, 0.01 ≤ 0.05/3 ✓, 0.03 > 0.05/2 ✗ — stop: 0.03 and 0.04 stay at 0.025
    ps = [0.01, 0.04, 0.03, 0.005]
    assert holm_levels(ps) == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
    assert holm(ps) == [True, False, False, True]
    assert holm([0.001, 0.04]) == [True, True]                 # 0.001 ≤ 0.025, then 0.04 ≤ 0.05
    assert holm([0.03, 0.04]) == [False, False]                # 0.03 > 0.025: nothing
    assert holm_levels([]) == [] and holm_levels([0.2]) == [0.05]


@pytest.mark.parametrize("seed", range(12))
def test_holm_against_closed_testing_and_adjusted_p_values(seed):
    from lsutils.stats import holm, holm_levels

    rng = np.random.default_rng(seed)
    m = 1 + seed % 7
    ps = (rng.uniform(0, 0.06, m) if seed % 2 else rng.beta(0.3, 2, m)).tolist()
    if seed % 3 == 0 and m > 1:
        ps[1] = ps[0]                                          # a tie
    for alpha in (0.05, 0.1):
        want = _holm_closed_testing(ps, alpha)
        assert holm(ps, alpha) == want
        assert [q <= alpha for q in _holm_adjusted(ps)] == want
        levels = holm_levels(ps, alpha)
        assert all(alpha / m - 1e-15 <= lv <= alpha for lv in levels)


@pytest.mark.parametrize("ps,alpha,match", [([0.1, 1.2], 0.05, r"p_values must lie in \[0, 1\]"),
                                            ([0.1, math.nan], 0.05, "finite real numbers"),
                                            ([0.1], 0, "alpha must be"), ([0.1], 1.0, "alpha must be")])
def test_holm_bad_input(ps, alpha, match):
    from lsutils.stats import holm_levels

    with pytest.raises(ValueError, match=match):
        holm_levels(ps, alpha)


def _claim(key, a, b, kind="effect", **rule):
    diff, verdict = judge_paired(a, b, True, kind, rule.get("expected_sign"), rule.get("margin"))
    return {"key": key, "diff": diff, "verdict": verdict, "kind": kind, **rule}


def test_holm_family_rejudges_each_claim_at_its_level():
    from scipy.stats import t as student_t
    from scipy.stats import ttest_rel

    from lsutils.stats import holm_family

    strong = _claim("strong", [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.6, 3.4, 4.5, 5.55], expected_sign=1)
    # p ≈ 0.03: reproduced at 95 % alone, but ranked last of three in a family whose first two pass
    weak_a, weak_b = [0.0, 0.0, 0.0, 0.0, 0.0], [0.3, 0.1, 0.2, 0.4, 0.05]
    weak = _claim("weak", weak_a, weak_b, expected_sign=1)
    assert weak["verdict"] == "reproduced" and 0.025 < ttest_rel(weak_b, weak_a).pvalue < 0.05
    harm = _claim("harm", [80.0, 81.0, 79.5, 80.2, 80.9], [80.1, 81.2, 79.4, 80.5, 80.8], "harm", margin=0.5)
    skip = {"key": "skip", "diff": strong["diff"], "verdict": "premise not met", "kind": "effect",
            "expected_sign": 1}
    untested = {"key": "none", "diff": None, "verdict": "not testable here"}
    family = [weak, skip, strong, harm, untested]
    out = holm_family(family)
    by = {c["key"]: c for c in out}
    assert [c["key"] for c in out] == [c["key"] for c in family]            # order kept
    assert family[0]["verdict"] == "reproduced" and "holm_level" not in family[0]   # inputs untouched
    assert by["weak"]["holm_m"] == 3 and by["weak"]["holm_rank"] == 3
    assert by["weak"]["p"] == pytest.approx(ttest_rel(weak_b, weak_a).pvalue, rel=1e-9)
    assert by["weak"]["holm_level"] == pytest.approx(0.05)   # the two before it pass: tested at α
    assert by["weak"]["verdict"] == "reproduced"
    assert by["strong"]["verdict"] == "reproduced" and by["harm"]["verdict"] == "reproduced"
    assert by["strong"]["holm_level"] == pytest.approx(0.05 / 3)
    # the interval shown is the one at 1 − level; the 95 % one is kept beside it
    level = by["strong"]["holm_level"]
    d = np.array([1.5, 2.6, 3.4, 4.5, 5.55]) - np.arange(1.0, 6.0)
    hw = student_t.ppf(1 - level / 2, 4) * d.std(ddof=1) / math.sqrt(5)
    assert by["strong"]["diff"]["half_width"] == pytest.approx(hw, rel=1e-10)
    assert by["strong"]["diff"]["confidence"] == pytest.approx(1 - level)
    assert by["strong"]["diff_95"] == strong["diff"] and by["strong"]["verdict_95"] == "reproduced"
    # unjudged claims keep their verdict and take no part
    assert by["skip"]["verdict"] == "premise not met" and by["skip"]["holm_level"] is None
    assert by["none"]["verdict"] == "not testable here" and by["none"]["holm_level"] is None
    assert holm_family(out) == out                                        # idempotent
    assert holm_family([]) == []


def test_holm_family_can_take_a_verdict_back():
    from lsutils.stats import holm_family

    zero = [0.0] * 5
    # p ≈ 0.03 (reproduced alone), ranked second after a strong claim, before a null one
    weak = _claim("weak", zero, [0.3, 0.1, 0.2, 0.4, 0.05], expected_sign=1)
    strong = _claim("strong", zero, [1.0, 1.1, 0.9, 1.05, 0.95], expected_sign=1)
    null = _claim("null", zero, [0.1, -0.1, 0.05, -0.05, 0.0], expected_sign=1)
    out = {c["key"]: c for c in holm_family([weak, strong, null])}
    assert out["weak"]["holm_rank"] == 2 and out["weak"]["holm_level"] == pytest.approx(0.025)
    assert out["weak"]["verdict"] == "not resolved" and out["weak"]["verdict_95"] == "reproduced"
    assert out["null"]["holm_level"] == pytest.approx(0.025)               # stopped at rank 2
    assert out["weak"]["diff"]["low"] < 0 < out["weak"]["diff_95"]["low"]


def test_holm_family_turns_refuted_into_not_seen_where_the_setup_departs():
    from lsutils.stats import holm_family

    zero = [0.0] * 5
    against = [-1.0, -1.1, -0.9, -1.05, -0.95]
    plain = _claim("plain", zero, against, expected_sign=1)
    away = {**_claim("away", zero, against, expected_sign=1), "departure": "5 classes, not 1 000"}
    out = {c["key"]: c for c in holm_family([plain, away])}
    assert out["plain"]["verdict"] == "refuted"
    assert out["away"]["verdict"] == out["away"]["verdict_95"] == "not seen at this scale (5 classes, not 1 000)"
    good = {**_claim("good", zero, [-x for x in against], expected_sign=1), "departure": "5 classes"}
    assert holm_family([good])[0]["verdict"] == "reproduced"               # a departure does not dilute a success


def test_holm_family_needs_each_claims_rule():
    from lsutils.stats import holm_family

    c = _claim("c", [0.0] * 3, [1.0, 1.2, 0.9], expected_sign=1)
    del c["kind"]
    assert holm_family([c])[0]["verdict"] == "reproduced"                  # expected_sign alone: an effect
    del c["expected_sign"]
    with pytest.raises(ValueError, match="must say its kind"):
        holm_family([c])
