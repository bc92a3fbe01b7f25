"""Figure 5's design (lsutils.experiments.distillation): the matched temperature, the premise
gates (the transfer gate above all) and the verdicts on constructed runs, the presets' shape."""

import math

import pytest
import torch

from lsutils import distill, results, train
from lsutils.experiments import distillation as d5

SEEDS = (0, 1, 2, 3, 4)
JITTER = (0.0, 0.1, -0.1, 0.05, -0.05)
WOBBLE = (0.02, -0.03, 0.01, 0.0, -0.01)   # per-seed noise on the differences, so intervals have width


def test_matched_temperature_against_a_grid():
    torch.manual_seed(0)
    z, y = torch.randn(300, 10), torch.arange(300) % 10
    z[torch.arange(300), y] += 6
    target = 0.3
    t_star = d5.matched_temperature(z, y, target)
    grid = torch.linspace(0.5, 20, 4000)
    gammas = torch.tensor([d5.gamma_at(z, y, float(t)) for t in grid])
    t_grid = float(grid[(gammas - target).abs().argmin()])
    assert t_star == pytest.approx(t_grid, abs=0.01)
    assert d5.gamma_at(z, y, t_star) == pytest.approx(target, abs=1e-6)
    assert d5.gamma_at(z, y, 1.0) == pytest.approx(distill.equivalent_smoothing(torch.softmax(z.double(), 1), y))
    assert d5.matched_temperature(z, y, 1.5) is None       # γ ≤ K/(K−1)·(1 − 1/K) = 1


def _runs(transfer_gain=1.0, student_gain=1.0, teacher_fit=1.0, smoothed_fit=1.0, alone_fit=1.0,
          gamma_hard=0.01, teacher_seeds=(0,)):
    """Teachers α ∈ {0, 0.3}; students on the transfer set. The hard teacher's best student (T = 1)
    beats the best direct student (α = 0.3) by ``transfer_gain``, the smoothed teacher's student
    by ``student_gain``."""
    runs = []

    def run(role, alpha, t, seed, acc, fit=1.0, **kw):
        runs.append({"role": role, "alpha": alpha, "temperature": t, "seed": seed, "parameters": 10, "images": 128,
                     "train": {"accuracy": fit}, "val": {"accuracy": acc / 100},
                     "test": {"accuracy": (acc + JITTER[seed]) / 100}, **kw})
    for s in teacher_seeds:
        run("teacher", 0.0, None, s, 85, fit=teacher_fit, gamma={"1": gamma_hard, "4": 0.5})
        run("teacher", 0.3, None, s, 86, fit=smoothed_fit, gamma={"1": 0.3, "4": 0.8})
    for s, w in zip(SEEDS, WOBBLE):
        hard = 80.5 + transfer_gain + w
        run("direct", 0.0, None, s, 80, fit=alone_fit)
        run("direct", 0.3, None, s, 80.5)
        run("student", 0.0, 1.0, s, hard)
        run("student", 0.0, 4.0, s, hard - 0.2)
        run("student", 0.3, 1.0, s, hard - student_gain - w)
        run("student", 0.3, 4.0, s, hard - student_gain - 1 - 2 * w)
        run("matched", 0.3, 2.0, s, hard + w)
        for a in (0.0, 0.3):
            run("hinton", a, 1.0, s, 81 + w)
            run("hinton", a, 4.0, s, 80 - w)
    return runs


CFG = {"alphas": [0.0, 0.3], "temperatures": [1.0, 4.0], "high_temperature": 4.0, "hinton_temperatures": [1.0, 4.0],
       "hinton_beta": 0.5, "student": {"arch": "mlp", "width": 256}, "teacher": {"arch": "resnet8", "width": 8},
       "gates": {},
       "seeds": list(SEEDS), "teacher_seeds": [0], "train_size": 1536, "transfer_size": 128}


def _verdicts(runs, cfg=CFG):
    return {c["key"]: c["verdict"] for c in d5.claims({"runs": runs}, cfg)}


def test_claims_when_the_premise_holds():
    got = _verdicts(_runs())
    assert got["fig5_teacher"] == "not testable here"       # one teacher per α: no interval over teachers
    assert got["fig5_matched"] == "reproduced"               # hard teacher's student 1 point better
    assert got["fig5_best"] == "reproduced"
    assert got["chandrasegaran"] == "reproduced"             # T = 4 is worse for the smoothed teacher
    assert got["chandrasegaran_hinton"] == "reproduced"
    # 1 point worse, beyond the 0.5 margin, but on a transfer set with one teacher: not "refuted"
    assert got["shen"].startswith("not seen at this scale (") and "one teacher per α" in got["shen"]
    assert "128-image transfer set" in got["shen"]


def test_a_contrary_result_is_refuted_only_on_the_papers_setup():
    contrary = _runs(student_gain=-1.0)                       # the smoothed teacher's student is better
    assert _verdicts(contrary)["fig5_matched"].startswith("not seen at this scale")
    five = dict(CFG, teacher_seeds=list(SEEDS), transfer_size=0, train_size=0)
    got = _verdicts(_runs(student_gain=-1.0, teacher_seeds=SEEDS), five)
    assert got["fig5_matched"] == "refuted" and got["fig5_best"] == "refuted"
    assert got["fig5_teacher"] == "reproduced"               # 86 > 85 for every teacher seed
    assert d5.departure(five) == ""


def test_the_transfer_gate_decides_what_can_be_judged():
    prem = d5.premise(_runs(), CFG)
    assert prem["met"] and prem["transfer"]["met"]
    assert (prem["transfer"]["temperature"], prem["transfer"]["alpha"]) == (1.0, 0.3)   # chosen on validation
    assert prem["transfer"]["diff"]["mean"] == pytest.approx(1.0, abs=0.02)
    for gain in (0.3, -0.5):                                  # below the margin: nothing beyond smoothing
        prem = d5.premise(_runs(transfer_gain=gain), CFG)
        assert not prem["transfer"]["met"] and not prem["met"] and prem["teachers_met"]
        got = _verdicts(_runs(transfer_gain=gain))
        assert {v for k, v in got.items() if k != "fig5_teacher"} == {"premise not met"}
    # the margin is read from the stored gates: a run judged under other gates says so
    assert d5.premise(_runs(transfer_gain=0.3), dict(CFG, gates={"transfer_margin": 0.2}))["transfer"]["met"]


def test_the_other_gates():
    for runs in (_runs(teacher_fit=0.95), _runs(gamma_hard=0.2), _runs(alone_fit=0.97)):
        got = _verdicts(runs)
        assert {v for k, v in got.items() if k != "fig5_teacher"} == {"premise not met"}
    assert d5.premise(_runs(alone_fit=0.97), CFG)["student_fits"] is False
    only = d5.claims({"runs": _runs(smoothed_fit=0.9)}, CFG)   # the α = 0.3 teacher misses: left out
    assert len(only) == 1 and only[0]["verdict"] == "premise not met"
    assert only[0]["premise"]["excluded"] == [0.3]
    # the hard teacher must beat the student alone by the margin
    low = [dict(r, test={"accuracy": 0.805}) if r["role"] == "teacher" else r for r in _runs()]
    assert not d5.premise(low, CFG)["teacher_better"]


def test_teacher_seed_and_grid():
    cfg = d5.PRESETS["cpu"]
    assert [d5.teacher_seed(cfg, s) for s in cfg.seeds] == [0] * len(cfg.seeds)
    grid = d5._grid(cfg)
    teachers = [g for g in grid if g[0] == "teacher"]
    assert teachers == [("teacher", a, None, 0) for a in cfg.alphas]      # one per α, trained once
    for t in teachers:   # each teacher before the first student that learns from it
        assert grid.index(t) < min(i for i, g in enumerate(grid) if g[0] not in ("teacher", "direct")
                                   and g[1] == t[1])
    n_students = len(cfg.seeds) * (len(cfg.temperatures) + 2 * (len(cfg.alphas) - 1)
                                   + len(cfg.hinton_temperatures) * len(cfg.alphas) + (len(cfg.alphas) - 1)
                                   + len(cfg.alphas))
    assert len(grid) - len(teachers) == n_students
    gpu = d5.PRESETS["gpu"]
    assert [d5.teacher_seed(gpu, s) for s in gpu.seeds] == list(gpu.seeds)
    order = d5._grid(gpu)
    for s in gpu.seeds:   # each seed's teachers come before the students that learn from them
        for a in gpu.alphas:
            assert order.index(("teacher", a, None, s)) < min(
                i for i, g in enumerate(order) if g[0] not in ("teacher", "direct") and g[1:4:2] == (a, s))


@pytest.mark.parametrize("bad", [dict(teacher_seeds=()), dict(teacher_seeds=(7,)),
                                 dict(train_size=100, transfer_size=200), dict(transfer_size=-1),
                                 dict(alphas=(0.15, 0.3))])
def test_config_rejects(bad):
    base = d5.PRESETS["smoke"]
    with pytest.raises(ValueError):
        d5.DistillationConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **bad})


def test_presets_keep_the_design():
    smoke, cpu, gpu = (d5.PRESETS[p] for p in ("smoke", "cpu", "gpu"))
    for cfg in (smoke, cpu, gpu):
        # students learn on a transfer set smaller than the teachers' training set
        assert 0 < cfg.transfer_size and (cfg.train_size == 0 or cfg.transfer_size < cfg.train_size)
        assert cfg.teacher.arch.startswith("resnet") and cfg.student.family == "alexnet"
        assert 0.0 in cfg.alphas
    assert cpu.alphas == (0.0, 0.15, 0.30, 0.45, 0.60)                     # the paper's grid to 0.6
    assert gpu.alphas == (0.0, 0.15, 0.30, 0.45, 0.60, 0.75)
    assert gpu.temperatures == (1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 16.0)        # the paper's T grid
    assert (gpu.teacher.arch, gpu.student.arch) == ("resnet56", "alexnet")
    assert cpu.student.arch == "mlp" and cpu.student.width >= 256          # fits its transfer set
    assert not cpu.teacher.train.cpu_bf16 and not cpu.student.train.cpu_bf16
    g = d5.Gates()
    assert (g.train_accuracy, g.student_fit, g.transfer_margin, g.harm_margin) == (0.99, 0.99, 0.5, 0.5)
    assert "student_smaller" not in d5.premise(_runs(), CFG)              # the parameter gate is gone
    assert results.get("distillation").version >= 3


def test_smoke_sweep_trains_students_on_the_transfer_set(tmp_path, monkeypatch):
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path))
    res = results.run("distillation", "smoke")
    runs, cfg = res.data["runs"], res.config
    teachers = [r for r in runs if r["role"] == "teacher"]
    students = [r for r in runs if r["role"] != "teacher" and "images" in r]
    assert {r["images"] for r in teachers} == {cfg["train_size"]}
    assert {r["images"] for r in students} == {cfg["transfer_size"]}
    assert {r["seed"] for r in teachers} == set(cfg["teacher_seeds"])
    assert all(r["teacher_seed"] == 0 for r in students if r["role"] != "direct")
    for r in teachers:   # γ on the transfer set, where students read the teacher
        assert set(r["gamma"]) >= {"1", "4"} and 0 <= r["transfer"]["accuracy"] <= 1
    rows = d5.network_rows(runs, cfg)
    assert [r[0] for r in rows] == ["teacher, α = 0", "teacher, α = 0.3", "student alone (α = 0)"]
    assert all(len(r) == len(d5.NETWORK_HEADER) for r in rows)
    assert all(len(r) == len(d5.DESIGN_HEADER) for r in d5.design_rows(cfg, runs))
    assert all(math.isfinite(y) for p in d5.figure5_panels(runs, cfg) for s in p["series"] for y in s["y"])
    assert {c["key"] for c in d5.claims(res.data, cfg)} <= set(d5.SECTIONS)
    assert train.TrainConfig  # the presets' recipes are TrainConfigs (frozen, hashable)
