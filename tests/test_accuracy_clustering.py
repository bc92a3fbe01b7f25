"""From runs to verdicts in the accuracy/clustering chapter, on constructed runs with known answers."""

import math

import numpy as np
import pytest
import torch

from lsutils import stats
from lsutils.experiments import accuracy_clustering as ac

GATES = {"train_accuracy": 0.99, "nc1_hard": 0.5, "accuracy_margin": 0.5, "nc1_reached": 1.0}


def _run(arch, eps, seed, *, test_acc, nc1, train_acc=1.0, rho_sign=-1, reach=10):
    k = 4
    dist = np.arange(1, k * k + 1, dtype=float).reshape(k, k)
    dist = dist + dist.T
    np.fill_diagonal(dist, 0)
    conf = (dist.max() - dist) if rho_sign < 0 else dist.copy()   # confusions fall (or rise) with distance
    np.fill_diagonal(conf, 100)
    if rho_sign > 0:                                   # smoothing: classes 0 and 1 no closer than the rest
        dist[0, 1] = dist[1, 0] = dist[0, 1] + 10 + seed
    return {"arch": arch, "eps": eps, "seed": seed,
            "train": {"accuracy": train_acc, "nc1": nc1, "nc2": {"equiangular": nc1 / 10}},
            "val": {"nc1": nc1 * 2, "class_mean_distances": dist.tolist(), "confusion": conf.tolist()},
            "test": {"accuracy": test_acc},
            "curve": [{"epoch": e, "nc1": 3.0 if e < reach else 0.5} for e in range(2, 42, 2)]}


def _runs(train_acc=1.0, hard_nc1=0.4):
    rng = np.random.default_rng(0)
    runs = []
    for seed in (4, 0, 3, 1, 2):   # seeds out of order: pairing must go by seed
        base = 0.88 + 0.01 * rng.standard_normal()
        runs.append(_run("net", 0.0, seed, test_acc=base, nc1=hard_nc1 + 0.01 * seed, train_acc=train_acc,
                         reach=20))
        runs.append(_run("net", 0.1, seed, test_acc=base + 0.001, nc1=hard_nc1 / 2 + 0.01 * seed,
                         rho_sign=1, reach=10))
    return runs


def _claims(runs):
    return {c["key"]: c for c in ac.claims({"runs": runs, "similar_classes": (0, 1)}, {"gates": GATES})}


def test_paired_by_seed():
    a, b = ac.paired(_runs(), "net", lambda r: r["seed"] + r["eps"])
    assert a == [0, 1, 2, 3, 4] and b == pytest.approx([0.1, 1.1, 2.1, 3.1, 4.1])


def test_verdicts_on_constructed_runs():
    c = _claims(_runs())
    assert c["table2"]["verdict"] == "reproduced"                 # +0.1 point, far inside the margin
    assert c["table2"]["diff"]["mean"] == pytest.approx(0.1)
    assert c["fig1_tight"]["verdict"] == "reproduced"             # NC1 lower with smoothing
    assert c["fig1_equidistant"]["verdict"] == "reproduced"
    assert c["guo_faster"]["diff"]["mean"] == pytest.approx(-10) and c["guo_faster"]["censored"] == 0
    # classes 0 and 1 sit at the closeness below without smoothing, farther apart with it
    close = lambda d: d[0, 1] / (d.sum() / 12)   # noqa: E731  (the ratio by hand, K = 4)
    hard = np.array(_run("net", 0.0, 0, test_acc=0.9, nc1=0.4)["val"]["class_mean_distances"])
    assert c["fig1_similar"]["hard"] == pytest.approx(close(hard))
    assert c["fig1_similar"]["smoothed"] > c["fig1_similar"]["hard"]
    assert c["fig1_similar"]["verdict"] == "reproduced"
    # one family: the six claims of the one network, each read at its Holm level
    assert {v["holm_m"] for v in c.values()} == {6} and sorted(v["holm_rank"] for v in c.values()) == [1, 2, 3, 4, 5, 6]
    assert all(v["diff"]["confidence"] == pytest.approx(1 - v["holm_level"]) for v in c.values())


def test_premise_not_met_overrides_the_statistics():
    c = _claims(_runs(train_acc=0.95))
    assert {v["verdict"] for v in c.values()} == {"premise not met"}
    assert not c["table2"]["premise"]["fits"] and c["table2"]["premise"]["min_train_accuracy"] == 0.95
    c = _claims(_runs(hard_nc1=0.8))                              # fits, but no clusters to tighten
    assert c["fig1_tight"]["verdict"] == "premise not met" and not c["fig1_tight"]["premise"]["clusters"]


def test_one_seed_is_not_testable():
    runs = [r for r in _runs() if r["seed"] == 0]
    assert {c["verdict"] for c in _claims(runs).values()} == {"not testable here"}


def test_faster_collapse_not_testable_when_all_runs_start_below_the_threshold():
    runs = _runs()
    for r in runs:
        r["curve"] = [{"epoch": e, "nc1": 0.5} for e in (2, 4)]
    c = _claims(runs)["guo_faster"]
    assert c["verdict"] == "not testable here" and "first measurement" in c["note"]


def test_epochs_to_nc1_and_censoring():
    run = _run("n", 0.0, 0, test_acc=0.9, nc1=0.1, reach=14)
    assert ac.epochs_to_nc1(run, 1.0) == 14
    assert ac.epochs_to_nc1(run, 0.1) == 40          # never reached: the last epoch (censored)
    runs = _runs()
    for r in runs:
        r["curve"] = [{"epoch": e, "nc1": 3.0} for e in (2, 4)]
    assert _claims(runs)["guo_faster"]["censored"] == 10


def test_confusion_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    y, p = torch.randint(0, 5, (200,), generator=g), torch.randint(0, 5, (200,), generator=g)
    want = torch.zeros(5, 5, dtype=torch.long)
    for a, b in zip(y.tolist(), p.tolist()):
        want[a, b] += 1
    assert torch.equal(ac.confusion(p, y, 5), want)


def test_harm_verdict_uses_the_margin():
    diff = stats.paired_difference([88.0, 88.5, 87.9], [87.0, 87.6, 86.8])   # about −1 point
    assert stats.judge_harm(diff, GATES["accuracy_margin"]) == "refuted"
    assert math.isclose(diff["mean"], -1.0, abs_tol=0.05)


def test_chapter_helpers():
    runs = _runs()
    pts = ac.distance_confusion_points(runs)
    d, c = pts["net"][0.0]
    assert len(d) == len(c) == 5 * 6                 # 5 seeds x 6 pairs of 4 classes
    assert ac.similar_pairs_mask(4, (0, 2)) == [False, True, False, False, False, False]
    grouped = ac.by_arch(runs, lambda r: r["seed"])
    assert grouped["net"][0.1] == [0, 1, 2, 3, 4]
