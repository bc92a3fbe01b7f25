"""Each experiment is declared once, in its own module, and its chapter agrees with the declaration:
the page exists and is in the table of contents, it reads the experiment through its module, and
labels every section the declaration names. No other file spells an experiment's name."""

import ast
import json
import re
from pathlib import Path

import pytest

from lsutils import experiments, results

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {e.name: e for e in experiments.EXPERIMENTS}


def _source(page: str) -> tuple[Path, str]:
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{page}{suffix}"
        if path.exists():
            return path, path.read_text(encoding="utf-8")
    pytest.fail(f"page {page!r} has no source")


def _code(path: Path) -> str:
    """The code a notebook runs (a Markdown page: its text)."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _module(exp: results.Experiment) -> str:
    return exp.fn.__module__.rsplit(".", 1)[-1]


def test_the_catalogue_holds_every_declaration_once_in_book_order():
    assert len(DECLARED) == len(experiments.EXPERIMENTS) == len(results.REGISTRY)
    pages = experiments.toc_pages()
    positions = [pages.index(e.page) for e in experiments.EXPERIMENTS]
    assert positions == sorted(positions)
    assert [e.name for e in experiments.in_part("reproduction")][0] == "accuracy_clustering"
    with pytest.raises(ValueError, match="part"):
        experiments.in_part("appendix")


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_the_chapter_agrees_with_the_declaration(name):
    exp = DECLARED[name]
    assert exp.page in experiments.toc_pages(), f"{exp.page} is not in _toc.yml"
    path, text = _source(exp.page)
    code = _code(path)
    module = _module(exp)
    assert re.search(rf"from lsutils\.experiments(?: import {module}\b|\.{module} import )", code), \
        f"{exp.page} does not read {name} through lsutils.experiments.{module}"
    for key, label in exp.sections.items():
        assert f"({label})=" in text, f"{exp.page} has no section ({label})= for claim {key!r}"
    assert exp.part in results.PARTS


def test_a_declaration_is_checked():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class C:
        n: int = 1

    presets = {p: C() for p in results.PRESETS}
    saved = dict(results.REGISTRY)
    try:
        for kwargs, word in (({"page": "chapters/x/y.ipynb"}, "page"), ({"claims": lambda d, c: []}, "page"),
                             ({"page": "chapters/x/y", "sections": {"k": "s"}}, "claims")):
            with pytest.raises(ValueError, match=word):
                results.declare("toy", 1, presets, lambda cfg, memo: {}, **kwargs)
        with pytest.raises(ValueError, match="name"):
            results.declare("Toy-1", 1, presets, lambda cfg, memo: {})
        exp = results.declare("toy", 1, presets, lambda cfg, memo: {}, page="chapters/after/toy")
        assert exp.part == "after" and results.get("toy") is exp
    finally:
        results.REGISTRY.clear()
        results.REGISTRY.update(saved)


def _references(path: Path) -> set[str]:
    """The strings a Python file or a notebook's code hands to a call (``best("transfer")``) or
    binds to a name, alone or in a tuple or list (``NAMES = ("a", "b")``): the ways code refers
    to an experiment by name; words in data, tables and comparisons are not references."""
    text = _code(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(text)
    nodes = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            nodes += [*n.args, *(k.value for k in n.keywords)]
        elif isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
            nodes += n.value.elts if isinstance(n.value, (ast.Tuple, ast.List, ast.Set)) else [n.value]
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_an_experiments_name_is_spelled_only_in_its_own_module():
    files = [*(ROOT / "lsutils").rglob("*.py"), *(ROOT / "tools").glob("*.py"),
             *(ROOT / "chapters").rglob("*.ipynb"), ROOT / "intro.ipynb"]
    owner = {name: Path(exp.fn.__code__.co_filename).resolve() for name, exp in DECLARED.items()}
    found = []
    for path in files:
        for name in DECLARED.keys() & _references(path):
            if path.resolve() != owner[name]:
                found.append(f"{path.relative_to(ROOT)}: {name!r}")
    assert not found, "experiment names spelled outside their modules:\n" + "\n".join(found)
