"""lsutils.dryrun: training calls capped and recorded, data cut, everything restored, and every
registered experiment's ``gpu`` preset run end to end on this device under a dry run (what CI
runs, so the GPU code path is exercised without a GPU)."""

import pytest
import torch

from lsutils import data, distill, dryrun, experiments, models, plan, results, train

CPU = torch.device("cpu")
NAMES = sorted(e.name for e in experiments.EXPERIMENTS)


def _toy(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen), torch.arange(n) % 10


def _mlp(hidden=(16,)) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build("mlp", (1, 28, 28), 10, hidden=hidden)


class _Counting(models.MLP):
    """An MLP that records the batch size of every forward call."""

    def forward(self, x):
        self.seen.append(len(x))
        return super().forward(x)


def test_dry_run_stops_after_steps_and_records_the_planned_run():
    x, y = _toy(200)
    cfg = train.TrainConfig(epochs=3, batch_size=32, lr=0.01)
    with dryrun.dry_run(steps=2) as ledger:
        model, hist = train.train(_mlp(), x, y, cfg, device=CPU)
    assert hist.step[-1] == 2
    [entry] = ledger
    planned = plan.optimiser_steps(200, 3, 32)
    assert planned == 18
    assert entry == {
        "trainer": "train", "model": "mlp-16", "arch": "mlp", "parameters": models.count_parameters(model),
        "flops_per_image": plan.flops_per_image(_mlp(), (1, 28, 28)), "teacher": None,
        "teacher_flops_per_image": 0, "image_shape": [1, 28, 28], "n_train": 200, "n_train_exact": True,
        "epochs": 3, "batch_size": 32, "runs": 1, "images_per_step": 32, "planned_steps": planned, "steps_run": 2}
    _, hist = train.train(_mlp(), x, y, cfg, device=CPU)  # outside: the whole run
    assert hist.step[-1] == planned


def test_max_batch_shrinks_the_dry_steps_but_not_the_plan():
    x, y = _toy(200)
    model = _Counting(784, (16,), 10)
    model.seen = []
    with dryrun.dry_run(steps=3, max_batch=8) as ledger:
        train.train(model, x, y, train.TrainConfig(epochs=1, batch_size=32, lr=0.01), device=CPU)
    assert model.seen == [1, 8, 8, 8]  # the FLOP count's one image, then three steps of 8
    assert (ledger[0]["batch_size"], ledger[0]["planned_steps"], ledger[0]["steps_run"]) == (32, 6, 3)


def test_a_short_run_keeps_its_own_step_count():
    x, y = _toy(64)
    with dryrun.dry_run(steps=5) as ledger:
        _, hist = train.train(_mlp(), x, y, train.TrainConfig(epochs=1, batch_size=32, lr=0.01), device=CPU)
    assert hist.step[-1] == 2 and ledger[0]["planned_steps"] == ledger[0]["steps_run"] == 2


def test_a_teacher_is_counted_apart():
    x, y = _toy(200)
    teacher = distill.TemperedTeacher(_mlp((32,)), 2.0)
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.01)
    with dryrun.dry_run() as ledger:
        train.train(_mlp(), x, y, cfg, teacher=teacher, device=CPU)
    assert ledger[0]["teacher"] == "mlp-32"
    assert ledger[0]["teacher_flops_per_image"] == plan.flops_per_image(_mlp((32,)), (1, 28, 28))
    [group] = dryrun.summarize(ledger)
    c = dryrun.cost([group], 1000.0)
    images = 6 * 32
    assert c["images"] == images and c["seconds"] == images / 1000
    assert c["train_flops"] == images * (3 * group["flops_per_image"] + group["teacher_flops_per_image"])


def test_splits_are_cut_and_prefixes_remember_their_real_length():
    cfg = train.TrainConfig(epochs=1, batch_size=128, lr=0.01)
    with dryrun.dry_run(max_images=100) as ledger:
        x, y = data.load_split("fashion_mnist", "train")
        assert len(x) == len(y) == 100
        for xs, ys in ((x[:5000], y[:5000]), (x[:40], y[:40]), (x[torch.arange(50)], y[:50])):
            train.train(_mlp(), xs, ys, cfg, device=CPU)
        assert len(data.load_split("fashion_mnist", "test", limit=30)[0]) == 30
    assert [(e["n_train"], e["n_train_exact"]) for e in ledger] == [(5000, True), (40, True), (25_000, False)]
    assert [e["planned_steps"] for e in ledger] == [39, 1, 195]
    assert len(data.load_split("fashion_mnist", "train")[0]) == 50_000


def test_everything_is_restored_also_after_an_exception():
    getitem = torch.Tensor.__getitem__
    with pytest.raises(RuntimeError, match="boom"):
        with dryrun.dry_run() as outer:
            with dryrun.dry_run(steps=1) as inner:
                assert dryrun.active()
            assert dryrun.active() and inner == [] and outer == []
            raise RuntimeError("boom")
    assert not dryrun.active()
    assert torch.Tensor.__getitem__ is getitem and "__getitem__" not in torch.Tensor.__dict__
    assert data.split_hook is None and train.config_hook is None
    x, y = _toy(100)
    assert dryrun.cap_split("train", x, y) == (x, y)
    cfg = train.TrainConfig(epochs=2, batch_size=32)
    assert dryrun.train_config(_mlp(), x, cfg) is cfg


@pytest.mark.parametrize("kwargs, name", [({"steps": 0}, "steps"), ({"max_images": 1.5}, "max_images"),
                                          ({"max_batch": 0}, "max_batch"), ({"steps": True}, "steps")])
def test_bad_limits_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        with dryrun.dry_run(**kwargs):
            pass
    assert not dryrun.active()


def test_cost_and_names_reject_bad_input():
    with pytest.raises(ValueError, match="images_per_s"):
        dryrun.cost([], 0.0)
    with pytest.raises(ValueError, match="ledger"):
        dryrun.summarize([{"model": "x"}])
    with pytest.raises(ValueError, match="model"):
        dryrun.model_name("resnet56")
    assert dryrun.model_name(models.build("resnet56", (1, 28, 28), 10)) == "resnet56-w16"
    assert dryrun.model_name(models.build("alexnet", (1, 28, 28), 10, width=8)) == "alexnet-w8"
    assert dryrun.model_name(models.build("mlp", (1, 28, 28), 10, hidden=())) == "mlp"


def test_temporary_results_restore_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "mine"))
    with dryrun.temporary_results() as path:
        assert str(results.results_dir()) == path
    assert results.results_dir() == tmp_path / "mine"
    assert not (tmp_path / "mine").exists()


# experiments whose training set a dry run cannot trace back to its real size (their plan scales
# the cut split by its ratio and says n_train_exact False)
INEXACT = {"information"}   # the pool is picked class by class (index_select), not as a prefix


@pytest.mark.parametrize("name", NAMES)
def test_gpu_preset_runs_end_to_end_under_a_dry_run(name, results_tmp):
    """CI's check of the GPU code path: every run of every gpu preset, two steps each, with the
    CPU limits (64 images per split, 8 per step); the result is assembled and stored as usual."""
    with dryrun.dry_run(2, **dryrun.CPU_LIMITS) as ledger:
        res = results.run(name, "gpu")
    assert res.data and not res.cached
    assert all(e["steps_run"] <= min(2, e["planned_steps"]) for e in ledger)
    if results.get(name).part == "reproduction" and name not in INEXACT:
        assert ledger and all(e["n_train_exact"] for e in ledger)
