"""The dry-run and plan commands of ``python -m lsutils``, and ``tools/gpu_run.py`` (run under a
dry run on the CPU; its archives and their unpacking)."""

import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from lsutils import experiments, results  # noqa: F401  (declares the book's experiments)

REPO = Path(__file__).resolve().parent.parent
SMOKE_FLOPS = 2 * (784 * 32 + 32 * 10)   # first_experiment smoke: MLP 784-32-10
SMOKE_IMAGES = 2 * 7 * 128               # 2 runs × (1000 // 128) steps × 128 images


def _spec():
    spec = importlib.util.spec_from_file_location("gpu_run", REPO / "tools" / "gpu_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_run = _spec()


def _run(*args, results_dir: Path, module=("-m", "lsutils"), drop=()):
    env = {**{k: v for k, v in os.environ.items() if k not in drop}, "LSBOOK_RESULTS": str(results_dir),
           "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, *module, *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=REPO, stdin=subprocess.DEVNULL)


def test_run_dry_run_stores_nothing(tmp_path):
    store = tmp_path / "results"
    out = _run("run", "first_experiment", "--preset", "smoke", "--dry-run", results_dir=store)
    assert out.returncode == 0, out.stderr
    assert "2 training calls" in out.stdout and "nothing stored" in out.stdout
    assert "mlp-32" in out.stdout and "ASSUMED" in out.stdout
    assert not store.exists()


def test_plan_prints_and_writes_the_cost(tmp_path):
    target = tmp_path / "plan.json"
    out = _run("plan", "--preset", "smoke", "--only", "first_experiment", "--images-per-s", "1000",
               "--json", str(target), results_dir=tmp_path / "results")
    assert out.returncode == 0, out.stderr
    assert "first_experiment" in out.stdout and "total" in out.stdout and "ASSUMED" not in out.stdout
    plan = json.loads(target.read_text())
    exp = plan["experiments"]["first_experiment"]
    [group] = exp["groups"]
    assert (group["calls"], group["planned_steps"], group["batch_size"]) == (2, 7, 128)
    assert group["flops_per_image"] == SMOKE_FLOPS and exp["stored_runs"] == 2
    assert exp["cost"] == {"calls": 2, "optimiser_steps": 14, "images": SMOKE_IMAGES,
                           "train_flops": 3 * SMOKE_FLOPS * SMOKE_IMAGES, "seconds": SMOKE_IMAGES / 1000,
                           "assumed": False}
    assert exp["version"] == results.get("first_experiment").version
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("content", [{"mlp": 500}, {"arch": "mlp", "engine": 500, "plain": 100}, {"default": 500}])
def test_images_per_s_from_a_file(tmp_path, content):
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps(content))
    target = tmp_path / "plan.json"
    out = _run("plan", "--preset", "smoke", "--only", "first_experiment", "--images-per-s", str(rates),
               "--json", str(target), results_dir=tmp_path / "results")
    assert out.returncode == 0, out.stderr
    assert json.loads(target.read_text())["experiments"]["first_experiment"]["cost"]["seconds"] == SMOKE_IMAGES / 500


@pytest.mark.parametrize("value", ["-3", "inf", "missing.json"])
def test_bad_images_per_s_is_one_line(tmp_path, value):
    out = _run("plan", "--preset", "smoke", "--only", "first_experiment", "--images-per-s", value,
               results_dir=tmp_path / "results")
    assert out.returncode == 1 and out.stderr.startswith("error:") and "Traceback" not in out.stderr


def test_gpu_run_dry_run_archives_and_the_archive_unpacks(tmp_path, monkeypatch):
    out_dir, store = tmp_path / "out", tmp_path / "results"
    out = _run("--dry-run", "--allow-cpu", "--only", "first_experiment", "--out", str(out_dir),
               results_dir=store, module=(str(REPO / "tools" / "gpu_run.py"),))
    assert out.returncode == 0, out.stdout + out.stderr
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == ["bench.json", "dryrun-first_experiment.tar.gz", "log.txt"]
    assert "first_experiment: done" in (out_dir / "log.txt").read_text()
    assert "mlp" in json.loads((out_dir / "bench.json").read_text())
    assert not store.exists()  # a dry run never stores into the results directory

    with pytest.raises(ValueError, match="never unpack"):
        gpu_run.unpack(out_dir, REPO / "results", dry_run=True)
    assert gpu_run.unpack(out_dir, tmp_path / "unpacked") == []  # no results-*.tar.gz there
    assert gpu_run.unpack(out_dir, tmp_path / "unpacked", dry_run=True) == ["first_experiment"]
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "unpacked"))
    res = results.load("first_experiment", "gpu")
    assert len(res.data["runs"]) == len(list((tmp_path / "unpacked/first_experiment/gpu.runs").glob("*.json"))) == 10


def test_archive_then_unpack_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "here"))
    exp = results.get("first_experiment")
    monkeypatch.setitem(exp.presets, "gpu", exp.presets["smoke"])  # a smoke-sized gpu result
    results.run("first_experiment", "gpu")
    folder = tmp_path / "here" / "first_experiment"
    out = tmp_path / "out"
    out.mkdir()
    assert gpu_run.archive("first_experiment", tmp_path / "here", out) == out / "results-first_experiment.tar.gz"
    assert gpu_run.archive("calibration", tmp_path / "here", out) is None  # nothing stored: no archive
    with tarfile.open(out / "results-first_experiment.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["first_experiment/gpu.json", "first_experiment/gpu.runs/eps=0.0_seed=0.json",
                                          "first_experiment/gpu.runs/eps=0.1_seed=0.json"]
    assert gpu_run.unpack(out, tmp_path / "there") == ["first_experiment"]
    for name in ("gpu.json", "gpu.runs/eps=0.0_seed=0.json"):
        assert (tmp_path / "there/first_experiment" / name).read_bytes() == (folder / name).read_bytes()


def _tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)


@pytest.mark.parametrize("archive, members, match", [
    ("results-first_experiment.tar.gz", [("first_experiment/../../evil.json", b"{}", "file")], "not under"),
    ("results-first_experiment.tar.gz", [("/abs/gpu.json", b"{}", "file")], "not under"),
    ("results-first_experiment.tar.gz", [("calibration/gpu.json", b"{}", "file")], "not under"),
    ("results-first_experiment.tar.gz", [("first_experiment/gpu.json", None, "link")], "not a gpu.json"),
    ("results-first_experiment.tar.gz", [("first_experiment/gpu.runs/x.sh", b"", "file")], "not a gpu.json"),
    ("results-first_experiment.tar.gz", [("first_experiment/cpu.json", b"{}", "file")], "not a gpu.json"),
    ("results-no_such_thing.tar.gz", [("no_such_thing/gpu.json", b"{}", "file")], "unknown experiment"),
])
def test_unpack_refuses_anything_outside_its_experiment(tmp_path, archive, members, match):
    src = tmp_path / "src"
    src.mkdir()
    _tar(src / archive, [("first_experiment/gpu.runs/ok.json", b"{}", "file"), *members])
    with pytest.raises(ValueError, match=match):
        gpu_run.unpack(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists() and not (tmp_path / "evil.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpu_run_refuses_to_start_without_cuda(tmp_path):
    out = _run("--only", "first_experiment", "--out", str(tmp_path / "out"), results_dir=tmp_path / "results",
               module=(str(REPO / "tools" / "gpu_run.py"),))
    assert out.returncode == 2 and "no CUDA device" in out.stdout
    assert not (tmp_path / "results").exists()


def test_bench_json_feeds_the_plan(tmp_path):
    figures = tmp_path / "bench.json"
    out = _run("bench", "--arch", "mlp", "--steps", "2", "--batch-size", "16", "--num-workers", "0",
               "--device", "cpu", "--json", str(figures), results_dir=tmp_path / "results")
    assert out.returncode == 0, out.stderr
    engine = json.loads(figures.read_text())["engine"]
    target = tmp_path / "plan.json"
    out = _run("plan", "--preset", "smoke", "--only", "first_experiment", "--images-per-s", str(figures),
               "--json", str(target), results_dir=tmp_path / "results")
    assert out.returncode == 0, out.stderr
    cost = json.loads(target.read_text())["experiments"]["first_experiment"]["cost"]
    assert cost["seconds"] == pytest.approx(SMOKE_IMAGES / engine) and not cost["assumed"]


def test_gpu_run_unpacks_carried_gz_files(tmp_path):
    """Carrying the four .gz files is enough: the GPU command checks and unpacks them in place."""
    from lsutils import data

    gzs = sorted((data.locate("fashion_mnist") / "FashionMNIST" / "raw").glob("*.gz"))
    if len(gzs) != 4:
        pytest.skip("the Fashion-MNIST .gz files are not kept on this machine")
    raw = tmp_path / "carried" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in gzs:
        (raw / gz.name).write_bytes(gz.read_bytes())
    out = _run("--dry-run", "--allow-cpu", "--no-bench", "--only", "first_experiment", "--data",
               str(tmp_path / "carried"), "--out", str(tmp_path / "out"), results_dir=tmp_path / "results",
               module=(str(REPO / "tools" / "gpu_run.py"),), drop=("LSBOOK_DATA", "LSBOOK_SYSTEM_DATA"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"fashion_mnist in {tmp_path / 'carried'}" in out.stdout
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 47_040_016
