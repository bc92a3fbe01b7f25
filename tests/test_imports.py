"""The package's imports form no circle, lazy ones (inside functions) included, and no module of
it replaces an attribute of a torch class."""

import ast
import re
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "lsutils"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every lsutils module ``path`` imports, at any depth of its code."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n in MODULES}
    return out


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        for target in _imports(path) - {name}:
            if not name.startswith(target + "."):   # a package's module imports its package: not an edge
                graph.add_edge(name, target)
    return graph


def test_the_walker_sees_lazy_imports_and_finds_a_circle(tmp_path):
    graph = nx.DiGraph([("a", "b"), ("b", "a")])
    assert list(nx.simple_cycles(graph))
    assert "lsutils.results" in _imports(MODULES["lsutils.verdicts"])
    assert "lsutils.data" in _imports(MODULES["lsutils.dryrun"])   # imported inside dry_run()


def test_no_import_circle_in_the_package():
    cycles = sorted(nx.simple_cycles(import_graph()), key=len)
    assert not cycles, f"import circles: {cycles[:5]}"


def test_the_store_knows_no_experiment_and_training_knows_no_dry_run():
    graph = import_graph()
    below = nx.descendants(graph, "lsutils.results") | nx.descendants(graph, "lsutils.train") \
        | nx.descendants(graph, "lsutils.data")
    assert not {n for n in below if n.startswith("lsutils.experiments") or n == "lsutils.dryrun"}


def test_no_module_replaces_a_torch_attribute():
    patch = re.compile(r"^\s*(torch|nn|F)(\.\w+)+\s*=(?!=)", re.MULTILINE)
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        assert not patch.search(text), f"{name} assigns to a torch attribute"
        assert "setattr(torch" not in text and "setattr(nn" not in text, name
