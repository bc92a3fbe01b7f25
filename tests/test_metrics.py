"""lsutils.metrics against independent computations: a hand-worked case, plain loops, a port of Guo et
al.'s reference ECE, a perfectly calibrated sampler, a known-overconfident sampler, brute-force and
LBFGS temperature fits."""

import math

import numpy as np
import pytest
import torch

from lsutils import metrics

# --------------------------------------------------------------------------- hand-worked case
# Four examples, K = 3. Confidences 0.9 (right), 0.7 (wrong), 0.7 (right), 0.5 (right).
HAND_P = np.array([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
HAND_Y = np.array([0, 1, 0, 0])


def test_hand_worked_ece_five_bins():
    # bins of width 0.2: (0.8,1]: {0.9 ✓} gap 0.1, weight 1/4; (0.6,0.8]: {0.7 ✗, 0.7 ✓} conf 0.7, acc 0.5,
    # weight 2/4; (0.4,0.6]: {0.5 ✓} gap 0.5, weight 1/4.  ECE = 0.025 + 0.1 + 0.125 = 0.25
    assert metrics.ece(HAND_P, HAND_Y, n_bins=5) == pytest.approx(0.25, abs=1e-12)
    table = metrics.reliability(HAND_P, HAND_Y, n_bins=5)
    assert table.count.tolist() == [0, 0, 1, 2, 1]
    np.testing.assert_allclose(table.confidence[2:], [0.5, 0.7, 0.9])
    np.testing.assert_allclose(table.accuracy[2:], [1.0, 0.5, 1.0])
    assert np.isnan(table.confidence[:2]).all() and np.isnan(table.accuracy[:2]).all()
    np.testing.assert_allclose(table.gap[2:], [-0.5, 0.2, -0.1])


def test_hand_worked_adaptive_ece():
    # sorted confidences 0.5 ✓, 0.7 ✗, 0.7 ✓, 0.9 ✓ → two bins {0.5 ✓, 0.7 ✗}: conf 0.6, acc 0.5;
    # {0.7 ✓, 0.9 ✓}: conf 0.8, acc 1.  ECE = ½·0.1 + ½·0.2 = 0.15
    assert metrics.adaptive_ece(HAND_P, HAND_Y, n_bins=2) == pytest.approx(0.15, abs=1e-12)
    table = metrics.reliability(HAND_P, HAND_Y, n_bins=2, binning="mass")
    assert table.count.tolist() == [2, 2]
    np.testing.assert_allclose(table.lower, [0.5, 0.7])
    np.testing.assert_allclose(table.upper, [0.7, 0.9])


def test_hand_worked_brier_nll_accuracy():
    # Σ_k (p_k − y_k)²: 0.015, 1.14, 0.14, 0.38 → mean 0.41875
    assert metrics.brier(HAND_P, HAND_Y) == pytest.approx(0.41875, abs=1e-12)
    assert metrics.nll(HAND_P, HAND_Y) == pytest.approx(-(math.log(0.9) + math.log(0.2) + math.log(0.7)
                                                         + math.log(0.5)) / 4, abs=1e-12)
    assert metrics.accuracy(HAND_P, HAND_Y) == 0.75


def test_bins_are_closed_on_the_right():
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])
    y = np.array([0, 0, 1])
    table = metrics.reliability(p, y, n_bins=2)      # bins (0, 0.5], (0.5, 1]
    assert table.count.tolist() == [1, 2]


def test_brier_extremes_and_nll_floor():
    y = np.array([0, 1])
    assert metrics.brier(np.array([[1.0, 0.0], [0.0, 1.0]]), y) == 0.0
    assert metrics.brier(np.array([[0.0, 1.0], [1.0, 0.0]]), y) == 2.0
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    assert metrics.nll(p, y) == math.inf
    assert metrics.nll(p, y, floor=1e-12) == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)


# --------------------------------------------------------------------------- independent implementations

def _loop_reliability(p, y, n_bins):
    """Plain loops over examples and bins, intervals (lo, hi]."""
    edges = [m / n_bins for m in range(n_bins + 1)]
    rows = []
    for m in range(n_bins):
        members = [i for i in range(len(y)) if edges[m] < max(p[i]) <= edges[m + 1]]
        conf = sum(max(p[i]) for i in members)
        right = sum(1.0 for i in members if int(np.argmax(p[i])) == y[i])
        rows.append((len(members), conf, right))
    ece = sum(abs(r - c) for _, c, r in rows) / len(y)
    return rows, ece


def _guo_reference_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """A port of the ECE of Guo et al.'s published reference code (temperature_scaling, `_ECELoss`):
    torch, float32, one masked mean per bin."""
    softmaxes = torch.softmax(logits, dim=1)
    confidences, predictions = torch.max(softmaxes, 1)
    accuracies = predictions.eq(labels)
    boundaries = torch.linspace(0, 1, n_bins + 1)
    out = torch.zeros(1)
    for lower, upper in zip(boundaries[:-1], boundaries[1:]):
        in_bin = confidences.gt(lower.item()) * confidences.le(upper.item())
        prop = in_bin.float().mean()
        if prop.item() > 0:
            out += torch.abs(confidences[in_bin].mean() - accuracies[in_bin].float().mean()) * prop
    return out.item()


def _random_case(n, k, seed, scale=3.0):
    g = np.random.default_rng(seed)
    logits = scale * g.standard_normal((n, k))
    return logits, g.integers(0, k, n)


@pytest.mark.parametrize("seed,n_bins", [(0, 15), (1, 7), (2, 1), (3, 40)])
def test_reliability_matches_plain_loops(seed, n_bins):
    logits, y = _random_case(300, 5, seed)
    p = metrics.softmax(logits)
    rows, ece = _loop_reliability(p, y, n_bins)
    table = metrics.reliability(p, y, n_bins)
    assert table.count.tolist() == [r[0] for r in rows]
    np.testing.assert_allclose(table.conf_sum, [r[1] for r in rows], atol=1e-12)
    np.testing.assert_allclose(table.correct_sum, [r[2] for r in rows], atol=1e-12)
    assert metrics.ece(p, y, n_bins) == pytest.approx(ece, abs=1e-12)


@pytest.mark.parametrize("seed,k,scale", [(0, 10, 3.0), (1, 100, 5.0), (2, 2, 1.0)])
def test_ece_agrees_with_guo_reference_code(seed, k, scale):
    logits, y = _random_case(5000, k, seed, scale)
    ref = _guo_reference_ece(torch.tensor(logits, dtype=torch.float32), torch.tensor(y))
    ours = metrics.ece(metrics.softmax(logits), y)
    assert ours == pytest.approx(ref, abs=2e-5)     # float32 vs float64; a bin-edge slip would be ≫ this


def test_adaptive_bins_have_equal_mass_and_match_loops():
    logits, y = _random_case(1003, 4, 5)
    p = metrics.softmax(logits)
    table = metrics.reliability(p, y, 10, binning="mass")
    assert table.count.tolist() == [101, 101, 101, 100, 100, 100, 100, 100, 100, 100]
    conf = p.max(1)
    order = sorted(range(len(y)), key=lambda i: conf[i])
    ece, start = 0.0, 0
    for size in table.count:
        members = order[start:start + size]
        start += size
        gap = sum(conf[i] for i in members) - sum(1.0 for i in members if p[i].argmax() == y[i])
        ece += abs(gap) / len(y)
    assert metrics.adaptive_ece(p, y, 10) == pytest.approx(ece, abs=1e-12)


def test_brier_and_nll_match_loops_and_logits():
    logits, y = _random_case(200, 6, 7)
    p = metrics.softmax(logits)
    brier = sum(sum((p[i, k] - (k == y[i])) ** 2 for k in range(6)) for i in range(200)) / 200
    assert metrics.brier(p, y) == pytest.approx(brier, abs=1e-12)
    nll = -sum(math.log(p[i, y[i]]) for i in range(200)) / 200
    assert metrics.nll(p, y) == pytest.approx(nll, abs=1e-12)
    torch_nll = torch.nn.functional.cross_entropy(torch.tensor(logits) / 1.7, torch.tensor(y)).item()
    assert metrics.nll_logits(logits, y, temperature=1.7) == pytest.approx(torch_nll, abs=1e-10)


def test_per_class_matches_loops():
    logits, y = _random_case(400, 4, 8)
    p = metrics.softmax(logits)
    out = metrics.per_class(p, y)
    for k in range(4):
        members = [i for i in range(400) if p[i].argmax() == k]
        assert out["count"][k] == len(members)
        assert out["confidence"][k] == pytest.approx(np.mean([p[i].max() for i in members]))
        assert out["accuracy"][k] == pytest.approx(np.mean([y[i] == k for i in members]))
    never = metrics.per_class(np.array([[0.9, 0.1, 0.0]]), np.array([0]))
    assert np.isnan(never["gap"][1:]).all() and never["gap"][0] == pytest.approx(-0.1)


def test_pooling_tables_equals_concatenating():
    la, ya = _random_case(300, 5, 9)
    lb, yb = _random_case(200, 5, 10)
    pa, pb = metrics.softmax(la), metrics.softmax(lb)
    pooled = metrics.reliability(pa, ya) + metrics.reliability(pb, yb)
    joint = metrics.reliability(np.concatenate([pa, pb]), np.concatenate([ya, yb]))
    assert pooled.count.tolist() == joint.count.tolist()
    assert pooled.ece == pytest.approx(joint.ece, abs=1e-12)
    again = metrics.Reliability.from_dict(pooled.to_dict())
    assert again.ece == pooled.ece
    with pytest.raises(ValueError):
        _ = metrics.reliability(pa, ya, binning="mass") + metrics.reliability(pb, yb, binning="mass")


# --------------------------------------------------------------------------- samplers

def _calibrated_sampler(n, k, seed, sharpen=1.0):
    """True class probabilities p ~ Dirichlet, labels y ~ p; the model reports softmax(log p / T0) with
    T0 = 1/sharpen. sharpen = 1: perfectly calibrated; sharpen > 1: over-confident."""
    g = np.random.default_rng(seed)
    p = g.dirichlet(np.full(k, 0.3), size=n)
    y = (p.cumsum(1) > g.random((n, 1))).argmax(1)
    logits = sharpen * np.log(np.maximum(p, 1e-300))
    return logits, y


def test_calibrated_sampler_ece_goes_to_zero():
    eces = {n: np.mean([metrics.ece(metrics.softmax(lg), y) for lg, y in
                        (_calibrated_sampler(n, 10, s) for s in range(3))]) for n in (300, 3000, 300_000)}
    assert eces[300] > eces[3000] > eces[300_000]
    assert eces[300_000] < 0.004            # only the ~√(M/N) binning noise is left
    lg, y = _calibrated_sampler(300_000, 10, 11)
    assert metrics.adaptive_ece(metrics.softmax(lg), y) < 0.004


def test_overconfident_sampler():
    lg, y = _calibrated_sampler(100_000, 10, 12, sharpen=2.0)
    p = metrics.softmax(lg)
    table = metrics.reliability(p, y)
    busy = table.count > 500
    assert (table.gap[busy] > 0).all()                  # over-confident in every well-populated bin
    # with every bin over-confident, ECE = mean confidence − accuracy (an independent computation)
    assert metrics.ece(p, y) == pytest.approx(p.max(1).mean() - metrics.accuracy(p, y), abs=2e-3)
    assert metrics.ece(p, y) > 0.05
    t = metrics.fit_temperature(lg, y)
    assert t == pytest.approx(2.0, rel=0.03)            # undoes the sharpening
    assert metrics.ece(metrics.softmax(lg, t), y) < 0.01


# --------------------------------------------------------------------------- temperature

def test_fit_temperature_already_calibrated_is_one():
    lg, y = _calibrated_sampler(100_000, 10, 13)
    assert metrics.fit_temperature(lg, y) == pytest.approx(1.0, abs=0.03)


def test_fit_temperature_under_confident():
    lg, y = _calibrated_sampler(100_000, 10, 14, sharpen=0.5)
    assert metrics.fit_temperature(lg, y) == pytest.approx(0.5, rel=0.03)


def test_fit_temperature_matches_grid_search_and_lbfgs():
    g = np.random.default_rng(15)
    logits = 4 * g.standard_normal((2000, 10))
    y = np.where(g.random(2000) < 0.6, logits.argmax(1), g.integers(0, 10, 2000))
    t = metrics.fit_temperature(logits, y)
    t_grid = 1.0
    for width in (2.0, 0.05):        # brute force: a coarse grid on log T, then a fine one around its best
        grid = t_grid * np.exp(np.linspace(-width, width, 201))
        t_grid = grid[np.argmin([metrics.nll_logits(logits, y, s) for s in grid])]
    assert t == pytest.approx(t_grid, rel=1e-3)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    z, yt = torch.tensor(logits), torch.tensor(y)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), yt)
        loss.backward()
        return loss

    opt.step(closure)
    assert t == pytest.approx(log_t.exp().item(), rel=1e-5)
    for s in (t * 0.99, t * 1.01):
        assert metrics.nll_logits(logits, y, t) < metrics.nll_logits(logits, y, s)


def test_fit_temperature_degenerate_inputs():
    y = np.array([0, 1, 2])
    assert metrics.fit_temperature(np.zeros((3, 3)), y) == 1.0                  # no information
    assert metrics.fit_temperature(np.full((3, 3), 7.0), y) == 1.0
    separable = np.eye(3) * 5.0                                                  # always right
    assert metrics.fit_temperature(separable, y) == 0.05
    assert metrics.fit_temperature(-separable, y) == 20.0                        # true logit lowest
    assert metrics.fit_temperature(separable, y, bounds=(0.01, 100.0)) == 0.01
    one = metrics.fit_temperature(np.array([[2.0, 0.0]]), np.array([1]))          # a single wrong example
    assert one == 20.0
    huge = np.array([[1e4, 0.0, 0.0], [0.0, 1e4, 0.0], [1e4, 0.0, 0.0]])          # no overflow
    t = metrics.fit_temperature(huge, y)
    assert 0.05 <= t <= 20.0 and math.isfinite(metrics.nll_logits(huge, y, t))


# --------------------------------------------------------------------------- inputs

def test_rejects_bad_inputs():
    p, y = HAND_P, HAND_Y
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.ece(np.array([[3.0, 1.0], [0.5, 0.2]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.ece(np.array([[1.5, -0.5]]), np.array([0]))
    with pytest.raises(ValueError, match="labels must lie"):
        metrics.ece(p, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="length"):
        metrics.brier(p, y[:3])
    with pytest.raises(ValueError, match="finite"):
        metrics.nll(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="integer"):
        metrics.accuracy(p, y.astype(float))
    with pytest.raises(ValueError, match="binning"):
        metrics.reliability(p, y, binning="quantile")
    with pytest.raises(ValueError, match="n_bins"):
        metrics.ece(p, y, n_bins=0)
    with pytest.raises(ValueError, match="temperature"):
        metrics.softmax(p, temperature=0.0)
    with pytest.raises(ValueError, match="bounds"):
        metrics.fit_temperature(p, y, bounds=(2.0, 5.0))


def test_accepts_torch_tensors():
    p, y = torch.tensor(HAND_P, dtype=torch.float32), torch.tensor(HAND_Y)
    assert metrics.ece(p, y, n_bins=5) == pytest.approx(0.25, abs=1e-6)
    assert isinstance(metrics.ece(p, y), float) and isinstance(metrics.fit_temperature(p.log(), y), float)


# --------------------------------------------------------------------------- beyond top-1

def test_classwise_ece_matches_loops():
    logits, y = _random_case(250, 4, 16)
    p = metrics.softmax(logits)
    total = 0.0
    for k in range(4):
        for m in range(15):
            lo, hi = m / 15, (m + 1) / 15
            members = [i for i in range(250) if (lo < p[i, k] <= hi) or (m == 0 and p[i, k] == 0)]
            total += abs(sum(p[i, k] for i in members) - sum(1.0 for i in members if y[i] == k)) / 250
    assert metrics.classwise_ece(p, y) == pytest.approx(total / 4, abs=1e-12)
    lg, yy = _calibrated_sampler(200_000, 10, 17)
    assert metrics.classwise_ece(metrics.softmax(lg), yy) < 0.002          # calibrated in every class


def test_probability_reliability_matches_loops_and_sees_inflated_small_probabilities():
    logits, y = _random_case(150, 3, 18)
    p = metrics.softmax(logits)
    edges = [0.0, 0.01, 0.1, 0.5, 1.0]
    table = metrics.probability_reliability(p, y, edges)
    for m in range(4):
        pairs = [(i, k) for i in range(150) for k in range(3)
                 if edges[m] < p[i, k] <= edges[m + 1] or (m == 0 and p[i, k] == 0.0)]
        assert table.count[m] == len(pairs)
        assert table.conf_sum[m] == pytest.approx(sum(p[i, k] for i, k in pairs), abs=1e-12)
        assert table.correct_sum[m] == sum(1 for i, k in pairs if y[i] == k)
    assert table.count.sum() == 450
    # a calibrated model's probabilities, then the same mixed with uniform (what smoothing targets look like):
    lg, yy = _calibrated_sampler(50_000, 10, 19)
    pc = metrics.softmax(lg)
    small = [0.0, 1e-3, 0.01, 0.03, 1.0]
    calibrated = metrics.probability_reliability(pc, yy, small)
    flattened = metrics.probability_reliability(0.9 * pc + 0.01, yy, small)
    assert abs(calibrated.gap[2]) < 0.003                    # p in (0.01, 0.03]: means what it says
    assert flattened.confidence[2] > 2 * flattened.accuracy[2]  # floor 0.01 on every class: it does not
    with pytest.raises(ValueError, match="edges"):
        metrics.probability_reliability(pc, yy, [0.1, 1.0])


def test_ece_noise_floor_predicts_the_ece_of_a_calibrated_model():
    lg, y = _calibrated_sampler(2000, 10, 20)
    p = metrics.softmax(lg)
    floor = metrics.ece_noise_floor(metrics.reliability(p, y))
    observed = np.mean([metrics.ece(p, (p.cumsum(1) > g.random((2000, 1))).argmax(1))
                        for g in (np.random.default_rng(s) for s in range(40))])   # fresh labels from p
    assert floor == pytest.approx(observed, rel=0.15)
    assert metrics.ece_noise_floor(metrics.reliability(p, y)) == floor            # reproducible
    big = metrics.reliability(*(lambda t: (metrics.softmax(t[0]), t[1]))(_calibrated_sampler(200_000, 10, 21)))
    assert metrics.ece_noise_floor(big) < floor / 5                               # shrinks like 1/√N
