"""Selection rules of the practice experiments, on hand-made runs (no training)."""

import pytest

from lsutils.experiments import alternatives, choosing_eps


def _run(w, e, s, **val):
    return {"regime": "short", "task": "binary", "weighting": w, "eps": e, "seed": s, "val": val}


RUNS = [
    # at ε = 0 "none" has the better NLL, but "balanced" with ε = 0.1 is the best cell of the grid
    _run("none", 0.0, 0, nll=0.30, auc=0.90), _run("none", 0.0, 1, nll=0.32, auc=0.90),
    _run("none", 0.1, 0, nll=0.30, auc=0.91), _run("none", 0.1, 1, nll=0.30, auc=0.91),
    _run("balanced", 0.0, 0, nll=0.40, auc=0.92), _run("balanced", 0.0, 1, nll=0.40, auc=0.92),
    _run("balanced", 0.1, 0, nll=0.20, auc=0.93), _run("balanced", 0.1, 1, nll=0.26, auc=0.93),
]


def test_joint_search_finds_the_best_cell_sequential_does_not():
    grid = (("none", "balanced"), (0.0, 0.1))
    assert choosing_eps.select(RUNS, "short", "binary", "nll", *grid) == ("balanced", 0.1)
    assert choosing_eps.select(RUNS, "short", "binary", "nll", *grid, sequential=True) == ("none", 0.1)


def test_higher_is_better_for_auc():
    assert choosing_eps.select(RUNS, "short", "binary", "auc", ("none", "balanced"), (0.0, 0.1)) == ("balanced", 0.1)


def test_select_names_a_missing_cell():
    with pytest.raises(ValueError, match="weighting='balanced_torch'"):
        choosing_eps.select(RUNS, "short", "binary", "nll", ("balanced_torch",), (0.0,))


def test_run_grid_covers_regimes_and_tasks():
    cfg = choosing_eps.PRESETS["cpu"]
    grid = choosing_eps.run_grid(cfg)
    expect = sum(len(r.eps_values) * len(r.seeds) * (len(r.weightings) * ("binary" in r.tasks)
                                                     + ("multiclass" in r.tasks)) for r in cfg.regimes)
    assert len(grid) == expect
    assert {(r.name, t) for r, t, *_ in grid} == {("short", "binary"), ("short", "multiclass"), ("long", "binary"),
                                                  ("small", "binary")}
    assert all(w == "none" for _, t, w, *_ in grid if t == "multiclass")


def test_small_regime_builds_its_task_from_fewer_images(monkeypatch):
    import torch

    y = torch.arange(20000) % 10
    x = torch.zeros(20000, 1, 2, 2, dtype=torch.uint8)
    monkeypatch.setattr(choosing_eps.data, "load_split",
                        lambda name, split, limit=0: (x[:limit or None], y[:limit or None]))
    cfg = choosing_eps.PRESETS["cpu"]
    _, full = choosing_eps.task_split(cfg, "binary", "train")
    _, small = choosing_eps.task_split(cfg, "binary", "train", 10_000)
    assert int((full == 0).sum()) == 18000 and int((small == 0).sum()) == 9000
    assert abs(float(small.float().mean()) - cfg.prevalence) < 1e-3


def test_alternatives_select_per_family():
    runs = [{"family": "weight decay", "name": "wd a", "val": {"accuracy": 0.80, "ece": 0.02}},
            {"family": "weight decay", "name": "wd a", "val": {"accuracy": 0.90, "ece": 0.02}},
            {"family": "weight decay", "name": "wd b", "val": {"accuracy": 0.84, "ece": 0.01}},
            {"family": "baseline", "name": "baseline", "val": {"accuracy": 0.99, "ece": 0.5}}]
    assert alternatives.select(runs, "weight decay") == "wd a"
    assert alternatives.select(runs, "weight decay", "ece") == "wd b"
    with pytest.raises(ValueError, match="mixup"):
        alternatives.select(runs, "mixup")


def test_method_names_and_keys():
    m = alternatives.Method("mixup + smoothing", eps=0.1, mixup_alpha=0.2)
    assert m.name == "mixup + smoothing ε=0.1 α=0.2"
    assert m.key == "mixup_and_smoothing_eps=0.1_alpha=0.2"
    assert len({x.key for x in alternatives.METHODS}) == len(alternatives.METHODS)
