"""A run whose loss turns NaN or infinite stops with ``train.DivergedError`` instead of returning a
dead model whose chance-level accuracy would be stored and judged like any other result."""

import functools
import pickle

import pytest
import torch
from torch import nn

from lsutils import data, distill, models, train
from tests.test_train import one_thread, toy_data  # noqa: F401  (one_thread: an autouse fixture)

CPU = torch.device("cpu")


def _mlp(k=4, hidden=(32,), seed=0):
    torch.manual_seed(seed)
    return models.build("mlp", (1, 28, 28), k, hidden=hidden)


def test_hinton_distillation_that_diverges_on_fashion_mnist_raises():
    """The issue's case, shortened: Hinton's form (β 0.9, T 4) on an MLP 512-512 at lr 0.1. On 2 000
    Fashion-MNIST images over 8 epochs (120 steps, cosine), with an MLP 512-512 teacher trained 3
    epochs at lr 0.05, the loss is NaN from step 27 on (the second epoch); before the check, train
    returned non-finite logits and chance accuracy (9.8 %) without a word."""
    try:
        x, y = data.load_split("fashion_mnist", "train", limit=2000)
    except data.DataNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST is not available: {exc}")
    teacher = _mlp(10, (512, 512))
    teacher, _ = train.train(teacher, x, y, train.TrainConfig(epochs=3, lr=0.05), device=CPU)
    z_t = train.predict_logits(teacher, x, bf16=False)
    loss = functools.partial(distill.hinton_distillation_loss, temperature=4.0, beta=0.9)
    cfg = train.TrainConfig(epochs=8, lr=0.1, seed=0)
    with pytest.raises(train.DivergedError) as info:
        train.train(_mlp(10, (512, 512)), x, y, cfg, teacher_logits=z_t, loss_fn=loss, device=CPU)
    err = info.value
    assert 15 < err.step <= 120  # after the first epoch
    for part in ("MLP 784-512-512-10", "lr=0.1", "epochs=8", "hinton_distillation_loss", "temperature=4.0",
                 "beta=0.9", "seed=0", f"step {err.step} of 120"):
        assert part in str(err), (part, str(err))


def test_an_absurd_learning_rate_stops_at_the_next_check():
    """lr 1e4 diverges within a few steps; training stops at the first check after it (step 201 of
    400), not at the end, and the error names the step the loss first went non-finite."""
    x, y = toy_data(256, 4)
    model = _mlp()
    forwards = []
    model.register_forward_pre_hook(lambda m, args: forwards.append(1))
    cfg = train.TrainConfig(epochs=50, batch_size=32, lr=1e4, schedule="constant", seed=3)
    assert train.total_steps(len(x), cfg.epochs, cfg.batch_size) == 400
    with pytest.raises(train.DivergedError, match=r"lr=10000, epochs=50, .*seed=3") as info:
        train.train(model, x, y, cfg, device=CPU)
    assert len(forwards) == train.CHECK_EVERY + 1
    assert 1 < info.value.step <= train.CHECK_EVERY + 1
    assert f"at step {info.value.step} of 400 (seen at step {train.CHECK_EVERY + 1})" in str(info.value)
    assert "MLP 784-32-4" in info.value.run and "eps=0" in info.value.run


def test_a_lambda_loss_is_named_with_the_numbers_it_holds():
    """As the distillation experiment passes Hinton's loss: a lambda closing over T."""
    x, y = toy_data(128, 4)
    z_t = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
    temperature = 4.0
    loss = lambda s, t, y: distill.hinton_distillation_loss(s, t, y, temperature, 0.9)  # noqa: E731
    with pytest.raises(train.DivergedError, match=r"<lambda> \[temperature=4.0\] \(with a teacher\)"):
        train.train(_mlp(), x, y, train.TrainConfig(epochs=4, batch_size=32, lr=1e5), teacher_logits=z_t,
                    loss_fn=loss, device=CPU)


class _Overflowing(nn.Module):
    """An MLP with a buffer that overflows in training (×1e20 per forward pass) while its loss stays finite."""

    def __init__(self):
        super().__init__()
        self.net = _mlp()
        self.classifier = self.net.classifier
        self.register_buffer("running", torch.ones(()))

    def forward(self, x):
        if self.training:
            self.running.mul_(1e20)
        return self.net(x)


def test_weights_that_are_not_finite_after_the_last_step_raise():
    x, y = toy_data(64, 4)
    with pytest.raises(train.DivergedError, match=r"after the last step \(2\) the weights are not finite \(running\)"):
        train.train(_Overflowing(), x, y, train.TrainConfig(epochs=1, batch_size=32), device=CPU)


def test_outputs_that_are_not_finite_raise_in_predict_logits():
    x, y = toy_data(64, 4)
    model, _ = train.train(_mlp(), x, y, train.TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=7), device=CPU)
    with torch.no_grad():
        model.body[1].bias[0] = float("inf")  # the first hidden unit: features and logits overflow
    for fn in (train.predict_logits, train.extract_features):
        with pytest.raises(train.DivergedError, match=r"not finite for 64 of 64 images: .*lr=0.05, .*seed=7"):
            fn(model, x)
    untrained = _mlp()
    with torch.no_grad():
        untrained.classifier.bias[1] = float("nan")
    with pytest.raises(train.DivergedError, match=r"MLP 784-32-4, 25,252 parameters \(not trained by train.train\)"):
        train.predict_logits(untrained, x)


def test_a_normal_run_is_unchanged_by_the_checks(monkeypatch):
    """The checks read the losses only at steps that sync anyway: with them switched off, the same
    run gives the same weights, losses, hook outputs and global RNG state, bit for bit."""
    x, y = toy_data(256, 4)
    hooks = {"acc": lambda m: (train.predict_logits(m, x).argmax(1) == y).float().mean().item()}
    cfg = train.TrainConfig(epochs=60, batch_size=32, lr=0.05, eps=0.1, eval_every=150, seed=1)
    assert train.total_steps(len(x), cfg.epochs, cfg.batch_size) > 2 * train.CHECK_EVERY  # several windows

    def run():
        model, hist = train.train(_mlp(), x, y, cfg, hooks=hooks, device=CPU)
        return model.state_dict(), hist.step, hist.loss, hist.evals, torch.rand(4)

    checked = run()
    monkeypatch.setattr(train, "_check_losses", lambda *a: None)
    monkeypatch.setattr(train, "_check_weights", lambda *a: None)
    unchecked = run()
    assert checked[1:4] == unchecked[1:4] and torch.equal(checked[4], unchecked[4])
    assert all(torch.equal(checked[0][k], unchecked[0][k]) for k in checked[0])
    assert checked[3][-1]["acc"] > 0.9


def test_the_error_pickles():
    """It must survive the trip back from a worker process (results.memo.many with jobs > 1)."""
    x, y = toy_data(128, 4)
    with pytest.raises(train.DivergedError) as info:
        train.train(_mlp(), x, y, train.TrainConfig(epochs=4, batch_size=32, lr=1e5), device=CPU)
    for err in (info.value, train.DivergedError("message", 3, "run")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is train.DivergedError and isinstance(back, FloatingPointError)
        assert (str(back), back.step, back.run, back.args) == (str(err), err.step, err.run, err.args)
