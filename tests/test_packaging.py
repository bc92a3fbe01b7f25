"""environment.yml (for conda users) must state exactly the dependencies of pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _normalise(req: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(map(_normalise, project["dependencies"]))
    for extra in project["optional-dependencies"].values():
        wanted |= set(map(_normalise, extra))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1
    assert set(map(_normalise, pip_lists[0])) == wanted


def test_pins_admit_the_gpu_machine_and_current_releases():
    from packaging.specifiers import SpecifierSet

    deps = dict(map(_normalise, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]))
    import torch
    import torchvision

    for name, version in [("torch", "2.11.0"), ("torchvision", "0.26.0"),
                          ("torch", torch.__version__.split("+")[0]),
                          ("torchvision", torchvision.__version__.split("+")[0])]:
        assert version in SpecifierSet(deps[name]), (name, version, deps[name])
    book = dict(map(_normalise, tomllib.loads((ROOT / "pyproject.toml").read_text())
                    ["project"]["optional-dependencies"]["book"]))
    assert "2.0.0" not in SpecifierSet(book["jupyter-book"])  # 2.x ignores _config.yml and builds nothing
