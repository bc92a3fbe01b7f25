"""The calibration experiment's bookkeeping: what a run reports from its logits, and that every choice of α
is made on the validation split only."""

import numpy as np
import pytest

from lsutils import metrics
from lsutils.experiments import calibration


def _logits(n, seed, sharpen):
    g = np.random.default_rng(seed)
    p = g.dirichlet(np.full(10, 0.3), size=n)
    y = (p.cumsum(1) > g.random((n, 1))).argmax(1)
    return sharpen * np.log(np.maximum(p, 1e-300)), y


def test_evaluate_fits_t_on_validation_and_applies_it_to_test():
    zv, yv = _logits(20_000, 0, 2.0)
    zt, yt = _logits(5_000, 1, 2.0)
    out = calibration.evaluate(zv, yv, zt, yt, eps=0.0)
    assert out["temperature"] == pytest.approx(metrics.fit_temperature(zv, yv))
    assert out["temperature"] == pytest.approx(2.0, rel=0.05)
    assert out["test"]["ts"]["ece"] == pytest.approx(metrics.ece(metrics.softmax(zt, out["temperature"]), yt))
    assert out["test"]["t1"]["ece"] > 0.05 > out["test"]["ts"]["ece"]
    table = metrics.Reliability.from_dict(out["test"]["t1"]["reliability"])
    assert table.n == 5_000 and table.ece == pytest.approx(out["test"]["t1"]["ece"])
    assert sum(out["test"]["t1"]["per_class"]["count"]) == 5_000
    assert "unsmoothed" not in out["test"]


def test_unsmoothing_a_smoothed_optimum_gives_one_hot():
    # logits of the smoothed optimum p = q for the predicted class: unsmoothing returns the one-hot vector
    k, eps = 10, 0.1
    y = np.arange(20) % k
    q = np.full((20, k), eps / k)
    q[np.arange(20), y] += 1 - eps
    out = calibration.evaluate(np.log(q), y, np.log(q), y, eps=eps)
    assert out["test"]["unsmoothed"]["confidence"] == pytest.approx(1.0)
    assert out["test"]["unsmoothed"]["ece"] == pytest.approx(0.0, abs=1e-9)
    assert out["test"]["t1"]["confidence"] == pytest.approx(1 - eps + eps / k)
    assert out["test"]["unsmoothed"]["true_class_zeroed"] == 0.0


def _run(setting, eps, seed, val_ece, test_ece):
    block = {m: 0.5 for m in calibration.SUMMARY_METRICS}
    return {"setting": setting, "eps": eps, "seed": seed, "temperature": 1.5,
            "val": {v: {**block, "ece": val_ece} for v in ("t1", "ts", "unsmoothed")},
            "test": {v: {**block, "ece": test_ece} for v in ("t1", "ts", "unsmoothed")}}


def test_select_uses_validation_only():
    # α = 0.1 is best on validation, α = 0.2 would be best on test: the choice must be 0.1
    runs = []
    for seed in (0, 1):
        runs += [_run("s", 0.0, seed, 0.09, 0.09), _run("s", 0.1, seed, 0.02, 0.05),
                 _run("s", 0.2, seed, 0.04, 0.01)]
    out = calibration.select(runs, "s", (0, 1))
    assert out["ls"]["eps"] == 0.1 and out["ls"]["test"]["ece"] == [0.05, 0.05]
    assert out["baseline"]["eps"] == 0.0 and out["baseline"]["temperature"] == [1.0, 1.0]
    assert out["ts"]["temperature"] == [1.5, 1.5]
    assert set(out["ls"]["val_ece_by_eps"]) == {0.1, 0.2}           # smoothing methods choose among α > 0


def _base_run(setting, eps, seed, *, conf, acc, train_acc=1.0):
    view = {"confidence": conf, "accuracy": acc}
    return {"setting": setting, "eps": eps, "seed": seed, "train": {"accuracy": train_acc},
            "test": {"t1": view}}


def _selection(base, ts, ls):
    return {"baseline": {"test": {"ece": base}}, "ts": {"test": {"ece": ts}},
            "ls": {"eps": 0.1, "test": {"ece": ls}}}


CONFIG = {"settings": [{"name": "s"}], "gates": {"train_accuracy": 0.99, "share": 2 / 3}}


def test_table3_claim_rule_and_premise():
    from lsutils.experiments import calibration as cal

    runs = [_base_run("s", 0.0, i, conf=0.95 + 0.01 * i, acc=0.90) for i in range(5)]
    base, ts = [0.10, 0.11, 0.09, 0.10, 0.12], [0.02, 0.02, 0.03, 0.02, 0.02]
    good = [0.03, 0.03, 0.03, 0.04, 0.03]           # removes ~90 % of TS's reduction
    bad = [0.08, 0.09, 0.08, 0.09, 0.10]            # removes ~25 %
    for ls, verdict in ((good, "reproduced"), (bad, "refuted")):
        c, = cal.table3_claims({"runs": runs, "selection": {"s": _selection(base, ts, ls)}}, CONFIG)
        assert c["verdict"] == verdict and c["premise"]["overconfident"]
    under = [_base_run("s", 0.0, i, conf=0.85, acc=0.90 + 0.001 * i) for i in range(5)]
    c, = cal.table3_claims({"runs": under, "selection": {"s": _selection(base, ts, good)}}, CONFIG)
    assert c["verdict"] == "premise not met" and not c["premise"]["overconfident"]
    unfit = [_base_run("s", 0.0, i, conf=0.95, acc=0.90 + 0.001 * i, train_acc=0.9) for i in range(5)]
    c, = cal.table3_claims({"runs": unfit, "selection": {"s": _selection(base, ts, good)}}, CONFIG)
    assert c["verdict"] == "premise not met" and not c["premise"]["fits"]


def _reliability_run(setting, eps, seed, view, overstate):
    """A run whose class probabilities of 0.01 come true with frequency 0.01 / overstate."""
    from lsutils import metrics

    rng = np.random.default_rng(seed)
    n = 20_000
    probs = np.tile([0.99, 0.01], (n, 1))
    labels = np.where(rng.random(n) < 0.01 / overstate, 1, 0)
    table = metrics.probability_reliability(probs, labels, calibration.PROB_EDGES).to_dict()
    return {"setting": setting, "eps": eps, "seed": seed, "test": {view: {"probability_reliability": table}}}


def test_the_small_probability_extension_reads_every_seed():
    """Holds only when every seed's smoothed ratio tops every temperature-scaled one and the
    class-wise ECE does too; the ratio is mean probability over frequency (independently: 0.01
    over the drawn frequency)."""
    seeds = (0, 1, 2)
    config = {"settings": [{"name": "s"}], "seeds": list(seeds)}
    for ls_over, cw_ls, verdict in ((2.0, [0.02] * 3, "holds"), (1.0, [0.02] * 3, "does not hold"),
                                    (2.0, [0.005] * 3, "does not hold")):
        runs = [_reliability_run("s", 0.1, s, "t1", ls_over) for s in seeds]
        runs += [_reliability_run("s", 0.0, s, "ts", 1.0) for s in seeds]
        sel = {"ls": {"eps": 0.1, "test": {"ece_classwise": cw_ls}}, "ts": {"test": {"ece_classwise": [0.01] * 3}}}
        row = calibration._small_probabilities({"runs": runs, "selection": {"s": sel}}, config, "s")
        assert row["verdict"] == verdict, (ls_over, cw_ls)
    ratios = calibration.small_probability_ratios(runs, "s", 0.1, "t1", seeds)
    assert ratios == pytest.approx([2.0] * 3, rel=0.25)
