"""Class weights, the confidence penalty and mixup in the engine; AUC and friends; derived tasks."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lsutils import metrics, models, results, tasks, theory, train
from lsutils.losses import confidence_penalty_loss, smoothed_cross_entropy
from lsutils.targets import smooth_targets
from test_train import toy_data


def _batch(n=64, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * 3, torch.randint(0, k, (n,), generator=g)


# ------------------------------------------------------------------ class weights meet smoothing

@pytest.mark.parametrize("k", [2, 5])
def test_weighted_smoothed_ce_at_eps0_is_torch_weighted_ce(k):
    z, y = _batch(k=k)
    w = torch.rand(k, dtype=torch.float64) * 5 + 0.1
    for red in ("mean", "sum", "none"):
        torch.testing.assert_close(smoothed_cross_entropy(z, y, 0.0, reduction=red, class_weight=w),
                                   F.cross_entropy(z, y, weight=w, reduction=red))


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_weighted_smoothed_ce_weighs_whole_examples(convention):
    z, y = _batch(k=4)
    w = torch.tensor([0.5, 1.0, 7.0, 2.0], dtype=torch.float64)
    q = smooth_targets(y, 4, 0.2, convention).double()
    per = -(q * z.log_softmax(1)).sum(1)
    expect = (w[y] * per).sum() / w[y].sum()
    torch.testing.assert_close(smoothed_cross_entropy(z, y, 0.2, convention, class_weight=w), expect)


def test_torch_weighted_smoothing_is_not_per_example():
    """The trap itself: PyTorch weighs the smoothing term's log p_k by w_k."""
    z, y = _batch(k=2)
    w = torch.tensor([1.0, 49.0], dtype=torch.float64)
    ours = smoothed_cross_entropy(z, y, 0.1, class_weight=w)
    theirs = F.cross_entropy(z, y, weight=w, label_smoothing=0.1)
    logp = z.log_softmax(1)
    by_hand = (0.9 * -(w[y] * logp[torch.arange(len(y)), y]).sum() - 0.05 * (logp * w).sum()) / w[y].sum()
    torch.testing.assert_close(theirs, by_hand)
    assert abs(float(ours - theirs)) > 0.05


@pytest.mark.parametrize("w,label,eps", [((1.0, 49.0), 0, 0.1), ((1.0, 49.0), 1, 0.1),
                                          ((2.0, 1.0, 0.5), 2, 0.3), ((1.0, 1.0, 1.0, 1.0), 1, 0.2)])
def test_torch_weighted_optimum_minimises_pytorchs_loss(w, label, eps):
    z = torch.zeros(1, len(w), dtype=torch.float64, requires_grad=True)
    y, wt = torch.tensor([label]), torch.tensor(w, dtype=torch.float64)
    opt = torch.optim.LBFGS([z], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z, y, weight=wt, label_smoothing=eps)
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(z.softmax(1)[0].detach().numpy(), theory.torch_weighted_optimum(w, label, eps),
                               atol=1e-7)


def test_torch_weighted_optimum_with_equal_weights_is_the_smoothed_target():
    p = theory.torch_weighted_optimum((3.0,) * 5, 2, 0.2)
    on, off = theory.optimal_probs(5, 0.2)
    assert p == pytest.approx([off, off, on, off, off]) and on == pytest.approx(0.84)


def test_torch_weighted_optimum_flips_the_frequent_class():
    # balanced weights at 2 % prevalence: w₁/w₀ = 49; a negative example is pulled past ½
    p0, p1 = theory.torch_weighted_optimum((1.0, 49.0), 0, 0.1)
    assert p1 == pytest.approx(0.05 * 49 / (0.95 + 0.05 * 49)) and p1 > 0.5


@pytest.mark.parametrize("bad", [(1.0,), (1.0, -1.0), (1.0, float("nan")), (0.0, 1.0)])
def test_bad_class_weights_are_named(bad):
    z, y = _batch(k=2)
    with pytest.raises(ValueError, match="class_weight"):
        smoothed_cross_entropy(z, y, 0.1, class_weight=torch.tensor(bad))
    with pytest.raises(ValueError, match="class_weight"):
        theory.torch_weighted_optimum(bad if len(bad) == 2 else (1.0, 1.0, -1.0), 0, 0.1)
    if len(bad) == 2:
        with pytest.raises(ValueError, match="class_weight"):
            train.TrainConfig(class_weight=bad)


# ------------------------------------------------------------------ the engine's loss

def test_training_loss_matches_the_losses_module():
    z, y = _batch(k=4)
    z = z.float()
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    cfg = train.TrainConfig(eps=0.1)
    torch.testing.assert_close(train.training_loss(z, y, cfg), smoothed_cross_entropy(z, y, 0.1))
    torch.testing.assert_close(train.training_loss(z, y, cfg, w), smoothed_cross_entropy(z, y, 0.1, class_weight=w))
    torch_cfg = train.TrainConfig(eps=0.1, class_weight=tuple(w.tolist()), class_weight_smoothing="torch")
    torch.testing.assert_close(train.training_loss(z, y, torch_cfg, w),
                               F.cross_entropy(z, y, weight=w, label_smoothing=0.1))
    neg = train.TrainConfig(eps=-0.2)
    torch.testing.assert_close(train.training_loss(z, y, neg), smoothed_cross_entropy(z, y, -0.2, allow_negative=True))
    cp = train.TrainConfig(confidence_penalty=0.3)
    torch.testing.assert_close(train.training_loss(z, y, cp), confidence_penalty_loss(z, y, 0.3))


@pytest.mark.parametrize("kwargs,name", [({"class_weight_smoothing": "sklearn"}, "class_weight_smoothing"),
                                         ({"class_weight": (1.0, 2.0), "class_weight_smoothing": "torch",
                                           "eps": -0.1}, "class_weight_smoothing"),
                                         ({"confidence_penalty": -1.0}, "confidence_penalty"),
                                         ({"mixup_alpha": float("inf")}, "mixup_alpha")])
def test_train_config_rejects(kwargs, name):
    with pytest.raises(ValueError, match=name):
        train.TrainConfig(**kwargs)


def _fit(cfg, k=4):
    x, y = toy_data(k=k)
    torch.manual_seed(cfg.seed)
    model, hist = train.train(models.mlp((1, 28, 28), k, (16,)), x, y, cfg, device=torch.device("cpu"))
    return model, hist, x, y


def test_mixup_trains_is_repeatable_and_differs_from_plain():
    cfg = train.TrainConfig(epochs=3, batch_size=32, lr=0.05, mixup_alpha=0.4)
    m1, h1, x, y = _fit(cfg)
    m2, h2, _, _ = _fit(cfg)
    assert h1.loss == h2.loss
    plain = _fit(train.TrainConfig(epochs=3, batch_size=32, lr=0.05))[1]
    assert h1.loss != plain.loss
    assert (train.predict_logits(m1, x).argmax(1) == y).float().mean() > 0.9


def test_wrong_number_of_class_weights_is_named():
    with pytest.raises(ValueError, match="class_weight must hold 4"):
        _fit(train.TrainConfig(epochs=1, class_weight=(1.0, 2.0)))


def test_class_weights_shift_the_decision_towards_the_weighted_class():
    cfg = dict(epochs=2, batch_size=32, lr=0.05)
    plain = _fit(train.TrainConfig(**cfg))[0]
    heavy = _fit(train.TrainConfig(**cfg, class_weight=(1.0, 1.0, 1.0, 50.0)))[0]
    x, _ = toy_data()
    share = [(train.predict_logits(m, x).argmax(1) == 3).float().mean().item() for m in (plain, heavy)]
    assert share[1] > share[0]


def test_new_fields_at_default_keep_a_configs_identity():
    as_stored = results._jsonable(train.TrainConfig(eps=0.1))
    assert "mixup_alpha" not in as_stored and "class_weight" not in as_stored and as_stored["eps"] == 0.1
    assert results._jsonable(train.TrainConfig(mixup_alpha=0.2))["mixup_alpha"] == 0.2


# ------------------------------------------------------------------ ranking metrics

def _auc_pairs(s, pos):
    p, n = s[pos], s[~pos]
    return np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(p, n)])


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_is_the_pairwise_probability(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 6, 80).astype(float)  # many ties
    pos = rng.random(80) < 0.3
    assert metrics.roc_auc(s, pos) == pytest.approx(_auc_pairs(s, pos))
    assert metrics.roc_auc(-s, pos) == pytest.approx(1 - _auc_pairs(s, pos))


def test_roc_auc_extremes_and_errors():
    assert metrics.roc_auc([0.1, 0.2, 0.9], [0, 0, 1]) == 1.0
    assert metrics.roc_auc([0.5] * 4, [0, 1, 0, 1]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="positive"):
        metrics.roc_auc([0.1, 0.2], [0, 2])


def test_macro_auc_and_precision_recall_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2]])
    y = np.array([0, 1, 2, 1])
    expect = np.mean([_auc_pairs(p[:, k], y == k) for k in range(3)])
    assert metrics.macro_auc(p, y) == pytest.approx(expect)
    assert metrics.precision_recall([1, 1, 0, 0], [1, 0, 1, 0]) == (0.5, 0.5)
    prec, rec = metrics.precision_recall([0, 0], [1, 0])
    assert math.isnan(prec) and rec == 0.0


def test_summary_agrees_with_the_single_metrics():
    z, y = _batch(n=200, k=4, seed=3)
    z, y = z.numpy(), y.numpy()
    s = metrics.summary(z, y, temperature=2.0)
    p = metrics.softmax(z, 2.0)
    assert s["accuracy"] == metrics.accuracy(p, y) and s["ece"] == metrics.ece(p, y)
    assert s["nll"] == pytest.approx(metrics.nll_logits(z, y, 2.0))
    assert s["overconfidence"] == pytest.approx(p.max(1).mean() - s["accuracy"])
    assert s["logit_norm"] == pytest.approx(np.linalg.norm(z, axis=1).mean())
    b = metrics.summary(z[:, :2], (y % 2))
    pb = metrics.softmax(z[:, :2])
    assert b["auc"] == pytest.approx(_auc_pairs(pb[:, 1], y % 2 == 1))
    assert (b["precision"], b["recall"]) == metrics.precision_recall(pb[:, 1] >= 0.5, y % 2 == 1)
    never = metrics.summary(np.array([[3.0, 0.0], [2.0, 1.0], [5.0, -1.0]]), np.array([0, 1, 0]))
    assert never["precision"] is None and never["recall"] == 0.0


# ------------------------------------------------------------------ derived tasks

def test_binary_task_keeps_every_negative_and_hits_the_prevalence():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (5000,), generator=g)
    x = torch.arange(5000).view(-1, 1, 1, 1).to(torch.uint8)
    xb, yb = tasks.binary_task(x, y, (6,), 0.02, 10, seed=1)
    n_neg = int((y != 6).sum())
    assert int((yb == 0).sum()) == n_neg and int((yb == 1).sum()) == round(0.02 * n_neg / 0.98)
    again = tasks.binary_task(x, y, (6,), 0.02, 10, seed=1)
    assert torch.equal(again[1], yb) and torch.equal(again[0], xb)
    other = tasks.binary_task(x, y, (6,), 0.02, 10, seed=2)
    assert not torch.equal(other[1], yb)


@pytest.mark.parametrize("kwargs,name", [({"prevalence": 0.0}, "prevalence"), ({"prevalence": 0.9}, "prevalence"),
                                         ({"positive_classes": ()}, "positive_classes"),
                                         ({"positive_classes": (10,)}, "positive_classes")])
def test_binary_task_rejects(kwargs, name):
    y = torch.arange(100) % 10
    args = {"positive_classes": (1,), "prevalence": 0.05, **kwargs}
    with pytest.raises(ValueError, match=name):
        tasks.binary_task(torch.zeros(100, 1, 2, 2, dtype=torch.uint8), y, num_classes=10, seed=0, **args)


def test_balanced_class_weights():
    y = torch.tensor([0] * 90 + [1] * 10)
    w = tasks.balanced_class_weights(y, 2)
    assert w == pytest.approx((100 / 180, 100 / 20))
    assert sum(w[c] for c in y.tolist()) == pytest.approx(100)
    with pytest.raises(ValueError, match="absent"):
        tasks.balanced_class_weights(torch.zeros(5, dtype=torch.long), 2)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.4, 1.0])
def test_symmetric_noise_corrupts_exactly_and_uniformly(rate):
    y = torch.arange(20000) % 10
    noisy, mask = tasks.symmetric_label_noise(y, 10, rate, seed=3)
    assert int(mask.sum()) == round(rate * len(y)) and int((noisy != y).sum()) == int(mask.sum())
    assert torch.equal(noisy[~mask], y[~mask])
    if rate >= 0.4:
        # the new class, relative to the old one, is uniform over 1..9
        shift = ((noisy[mask] - y[mask]) % 10).bincount(minlength=10)[1:].double()
        assert shift.min() / shift.max() > 0.85
    assert torch.equal(tasks.symmetric_label_noise(y, 10, rate, seed=3)[0], noisy)
    with pytest.raises(ValueError, match="rate"):
        tasks.symmetric_label_noise(y, 10, 1.5, seed=0)
