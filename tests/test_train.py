import copy

import pytest
import torch
import torch.nn.functional as F

from lsutils import models, theory, train
from lsutils.losses import distillation_loss


@pytest.fixture(autouse=True)
def one_thread():
    # many tiny ops: one thread is faster and keeps the runs bit-for-bit repeatable
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def toy_data(n=256, k=4, seed=0):
    """Images whose class is written as a bright square in one of k corners, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    images = torch.randint(0, 60, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for c in range(k):
        r, col = divmod(c, 2)
        images[labels == c, :, 14 * r + 3:14 * r + 11, 14 * col + 3:14 * col + 11] = 250
    return images, labels


def test_augment_is_a_crop_of_the_padded_image_or_its_mirror():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (16, 2, 6, 5), dtype=torch.uint8)
    out = train.augment(x, 2, True, g)
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                if torch.equal(out[i], (padded[i, :, dy:dy + 6, dx:dx + 5].flip(2) if f
                                        else padded[i, :, dy:dy + 6, dx:dx + 5]))]
        assert hits, f"image {i} is not a crop"
        offsets.add(hits[0][:2])
    assert len(offsets) > 5                         # offsets differ between images
    assert torch.equal(train.augment(x, 0, False, g), x)


def test_schedules():
    cfg = train.TrainConfig(lr=0.1, schedule="step", milestones=(0.5, 0.75))
    assert [train.lr_at(s, 100, cfg) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    cos = train.TrainConfig(lr=0.1, schedule="cosine")
    assert train.lr_at(0, 100, cos) == pytest.approx(0.1) and train.lr_at(50, 100, cos) == pytest.approx(0.05)
    one = train.TrainConfig(lr=0.1, schedule="onecycle", warmup=0.2)
    assert train.lr_at(20, 100, one) == pytest.approx(0.1) and train.lr_at(10, 100, one) == pytest.approx(0.05)
    assert train.lr_at(100, 100, one) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="schedule"):
        train.TrainConfig(schedule="exp")
    with pytest.raises(ValueError, match="eps"):
        train.TrainConfig(eps=1.0)


def _fit(cfg, arch="resnet8", data=None, **kw):
    x, y = data or toy_data()
    torch.manual_seed(123)
    model = models.build(arch, (1, 28, 28), 4)
    return train.train(model, x, y, cfg, device=torch.device("cpu"), **kw)


def test_same_seed_same_result_on_cpu():
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.05, crop_padding=2, flip=True, eps=0.1, seed=3)
    a, ha = _fit(cfg)
    b, hb = _fit(cfg)
    c, _ = _fit(train.TrainConfig(**{**cfg.__dict__, "seed": 4}))
    for pa, pb, pc in zip(a.state_dict().values(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb)
    assert ha.loss == hb.loss
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_learns_an_easy_task():
    cfg = train.TrainConfig(epochs=4, batch_size=32, lr=0.05, schedule="onecycle")
    x, y = toy_data(512)
    model, hist = _fit(cfg, "mlp", data=(x, y))
    acc = (train.predict_logits(model, x).argmax(1) == y).float().mean()
    assert acc > 0.95 and hist.loss[-1] < hist.loss[0]


def test_conventions_give_the_same_run():
    """ε = 0.2 'others' is ε·K/(K−1) 'uniform': identical targets, so identical training (fused vs our loss)."""
    base = dict(epochs=1, batch_size=32, lr=0.05, seed=1)
    eps_u = theory.convert_eps(0.2, 4, "others", "uniform")
    a, _ = _fit(train.TrainConfig(eps=eps_u, **base), "mlp")
    b, _ = _fit(train.TrainConfig(eps=0.2, convention="others", **base), "mlp")
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-5)


def test_hooks_run_every_k_steps_in_eval_mode():
    seen = []
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.01, eval_every=3)   # 8 steps
    _, hist = _fit(cfg, "resnet8", hooks={"training": lambda m: seen.append(m.training) or m.training})
    assert [e["step"] for e in hist.evals] == [3, 6, 8]
    assert seen == [False, False, False] and all(e["training"] is False for e in hist.evals)


def test_weight_decay_scope():
    model = models.alexnet(1, 10, (28, 28))
    groups = train._param_groups(model, train.TrainConfig(weight_decay=0.04, weight_decay_scope="hidden_dense"))
    decayed = {id(p) for p in groups[0]["params"]}
    assert decayed == {id(model.dense[0].weight), id(model.dense[2].weight)}
    assert groups[1]["weight_decay"] == 0.0


def test_distillation_with_a_teacher():
    """β = 1: the loss is the teacher cross-entropy; a student distilled from a trained teacher learns."""
    x, y = toy_data(512)
    teacher, _ = _fit(train.TrainConfig(epochs=3, batch_size=32, lr=0.05), "mlp", data=(x, y))
    cfg = train.TrainConfig(epochs=3, batch_size=32, lr=0.05, distill_temperature=2.0, distill_beta=1.0)
    student, _ = _fit(cfg, "mlp", data=(x, y), teacher=copy.deepcopy(teacher))
    agree = (train.predict_logits(student, x).argmax(1) == train.predict_logits(teacher, x).argmax(1))
    assert agree.float().mean() > 0.95


def test_distillation_loss_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 6, generator=g), torch.randn(5, 6, generator=g)
    y = torch.randint(0, 6, (5,), generator=g)
    T, beta, eps = 3.0, 0.4, 0.1
    q = (1 - eps) * F.one_hot(y, 6) + eps / 6
    pt = torch.exp(t / T) / torch.exp(t / T).sum(1, keepdim=True)
    ps = torch.exp(s / T) / torch.exp(s / T).sum(1, keepdim=True)
    p1 = torch.exp(s) / torch.exp(s).sum(1, keepdim=True)
    direct = ((1 - beta) * -(q * p1.log()).sum(1) + beta * -(pt * ps.log()).sum(1)).mean()
    assert torch.allclose(distillation_loss(s, t, y, T, beta, eps=eps), direct, atol=1e-6)
    # the student at temperature 1 (Müller et al.'s setting)
    direct1 = -(pt * p1.log()).sum(1).mean()
    assert torch.allclose(distillation_loss(s, t, y, T, 1.0, student_temperature=1.0), direct1, atol=1e-6)
    for bad in (dict(temperature=0.0, beta=0.5), dict(temperature=1.0, beta=1.5)):
        with pytest.raises(ValueError, match="temperature|beta"):
            distillation_loss(s, t, y, **bad)


def test_bad_inputs():
    x, y = toy_data(64)
    model = models.mlp((1, 28, 28), 4)
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    with pytest.raises(ValueError, match="uint8"):
        train.train(model, x.float(), y, cfg)
    with pytest.raises(ValueError, match="labels"):
        train.train(model, x, y + 4, cfg)
    with pytest.raises(ValueError, match="labels"):
        train.train(model, x, y[:10], cfg)


def test_state_roundtrip(tmp_path):
    model = models.resnet(8, 1, 4)
    path = tmp_path / "ckpt" / "model.pt"
    train.save_state(model, path)
    other = train.load_state(models.resnet(8, 1, 4), path)
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert list(path.parent.iterdir()) == [path]        # no temp file left


def test_loss_fn_replaces_the_teacher_loss():
    """loss_fn(student, teacher, labels) = plain CE must train exactly like the engine without a teacher."""
    x, y = toy_data(128)
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=2)
    a, _ = _fit(cfg, "mlp", data=(x, y))
    teacher = models.mlp((1, 28, 28), 4, hidden=(8,))
    b, _ = _fit(cfg, "mlp", data=(x, y), teacher=teacher, loss_fn=lambda s, t, lab: F.cross_entropy(s, lab))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="loss_fn needs a teacher"):
        _fit(cfg, "mlp", data=(x, y), loss_fn=lambda s, t, lab: s.sum())


def test_step_counts_are_the_loops_own():
    """steps_per_epoch/total_steps are what train.train runs (history records the last step)."""
    x, y = toy_data(100)
    for epochs, batch in ((1.0, 32), (2.5, 16), (0.1, 64)):
        cfg = train.TrainConfig(epochs=epochs, batch_size=batch, lr=0.01)
        _, hist = train.train(models.mlp((1, 28, 28), 4, hidden=(8,)), x, y, cfg, device=torch.device("cpu"))
        assert hist.step[-1] == train.total_steps(100, epochs, batch)
    assert train.steps_per_epoch(100, 32) == 3 and train.steps_per_epoch(5, 32) == 1


def test_cpu_bf16_autocasts_training_on_the_cpu_only_when_asked():
    """``cpu_bf16`` turns bf16 autocast on for CPU training; by default the CPU trains in float32."""
    lin, x = torch.nn.Linear(4, 3), torch.randn(2, 4)
    cpu = torch.device("cpu")
    with train._autocast(cpu, train.TrainConfig()):
        assert lin(x).dtype == torch.float32
    with train._autocast(cpu, train.TrainConfig(cpu_bf16=True)):
        assert lin(x).dtype == torch.bfloat16
    with train._autocast(cpu, train.TrainConfig(cpu_bf16=True, bf16=False)):
        assert lin(x).dtype == torch.float32


def test_cpu_bf16_training_stays_close_to_float32():
    """Same seed, same batches: a bf16-autocast MLP ends near the float32 one and predicts alike."""
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (256, 1, 4, 4), dtype=torch.uint8), torch.randint(0, 3, (256,))
    out = {}
    for flag in (False, True):
        torch.manual_seed(1)
        model = models.build("mlp", (1, 4, 4), 3, hidden=(16,))
        model, _ = train.train(model, x, y, train.TrainConfig(epochs=3, batch_size=64, lr=0.05,
                                                                cpu_bf16=flag))
        out[flag] = train.predict_logits(model, x)
    assert out[True].dtype == torch.float32
    assert (out[True].argmax(1) == out[False].argmax(1)).float().mean() > 0.9
    assert torch.allclose(out[True], out[False], atol=0.1)
