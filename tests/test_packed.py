"""``packed.train_packed`` must reproduce ``train.train`` run by run: parameters, BatchNorm running
statistics and loss curves, for every family of ``models.build``."""

import copy
import dataclasses

import pytest
import torch
from torch import nn

from lsutils import models, packed, train
from test_train import toy_data as train_toy_data

CPU = torch.device("cpu")
SETTINGS = [(0, 0.0), (1, 0.1), (2, 0.2)]  # (seed, ε) of the R = 3 runs
FAMILIES = {
    "mlp": ("mlp", {"hidden": (32,)}, {"weight_decay_scope": "hidden_dense"}),
    "alexnet": ("alexnet", {"width": 4, "dense": (16, 8)}, {}),
    "resnet": ("resnet8", {"width": 4}, {"grad_clip": 0.5}),
}


@pytest.fixture(autouse=True)
def exact_cpu():
    """One thread (repeatable), and PyTorch's native convolutions: on this CPU oneDNN's float32
    weight gradient of the first conv loses ~0.5% to cancellation on zero-padded crops (the
    float64 gradient agrees with the native and the grouped kernels, not with oneDNN), which would
    make train.train itself the inexact side of the comparison."""
    old = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False  # (mkldnn.flags() would warn about Intel GPUs)
    yield
    torch.set_num_threads(old[0])
    torch.backends.mkldnn.enabled = old[1]


def toy_data(n=128, k=4, seed=0):
    """test_train's images (a bright square in one of k corners, plus noise), 128 by default."""
    return train_toy_data(n, k, seed)


def configs(settings=SETTINGS, **kw):
    # lr 0.02: at 0.1 the tiny ResNet is chaotic enough that a 1e-7 change of its initial weights
    # grows to 2e-4 in six steps, whatever trains it; 1.5 epochs crosses an epoch boundary.
    base = {"epochs": 1.5, "batch_size": 32, "lr": 0.02, "crop_padding": 2, "flip": True, **kw}
    return [train.TrainConfig(seed=s, eps=e, **base) for s, e in settings]


def build(arch, kwargs, cfgs):
    out = []
    for cfg in cfgs:  # as the experiments do: seed, then build
        torch.manual_seed(cfg.seed)
        out.append(models.build(arch, (1, 28, 28), 4, **kwargs))
    return out


def max_diffs(trained, reference):
    dp = max((a - b).abs().max().item() for m, r in zip(trained, reference)
             for a, b in zip(m.parameters(), r.parameters()))
    db = max(((a.double() - b.double()).abs().max().item() for m, r in zip(trained, reference)
              for a, b in zip(m.buffers(), r.buffers())), default=0.0)
    return dp, db


def assert_same_runs(packed_out, reference, hists, ref_hists):
    for m, r in zip(packed_out, reference):
        assert not m.training
        for (name, a), b in zip(m.named_parameters(), r.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
        for (name, a), b in zip(m.named_buffers(), r.buffers()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    for h, ref in zip(hists, ref_hists):
        assert h.step == ref.step and h.lr == ref.lr
        torch.testing.assert_close(h.loss, ref.loss, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_runs_equal_one_by_one_runs(family):
    arch, kwargs, extra = FAMILIES[family]
    x, y = toy_data()
    cfgs = configs(**extra)
    mine = build(arch, kwargs, cfgs)
    reference = [copy.deepcopy(m) for m in mine]
    out, hists = packed.train_packed(mine, x, y, cfgs, device=CPU)
    assert all(a is b for a, b in zip(out, mine))  # the caller's modules, trained in place
    ref_hists = [train.train(m, x, y, cfg, device=CPU)[1] for m, cfg in zip(reference, cfgs)]
    assert_same_runs(out, reference, hists, ref_hists)
    # the runs did train, and differently from each other
    initial = build(arch, kwargs, cfgs)
    assert all(not torch.equal(m.classifier.weight, m0.classifier.weight) for m, m0 in zip(out, initial))
    assert not torch.equal(out[0].classifier.weight, out[1].classifier.weight)
    dp, db = max_diffs(out, reference)
    print(f"{family}: max |Δparam| {dp:.2e}, max |Δbuffer| {db:.2e}")


def test_batchnorm_running_statistics_are_per_run():
    x, y = toy_data()
    cfgs = configs()
    mine = build("resnet8", {"width": 4}, cfgs)
    before = [copy.deepcopy(m) for m in mine]
    packed.train_packed(mine, x, y, cfgs, device=CPU)
    bns = [[m for m in model.modules() if isinstance(m, nn.BatchNorm2d)] for model in mine]
    assert all(bn.num_batches_tracked.item() == 6 for run in bns for bn in run)
    # each run's statistics moved, and to values of its own
    assert not torch.equal(bns[0][0].running_mean, before[0].stem[1].running_mean)
    assert not torch.allclose(bns[0][0].running_mean, bns[1][0].running_mean)


def test_per_run_conventions_and_confidence_penalty_take_the_per_run_loss():
    x, y = toy_data()
    cfgs = [dataclasses.replace(c, convention=conv, confidence_penalty=beta)
            for c, conv, beta in zip(configs(), ("uniform", "others", "uniform"), (0.0, 0.3, 0.1))]
    mine = build("mlp", {"hidden": (16,)}, cfgs)
    reference = [copy.deepcopy(m) for m in mine]
    out, hists = packed.train_packed(mine, x, y, cfgs, device=CPU)
    ref_hists = [train.train(m, x, y, cfg, device=CPU)[1] for m, cfg in zip(reference, cfgs)]
    assert_same_runs(out, reference, hists, ref_hists)


def test_vectorised_loss_equals_training_loss():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(4, 16, 5, generator=g) * 3, torch.randint(0, 5, (4, 16), generator=g)
    cfgs = [train.TrainConfig(eps=e, confidence_penalty=b) for e, b in ((0.0, 0.0), (0.1, 0.2), (0.5, 0.0), (-0.1, 0.3))]
    eps = torch.tensor([c.eps for c in cfgs])
    beta = torch.tensor([c.confidence_penalty for c in cfgs])
    got = packed._run_losses(logits, labels, cfgs, eps, beta)
    want = torch.stack([train.training_loss(logits[r], labels[r], c) for r, c in enumerate(cfgs)])
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_per_run_clipping_equals_clip_grad_norm():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.01, 1.0, 10.0])  # run 0's norm is below the limit
    grads = [torch.randn(3, 4, 5, generator=g) * scale.view(3, 1, 1), torch.randn(3, 7, generator=g) * scale.view(3, 1)]
    clipped = [t.clone() for t in grads]
    packed._clip_per_run(clipped, 1.0)
    for r in range(3):
        ps = [nn.Parameter(torch.zeros_like(t[r])) for t in grads]
        for p, t in zip(ps, grads):
            p.grad = t[r].clone()
        nn.utils.clip_grad_norm_(ps, 1.0)
        for p, t in zip(ps, clipped):
            torch.testing.assert_close(t[r], p.grad)
    assert all(torch.equal(c[0], t[0]) for c, t in zip(clipped, grads))  # a small norm is left alone


def test_the_cuda_code_path_runs_on_the_cpu(monkeypatch):
    """channels_last layout and bf16 autocast are CUDA-only; force them on the CPU."""
    x, y = toy_data(64)
    cfgs = configs(settings=SETTINGS[:2], epochs=1.0)
    arch, kwargs = "resnet8", {"width": 4}
    plain, _ = packed.train_packed(build(arch, kwargs, cfgs), x, y, cfgs, device=CPU)
    monkeypatch.setattr(packed, "_channels_last", lambda device, cfg: True)
    laid_out, _ = packed.train_packed(build(arch, kwargs, cfgs), x, y, cfgs, device=CPU)
    for a, b in zip(laid_out, plain):  # the layout changes no result
        for s, t in zip(a.state_dict().values(), b.state_dict().values()):
            torch.testing.assert_close(s, t, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(packed, "_autocast", lambda device, cfg: torch.autocast("cpu", dtype=torch.bfloat16))
    bf16, hists = packed.train_packed(build(arch, kwargs, cfgs), x, y, cfgs, device=CPU)
    assert all(torch.isfinite(torch.tensor(h.loss)).all() for h in hists)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for m in bf16 for p in m.parameters())


@pytest.mark.parametrize("change, field", [
    ({"lr": 0.05}, "lr"),
    ({"epochs": 2.0}, "epochs"),
    ({"weight_decay_scope": "hidden_dense"}, "weight_decay_scope"),
    ({"flip": False}, "flip"),
    ({"mixup_alpha": 0.2}, "mixup_alpha"),
    ({"class_weight": (1.0, 1.0, 1.0, 2.0)}, "class_weight"),
    ({"compile": True}, "compile"),
])
def test_configs_that_cannot_be_packed_are_refused_by_name(change, field):
    x, y = toy_data(64)
    cfgs = configs(settings=SETTINGS[:2])
    cfgs[1] = dataclasses.replace(cfgs[1], **change)
    with pytest.raises(ValueError, match=field):
        packed.train_packed(build("mlp", {"hidden": (8,)}, cfgs), x, y, cfgs, device=CPU)


def test_models_that_cannot_be_packed_are_refused():
    x, y = toy_data(64)
    cfgs = configs(settings=SETTINGS[:2])
    mlp = models.build("mlp", (1, 28, 28), 4, hidden=(8,))
    cases = [
        ([mlp, mlp], "distinct"),
        ([mlp, models.build("mlp", (1, 28, 28), 4, hidden=(9,))], "architecture"),
        ([mlp, models.build("alexnet", (1, 28, 28), 4, width=2, dense=(8, 8))], "architecture"),
        ([models.build("mlp", (1, 28, 28), 4, hidden=(8,), dropout=0.5) for _ in cfgs], "dropout"),
        ([mlp], "same length"),
    ]
    for ms, message in cases:
        with pytest.raises(ValueError, match=message):
            packed.train_packed(ms, x, y, cfgs, device=CPU)
    with pytest.raises(ValueError, match="at least one"):
        packed.train_packed([], x, y, [], device=CPU)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("bf16", [False, True])
def test_packed_runs_equal_one_by_one_runs_on_cuda(bf16):
    """On the GPU: channels_last always, bf16 autocast or float32 (TF32 off). Float32 must agree
    closely; bf16 only as far as two bf16 trainings of different kernels can."""
    cuda = torch.device("cuda")
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        x, y = toy_data()
        for family, (arch, kwargs, extra) in FAMILIES.items():
            cfgs = configs(bf16=bf16, channels_last=True, **extra)
            mine = build(arch, kwargs, cfgs)
            reference = [copy.deepcopy(m) for m in mine]
            out, hists = packed.train_packed(mine, x, y, cfgs, device=cuda)
            ref_hists = [train.train(m, x, y, cfg, device=cuda)[1] for m, cfg in zip(reference, cfgs)]
            dp, db = max_diffs(out, reference)
            print(f"cuda bf16={bf16} {family}: max |Δparam| {dp:.2e}, max |Δbuffer| {db:.2e}")
            if bf16:
                assert dp < 5e-2 and db < 5e-2
                torch.testing.assert_close(hists[0].loss, ref_hists[0].loss, rtol=0, atol=5e-2)
            else:
                assert_same_runs(out, reference, hists, ref_hists)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
