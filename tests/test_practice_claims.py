"""The verdict rules of the label-noise and myths chapters (their experiments' claims()), on
hand-made runs whose answers are known (no training)."""

import pytest

from lsutils.experiments import label_noise, myths

# --------------------------------------------------------------------------------- label noise

RATES, EPS = (0.0, 0.1, 0.4), (-0.2, 0.0, 0.2)
CFG = {"noise_rates": list(RATES), "eps_values": list(EPS)}


def _noise(acc, diverged=()):
    """A label-noise result whose clean test accuracy is acc(protocol, η, ε) (a fraction; two
    seeds ± 0.001 around it), the cells in ``diverged`` diverged in every seed."""
    runs = []
    for p in ("direct", "warmup"):
        for r in RATES:
            for e in EPS:
                for s in (0, 1):
                    run = {"protocol": p, "noise": r, "eps": e, "seed": s, "diverged": (p, r, e) in diverged}
                    if not run["diverged"]:
                        run["test"] = {"accuracy": acc(p, r, e) + (0.001 if s else -0.001)}
                    runs.append(run)
    return {"runs": runs}


def _noise_claims(full, small):
    got = label_noise.claims({"label_noise": full, "label_noise_small": small},
                             {"label_noise": CFG, "label_noise_small": CFG})
    return {c["key"]: c for c in got}


def _gain(points):
    """Positive ε above hard targets by ``points`` (%) at every η, negative ε far below."""
    return lambda p, r, e: 0.8 + (points / 100 if e > 0 else -0.1 if e < 0 else 0.0)


def test_tolerance_holds_where_the_small_setting_gains_more_than_half_a_point_everywhere():
    got = _noise_claims(_noise(_gain(0.0)), _noise(_gain(0.8)))["tolerance"]
    assert got["verdict"] == "holds where the network memorises"
    assert got["wins"] == {"full": 0, "small": 2} and got["gains"]["small"] == pytest.approx(0.8)


def test_tolerance_is_partly_on_small_gains_and_fails_without_any():
    assert _noise_claims(_noise(_gain(0.3)), _noise(_gain(0.3)))["tolerance"]["verdict"] == "partly"
    assert _noise_claims(_noise(_gain(-0.5)), _noise(_gain(-0.5)))["tolerance"]["verdict"] == "does not hold"


def test_tolerance_needs_every_noise_rate_and_ignores_diverged_seeds():
    # the small setting gains at η = 0.1 only: partly; a diverged positive ε is no win
    def acc(p, r, e):
        return 0.8 + (0.01 if e > 0 and r == 0.1 else 0.0)
    assert _noise_claims(_noise(acc), _noise(acc))["tolerance"]["verdict"] == "partly"
    gone = {("direct", r, 0.2) for r in RATES}
    assert _noise_claims(_noise(acc, gone), _noise(acc, gone))["tolerance"]["verdict"] == "does not hold"


def _wei(neg_high, neg_low):
    """Warm-up accuracy: negative ε beats positive at η = 0.4 if ``neg_high``, at η = 0.1 if
    ``neg_low``."""
    def acc(p, r, e):
        if e == 0 or r == 0.0:
            return 0.8
        neg_wins = neg_high if r == 0.4 else neg_low
        return 0.8 + (0.02 if (e < 0) == neg_wins else 0.01)
    return acc


@pytest.mark.parametrize("neg_high, neg_low, verdict", [
    (True, False, "holds"),            # negative at high noise, positive at low: Wei et al.
    (False, True, "does not hold"),    # the other way round in both settings
    (True, True, "partly"),            # right at high noise, wrong at low
])
def test_wei_rule(neg_high, neg_low, verdict):
    got = _noise_claims(_noise(_wei(neg_high, neg_low)), _noise(_wei(neg_high, neg_low)))["wei"]
    assert got["verdict"] == verdict
    assert got["high"] == {"full": neg_high, "small": neg_high}
    assert got["low"] == {"full": not neg_low, "small": not neg_low}


def test_wei_counts_an_all_diverged_negative_side():
    # every negative ε diverged: no win at high noise, no loss at low noise
    gone = {("warmup", r, -0.2) for r in RATES}
    got = _noise_claims(_noise(_wei(True, False), gone), _noise(_wei(True, False)))["wei"]
    assert got["high"] == {"full": False, "small": True} and got["low"] == {"full": True, "small": True}
    assert got["verdict"] == "partly"


def test_label_noise_claims_need_both_experiments():
    with pytest.raises(ValueError, match="label_noise_small"):
        label_noise.claims({"label_noise": _noise(_gain(0.0))}, {"label_noise": CFG})
    with pytest.raises(ValueError, match="protocol"):
        label_noise.accuracy([], "direct", 0.1, 0.0)
    assert label_noise.best_eps(_noise(_gain(1.0))["runs"], "direct", 0.1, [-0.2, 0.2]) == 0.2
    assert label_noise.best_eps(_noise(_gain(1.0), {("direct", 0.1, 0.2)})["runs"], "direct", 0.1, [0.2]) is None


def test_every_label_noise_claim_has_a_section():
    got = _noise_claims(_noise(_gain(0.0)), _noise(_gain(0.8)))
    assert set(got) == set(label_noise.SECTIONS)


# --------------------------------------------------------------------------------------- myths

SWEEP = (0.0, 0.1, 0.5, 0.9)
MCFG = {"dataset": "fashion_mnist", "sweep_eps": list(SWEEP), "sweep_seeds": [0, 1], "churn_eps": 0.1,
        "churn_seeds": [0, 1], "convention_eps": [0.2, 0.5]}


def _myths(acc=lambda e: 0.87, conf=lambda e: 0.9 - 0.7 * e, nll=lambda e: 0.35 + e, others_conf=-0.02,
           churn=27):
    """A myths result: test accuracy, confidence and NLL as functions of ε (uniform convention),
    the others convention ``others_conf`` less confident, ``churn`` same-seed flips of 1 000."""
    runs = []
    for conv in ("uniform", "others"):
        for e in (*SWEEP, 0.2):
            for s in (0, 1):
                shift = others_conf if conv == "others" else 0.0
                runs.append({"convention": conv, "eps": e, "seed": s,
                             "test": {"accuracy": acc(e), "mean_confidence": conf(e) + shift, "nll": nll(e)}})
    pair = {"a": "x", "b": "y", "differ": churn}
    return {"runs": runs, "churn": {"n_test": 1000, "same_seed_eps": [pair],
                                    "seed_only_eps0": [{"a": "x", "b": "y", "differ": 28}]}}


def _myth_claims(**kw):
    return {c["key"]: c for c in myths.claims(_myths(**kw), MCFG)}


def test_argmax_holds_at_the_optimum_and_partly_in_a_trained_network():
    got = _myth_claims()["argmax"]
    assert got["verdict"] == "partly — holds at the optimum, not in a trained network"
    assert got["churn"] == pytest.approx(0.027) and got["churn_seed"] == pytest.approx(0.028)
    assert got["against_seed"] == "about as many as re-running with another seed changes"
    assert _myth_claims(churn=0)["argmax"]["verdict"] == "holds"


@pytest.mark.parametrize("share, word", [(0.5, "fewer than"), (0.75, "about as many as"),
                                         (1.25, "about as many as"), (1.3, "more than")])
def test_churn_against_seed(share, word):
    assert myths.churn_against_seed(0.02 * share, 0.02).startswith(word + " ")


def test_churn_against_seed_rejects_a_non_share():
    with pytest.raises(ValueError, match="churn_eps"):
        myths.churn_against_seed(1.5, 0.02)


@pytest.mark.parametrize("acc, conf, verdict", [
    # accuracy holds up, the probabilities go towards uniform: the chapter's finding
    (lambda e: 0.87 - 0.05 * e, lambda e: 0.9 - 0.7 * e,
     "partly — the probabilities move towards uniform as ε grows; accuracy is another matter"),
    # accuracy falls to near chance as well
    (lambda e: 0.87 - 0.8 * e, lambda e: 0.9 - 0.7 * e, "holds"),
    # accuracy collapses, the confidence does not fall
    (lambda e: 0.87 - 0.8 * e, lambda e: 0.9, "partly — accuracy falls, the probabilities do not"),
    # neither
    (lambda e: 0.87, lambda e: 0.9, "does not hold"),
])
def test_underfit_rule(acc, conf, verdict):
    nll = (lambda e: 0.35 + e) if verdict.startswith(("holds", "partly — the")) else (lambda e: 0.35)
    assert _myth_claims(acc=acc, conf=conf, nll=nll)["underfit"]["verdict"] == verdict


def test_conventions_rule_reads_theory_and_the_measured_confidence():
    assert _myth_claims()["conventions"]["verdict"].startswith("does not hold — ")
    assert _myth_claims()["conventions"]["verdict"].endswith("close for K = 10")
    # the others runs more confident at a nominal ε: the measurement no longer agrees
    assert _myth_claims(others_conf=+0.01)["conventions"]["verdict"] == "partly"


def test_the_theory_verdicts():
    got = _myth_claims()
    assert got["many_classes"]["verdict"] == "partly — per class negligible, in total not"
    assert got["multilabel"]["verdict"].startswith("holds — ")
    assert got["regression"]["verdict"] == "holds — for real-valued targets"


def test_every_myth_has_a_section_and_a_plain_setting():
    got = _myth_claims()
    assert set(got) == set(myths.SECTIONS)
    assert all(c["source"] == "Tutorials" and "fashion_mnist" not in c["setting"] for c in got.values())
    with pytest.raises(ValueError, match="data_"):
        myths.claims({"runs": []}, MCFG)
