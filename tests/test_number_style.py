"""One number style across the book: ``report.fmt_number`` and what builds on it (``mean_std``,
``interval``, ``claim_interval``, the verdict boxes), against cases worked by hand; and
``report.restyle_numbers``, which the book's Sphinx extension (_ext/numberstyle.py) applies to
glued numbers, table cells and verdict boxes."""

import math
import re

import numpy as np
import pytest

from lsutils import report
from lsutils.report import MINUS, NBSP, fmt_number, restyle_numbers


@pytest.mark.parametrize("x, kw, text", [
    (0.1234, {}, "0.12"),
    (-0.1234, {}, f"{MINUS}0.12"),                       # a true minus sign, never a hyphen
    (0.1234, {"sign": True}, "+0.12"),
    (-0.1234, {"sign": True}, f"{MINUS}0.12"),
    (-0.0004, {"decimals": 3}, "0.000"),                  # rounds to zero: no sign ...
    (0.0004, {"decimals": 3, "sign": True}, "0.000"),     # ... neither minus nor plus
    (0.0, {"decimals": 3, "sign": True}, "0.000"),
    (-0.0, {"decimals": 2}, "0.00"),
    (-1.8e-10, {"decimals": 5}, "0.00000"),               # E-AURC of a perfect ranking
    (3e-12, {"decimals": 6, "floor": 1e-12}, "0.000000"),  # above the floor: it rounds to zero
    (0.91, {"decimals": 1, "scale": 100}, "91.0"),
    (-0.0123, {"decimals": 2, "scale": 100, "sign": True}, f"{MINUS}1.23"),
    (12, {"decimals": 3}, "12"),                          # an int is an int
    (np.int64(-4), {"decimals": 2}, f"{MINUS}4"),
    (np.float32(0.5), {"decimals": 1}, "0.5"),
    (1.0, {"decimals": None}, "1"),                       # "every 1 epochs" is "every epoch" upstream
    (2.0, {"decimals": None}, "2"),
    (12.8, {"decimals": None}, "12.8"),
    (0.05, {"decimals": None}, "0.05"),
    (1.5e-5, {"decimals": None}, f"1.5{NBSP}×{NBSP}10⁻⁵"),
    (1e-9, {"decimals": None}, "10⁻⁹"),
    (float("nan"), {}, "—"),
    (float("inf"), {"sign": True}, "+∞"),
    (float("-inf"), {}, f"{MINUS}∞"),
])
def test_fmt_number(x, kw, text):
    assert fmt_number(x, **kw) == text


def test_fmt_number_floor_marks_round_off_residues():
    assert fmt_number(-1.8e-10, 12, floor=1e-9) == f"<{NBSP}10⁻⁹"      # below the floor
    assert fmt_number(2e-13, 12, floor=1e-12) == f"<{NBSP}10⁻¹²"
    assert fmt_number(5e-9, 12, floor=1e-9) == "0.000000005000"        # above it: the number
    assert fmt_number(0.0, 6, sign=True, floor=1e-12) == "0.000000"     # exactly zero is zero
    assert fmt_number(2e-5, 2, floor=1e-4) == f"<{NBSP}10⁻⁴"


@pytest.mark.parametrize("bad", [dict(x="0.1"), dict(x=True), dict(x=None), dict(x=1.0, decimals=-1),
                                 dict(x=1.0, decimals=2.0), dict(x=1.0, decimals=13)])
def test_fmt_number_rejects(bad):
    with pytest.raises(ValueError):
        fmt_number(**bad)


def test_no_hyphen_and_no_signed_zero_anywhere_in_a_sweep():
    rng = np.random.default_rng(0)
    for x in np.concatenate([rng.normal(0, 1e-3, 500), rng.normal(0, 10, 500), [0.0, -0.0]]):
        for d in (0, 1, 2, 3, 4):
            for sign in (False, True):
                t = fmt_number(float(x), d, sign=sign)
                assert "-" not in t
                if float(t.replace(MINUS, "-").replace("+", "")) == 0:
                    assert t[0].isdigit(), t
                assert math.isclose(float(t.replace(MINUS, "-")), round(float(x), d), abs_tol=10 ** -d)


def test_mean_std_and_interval_use_it():
    assert report.mean_std([-0.0004, 0.001, -0.001], 3) == f"0.000{NBSP}±{NBSP}0.001"   # not "-0.000 ± ..."
    assert report.mean_std([-0.5, -0.7], 1) == f"{MINUS}0.6{NBSP}±{NBSP}0.1"
    zero = {"mean": 0.0, "low": 0.0, "high": 0.0}
    assert report.interval(zero, 3) == f"0.000 [0.000,{NBSP}0.000]"               # was "+0.000 [+0.000, +0.000]"
    assert report.interval({"mean": -0.0001, "low": -0.3, "high": 0.25}, 2) == \
        f"0.00 [{MINUS}0.30,{NBSP}+0.25]"


def _claim(measure, hard, smoothed, mean, low, high, **kw):
    return {"source": "S", "claim": "c", "measure": measure, "arch": "resnet8", "hard": hard,
            "smoothed": smoothed, "diff": {"mean": mean, "low": low, "high": high, "confidence": 0.95},
            "verdict": "not resolved", **kw}


def test_counted_measures_show_as_counts():
    epochs = _claim("epochs until NC1 ≤ 1", 12.8, 8.8, -4.0, -8.421, 0.421)
    whole = _claim("epochs until NC1 ≤ 1", 2.0, 2.0, 0.0, 0.0, 0.0, verdict="not testable here")
    nll = _claim("test NLL", 0.51234, 0.49876, -0.01358, -0.02, -0.007)
    assert report.claim_decimals(epochs, 3) == 1 and report.claim_decimals(whole, 3) == 0
    assert report.claim_decimals(nll, 3) == 3
    assert report.claim_decimals({**nll, "decimals": 1}, 3) == 1         # a claim may say
    assert report.claim_interval(epochs, 3) == f"{MINUS}4.0 [{MINUS}8.4,{NBSP}+0.4]"
    assert report.claim_interval(whole, 3) == f"0 [0,{NBSP}0]"
    rows = report.claim_rows([epochs, whole, nll], 3)
    assert rows[0][2:5] == ["12.8", "8.8", f"{MINUS}4.0 [{MINUS}8.4,{NBSP}+0.4]"]   # not "12.800 → 8.800"
    assert rows[1][2:5] == ["2", "2", f"0 [0,{NBSP}0]"]                              # not "+0.000 [+0.000, ..."
    assert rows[2][2:4] == ["0.512", "0.499"]
    box = report.claims_admonition("T", [epochs, {**whole, "arch": "mlp"}], digits=3)
    assert "epochs until NC1 ≤ 1: 12.8 → 8.8, Δ" in box and "epochs until NC1 ≤ 1: 2 → 2, Δ 0 [0," in box
    assert not re.search(r"(?<![A-Za-z])-\d", box)                       # no hyphen-minus before a number


@pytest.mark.parametrize("text, styled", [
    ("-0.9097", f"{MINUS}0.9097"),
    ("accuracy -0.461 to +0.004", f"accuracy {MINUS}0.461 to +0.004"),
    ("-0.000 ± 0.002", "0.000 ± 0.002"),
    ("Δ +0.000 [+0.000, +0.000]", "Δ 0.000 [0.000, 0.000]"),
    (f"{MINUS}0.00", "0.00"),
    ("E-AURC = -1.8e-10", f"E-AURC = {MINUS}1.8{NBSP}×{NBSP}10⁻¹⁰"),
    ("gap error 2.4e-05", f"gap error 2.4{NBSP}×{NBSP}10⁻⁵"),
    ("1e-04 for K = 1000", "10⁻⁴ for K = 1000"),
    ("ε = -0.4", f"ε = {MINUS}0.4"),
    ("(-100 by default)", f"({MINUS}100 by default)"),
    # left alone: words, ranges, dates, versions, identifiers, typed decimals
    ("ResNet-56 and MLP 512-512", "ResNet-56 and MLP 512-512"),
    ("2026-11-30, v1.2.3, top-1, x-1, p_1", "2026-11-30, v1.2.3, top-1, x-1, p_1"),
    ("12.800 → 8.800", "12.800 → 8.800"),
    ("0.5.", "0.5."),
])
def test_restyle_numbers(text, styled):
    assert restyle_numbers(text) == styled
    assert restyle_numbers(styled) == styled          # idempotent


def test_restyle_numbers_rejects_non_text():
    with pytest.raises(ValueError):
        restyle_numbers(0.5)


def test_tables_carry_a_caption_and_aligned_columns():
    md = report.numbered_table("Caption  over\ntwo lines.", "tbl-x", ["a", "b"], [[1, fmt_number(-0.5)]], align="lr")
    assert md.startswith("```{table} Caption over two lines.\n:name: tbl-x\n")
    assert "|:---|---:|" in md and f"| 1 | {MINUS}0.50 |" in md
    shown = report.show_table(["a"], [[1]], "A caption.", "tbl-y")
    assert shown.data.startswith("```{table} A caption.\n:name: tbl-y")
    assert not report.show_table(["a"], [[1]]).data.startswith("```")   # the old call still works
    with pytest.raises(ValueError):
        report.show_table(["a"], [[1]], "A caption without a name.")
    with pytest.raises(ValueError):
        report.md_table(["a", "b"], [[1, 2]], align="lx")


def test_percentages_show_two_decimals_in_boxes_as_in_tables():
    acc = _claim("linear probe, other classes (%)", 91.64, 92.088, 0.448, 0.075, 0.821)
    assert report.claim_decimals(acc, 3) == 2
    assert report.claim_rows([acc], 3)[0][2:5] == ["91.64", "92.09", f"+0.45 [+0.07,{NBSP}+0.82]"]


def test_a_caption_with_code_gets_a_fence_that_can_carry_it():
    md = report.numbered_table("`label_smoothing` with weights", "tbl-z", ["a"], [[1]])
    assert md.startswith("~~~{table} `label_smoothing` with weights\n") and md.endswith("\n~~~")


@pytest.mark.parametrize("n, text", [(0, "0"), (999, "999"), (1000, "1\u00a0000"), (45974, "45\u00a0974"),
                                     (-1234567, "−1\u00a0234\u00a0567")])
def test_count_text_groups_thousands_with_a_no_break_space(n, text):
    assert report.count_text(n) == text


@pytest.mark.parametrize("bad", [1.5, "10", True])
def test_count_text_rejects_what_is_not_a_count(bad):
    with pytest.raises(ValueError, match="n"):
        report.count_text(bad)
