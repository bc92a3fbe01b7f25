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
