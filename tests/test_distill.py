"""Distillation: the paper's loss, the equivalent smoothing γ, the MNIST-style logit-matching student."""

import copy

import pytest
import torch
import torch.nn.functional as F

from lsutils import distill, losses, models, train
from tests.test_train import toy_data


def smoothed(labels, k, alpha):
    return (1 - alpha) * F.one_hot(labels, k).double() + alpha / k


@pytest.mark.parametrize("k", [2, 3, 10, 100])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3, 0.75])
def test_gamma_of_the_smoothed_target_is_alpha(k, alpha):
    labels = torch.arange(50) % k
    assert distill.equivalent_smoothing(smoothed(labels, k, alpha), labels) == pytest.approx(alpha, abs=1e-12)


def test_gamma_matches_a_direct_sum():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(3 * torch.randn(40, 6, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, 6, (40,), generator=g)
    direct = sum(sum((1 - (k == int(y[n]))) * float(p[n, k]) for k in range(6)) * 6 / 5 for n in range(40)) / 40
    assert distill.equivalent_smoothing(p, y) == pytest.approx(direct, rel=1e-12)
    # a hotter teacher spreads more mass on wrong classes: γ grows with T
    z = torch.randn(40, 6, generator=g) + 5 * F.one_hot(y, 6)     # a teacher that is right on every example
    gammas = [distill.equivalent_smoothing(torch.softmax(z / t, 1), y) for t in (1, 2, 4, 16)]
    assert gammas == sorted(gammas)
    with pytest.raises(ValueError, match="sum to 1"):
        distill.equivalent_smoothing(torch.ones(3, 4), torch.zeros(3, dtype=torch.long))


def test_distillation_loss_is_the_papers_formula():
    """(1 − β)·H(y, p) + β·H(pᵗ(T), p(T)), no T² factor, by a direct sum over classes."""
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (6,), generator=g)
    assert distill.distillation_loss is losses.distillation_loss
    for T, beta in [(1.0, 1.0), (4.0, 1.0), (2.0, 0.3), (8.0, 0.0)]:
        pt, ps, p1 = torch.softmax(t / T, 1), torch.softmax(s / T, 1), torch.softmax(s, 1)
        direct = sum((1 - beta) * -torch.log(p1[n, y[n]]) - beta * sum(pt[n, k] * torch.log(ps[n, k]) for k in range(5))
                     for n in range(6)) / 6
        assert float(distill.distillation_loss(s, t, y, T, beta)) == pytest.approx(float(direct), rel=1e-12)


def test_tempered_teacher_gives_the_students_temperature_one():
    """The paper reads the teacher at T and the student at 1: H(softmax(z_t/T), softmax(z_s))."""
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    lin = torch.nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(4))
        lin.bias.zero_()
    teacher = distill.TemperedTeacher(lin, 3.0)
    ours = distill.distillation_loss(s, teacher(t), y, 1.0, 1.0)
    direct = -(torch.softmax(t / 3.0, 1) * torch.log_softmax(s, 1)).sum(1).mean()
    assert torch.allclose(ours, direct, atol=1e-6)
    assert torch.allclose(ours, losses.distillation_loss(s, t, y, 3.0, 1.0, student_temperature=1.0), atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distill.TemperedTeacher(lin, 0.0)


def test_logit_matching_loss():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (5,), generator=g)
    ce = sum(-torch.log_softmax(s[n], 0)[y[n]] for n in range(5)) / 5
    sq = sum(0.5 * sum((s[n, k] - t[n, k]) ** 2 for k in range(3)) for n in range(5)) / 5
    assert float(distill.logit_matching_loss(s, t, y)) == pytest.approx(float(0.4 * ce + 0.6 * sq), rel=1e-12)
    assert float(distill.logit_matching_loss(s, t, y, 1.0, 0.0)) == pytest.approx(float(ce), rel=1e-12)


def test_logit_matching_loop_is_the_engine_with_another_loss():
    """With weights (1, 0) the loop trains exactly like lsutils.train.train with hard targets."""
    torch.set_num_threads(1)
    x, y = toy_data(128)
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.05, crop_padding=2, seed=5, schedule="step")
    torch.manual_seed(0)
    a = models.mlp((1, 28, 28), 4, hidden=(32,))
    b, teacher = copy.deepcopy(a), models.mlp((1, 28, 28), 4, hidden=(8,))
    a, _ = train.train(a, x, y, cfg, device=torch.device("cpu"))
    b, _ = distill.train_logit_matching(b, x, y, teacher, cfg, hard_weight=1.0, logit_weight=0.0,
                                        device=torch.device("cpu"))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_a_logit_matching_student_copies_its_teacher():
    torch.set_num_threads(1)
    x, y = toy_data(512)
    torch.manual_seed(0)
    cfg = train.TrainConfig(epochs=3, batch_size=32, lr=0.05)
    teacher, _ = train.train(models.mlp((1, 28, 28), 4, hidden=(64,)), x, y, cfg, device=torch.device("cpu"))
    student, hist = distill.train_logit_matching(models.mlp((1, 28, 28), 4, hidden=(32,)), x, y, teacher,
                                                 train.TrainConfig(epochs=3, batch_size=32, lr=0.003),
                                                 device=torch.device("cpu"))
    zs, zt = train.predict_logits(student, x), train.predict_logits(teacher, x)
    assert (zs.argmax(1) == zt.argmax(1)).float().mean() > 0.95
    assert hist.loss[-1] < hist.loss[0]


def test_hinton_loss_matches_kl_div_times_t_squared():
    torch.manual_seed(3)
    s, t, y = torch.randn(16, 5, dtype=torch.float64), 3 * torch.randn(16, 5, dtype=torch.float64), torch.arange(16) % 5
    for T, beta in ((1.0, 1.0), (4.0, 0.5), (8.0, 0.9)):
        kl = torch.nn.functional.kl_div(torch.log_softmax(s / T, 1), torch.softmax(t / T, 1), reduction="batchmean")
        direct = (1 - beta) * torch.nn.functional.cross_entropy(s, y) + beta * T * T * kl
        assert float(distill.hinton_distillation_loss(s, t, y, T, beta)) == pytest.approx(float(direct), rel=1e-10)
    with pytest.raises(ValueError, match="temperature"):
        distill.hinton_distillation_loss(s, t, y, 0.0, 1.0)


def test_teacher_logits_equal_a_teacher_without_augmentation():
    """Precomputed logits give exactly the run with the teacher module (no augmentation)."""
    torch.manual_seed(0)
    x = torch.randint(0, 256, (96, 1, 28, 28), dtype=torch.uint8)
    y = torch.arange(96) % 4
    teacher = models.mlp((1, 28, 28), 4, hidden=(16,)).eval()
    cfg = train.TrainConfig(epochs=2, batch_size=32, lr=0.1, distill_temperature=2.0, distill_beta=0.7)
    runs = []
    for kw in ({"teacher": distill.TemperedTeacher(teacher, 3.0)},
               {"teacher_logits": train.predict_logits(teacher, x, bf16=False) / 3.0}):
        torch.manual_seed(1)
        student = models.mlp((1, 28, 28), 4, hidden=(8,))
        runs.append(train.train(student, x, y, cfg, **kw)[0])
    for a, b in zip(runs[0].parameters(), runs[1].parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="un-augmented"):
        train.train(student, x, y, train.TrainConfig(epochs=1, crop_padding=2), teacher_logits=torch.zeros(96, 4))
    with pytest.raises(ValueError, match="shape"):
        train.train(student, x, y, cfg, teacher_logits=torch.zeros(95, 4))
    with pytest.raises(ValueError, match="not both"):
        train.train(student, x, y, cfg, teacher=teacher, teacher_logits=torch.zeros(96, 4))
