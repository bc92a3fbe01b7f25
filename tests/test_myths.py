"""Helpers of the myths chapter: prediction churn counts, the run grid, multi-label smoothing."""

import math

import numpy as np
import pytest
import torch

from lsutils import theory
from lsutils.experiments.myths import PRESETS, flip_counts, prediction_disagreement, run_grid, run_key
from lsutils.multilabel import fit_bce_logit, fit_softmax_logits, optimal_logit, smooth_binary_targets

# --- churn counts -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_disagreement_and_flips_against_a_loop(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, 500)
    a = np.where(rng.random(500) < 0.7, y, rng.integers(0, 10, 500))
    b = np.where(rng.random(500) < 0.3, rng.integers(0, 10, 500), a)
    differ = r2w = w2r = w2w = 0
    for ai, bi, yi in zip(a.tolist(), b.tolist(), y.tolist()):
        if ai != bi:
            differ += 1
            r2w += ai == yi
            w2r += bi == yi
            w2w += ai != yi and bi != yi
    assert prediction_disagreement(a, b) == differ
    assert flip_counts(a, b, y) == {"differ": differ, "right_to_wrong": r2w, "wrong_to_right": w2r,
                                    "wrong_to_wrong": w2w}
    assert r2w + w2r + w2w == differ


def test_disagreement_edge_cases():
    assert prediction_disagreement([1, 2, 3], [1, 2, 3]) == 0
    assert prediction_disagreement([], []) == 0
    with pytest.raises(ValueError):
        prediction_disagreement([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        flip_counts([1, 2], [1, 2], [1])


def test_run_grid_covers_every_comparison_once():
    for cfg in PRESETS.values():
        grid = run_grid(cfg)
        assert len(grid) == len(set(grid))
        keys = {run_key(*g) for g in grid}
        assert len(keys) == len(grid)
        for e in cfg.sweep_eps:
            for s in cfg.sweep_seeds:
                assert ("uniform", float(e), s) in grid
        for e in (0.0, cfg.churn_eps):
            for s in cfg.churn_seeds:
                assert ("uniform", float(e), s) in grid
        for e in cfg.convention_eps:
            for s in cfg.sweep_seeds:
                assert ("others", float(e), s) in grid and ("uniform", float(e), s) in grid
    assert len(run_grid(PRESETS["cpu"])) == 24


# --- multi-label smoothing ----------------------------------------------------------------


def test_smooth_binary_targets_formulas():
    t = torch.tensor([[0, 1, 1], [1, 0, 0]])
    sym = smooth_binary_targets(t, 0.2)
    assert torch.allclose(sym, torch.tensor([[0.1, 0.9, 0.9], [0.9, 0.1, 0.1]]))
    shifted = smooth_binary_targets(t, 0.2, mode="shifted")
    assert torch.allclose(shifted, torch.tensor([[0.2, 1.0, 1.0], [1.0, 0.2, 0.2]]))
    # the symmetric rule is the uniform convention for K = 2 applied to each label
    q = theory.optimal_probs(2, 0.2)
    assert float(sym[0, 1]) == pytest.approx(q[0]) and float(sym[0, 0]) == pytest.approx(q[1])
    with pytest.raises(ValueError):
        smooth_binary_targets(torch.tensor([0.5]), 0.1)
    with pytest.raises(ValueError):
        smooth_binary_targets(t, 1.0)
    with pytest.raises(ValueError):
        smooth_binary_targets(t, 0.1, mode="half")


@pytest.mark.parametrize("t", [0.05, 0.1, 0.5, 0.9, 0.95, 0.999])
def test_bce_minimiser_matches_closed_form(t):
    assert fit_bce_logit(t) == pytest.approx(optimal_logit(t), abs=1e-9)


def test_bce_hard_target_has_no_minimiser():
    assert optimal_logit(1.0) == math.inf and optimal_logit(0.0) == -math.inf
    assert fit_bce_logit(1.0, steps=20) > 15 and fit_bce_logit(1.0, steps=40) > fit_bce_logit(1.0, steps=20) + 15
    with pytest.raises(ValueError):
        optimal_logit(1.5)


def test_softmax_minimiser_is_the_renormalised_target():
    k, eps = 5, 0.1
    t = torch.full((k,), eps, dtype=torch.float64)
    t[2] = 1.0  # one-hot(2)·(1 − ε) + ε: sums to 1 + (K − 1)ε
    p = fit_softmax_logits(t)
    assert torch.allclose(p, t / t.sum(), atol=1e-6)
