"""What a result depends on: the code of its experiment's module and of every ``lsutils`` module
that module imports, directly or through others, lazy imports included.

``code_fingerprint("lsutils.experiments.calibration")`` is ``{module: hash}``, one hash per
module: SHA-256 of the module's syntax tree with docstrings removed (``ast.dump``), so that
comments, docstrings and layout do not count, and any change to what the code does does. The
store records it with every result and run; a stored result whose modules hash otherwise now is
stale (``lsutils.results``): changing ``metrics.ece`` leaves no old number on a page.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

__all__ = ["NOT_COUNTED", "code_fingerprint", "changed_modules", "module_source", "source_hash"]

NOT_COUNTED = frozenset({"lsutils", "lsutils.results", "lsutils.fingerprint", "lsutils.experiments"})
"""Modules a result does not depend on through its numbers: the package, the store itself and
the catalogue that lists the experiments."""


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_hash(source: str) -> str:
    """SHA-256 (hex, 16 characters) of ``source``'s syntax tree without docstrings."""
    if not isinstance(source, str):
        raise ValueError(f"source must be a str, got {type(source).__name__}")
    dump = ast.dump(_strip_docstrings(ast.parse(source)), annotate_fields=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:16]


def _path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):   # not importable, or __main__ of a `python -c` script
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def module_source(module: str) -> str:
    """The source text of ``module`` (the tests replace this to change a module's code)."""
    path = _path(module)
    if path is None:
        raise ValueError(f"module must be a Python module with a source file, got {module!r}")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _imports(module: str, source: str) -> tuple[str, ...]:
    """The ``lsutils`` modules ``source`` imports, at any depth of its code."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] == "lsutils" and _path(n) is not None}
    return tuple(sorted(out - {module}))


@functools.lru_cache(maxsize=None)
def _hash(source: str) -> str:
    return source_hash(source)


def code_fingerprint(module: str) -> dict[str, str]:
    """``{module: source_hash}`` for ``module`` and every ``lsutils`` module it reaches through
    imports, but for ``NOT_COUNTED``; sorted by name. A module without a source file (a
    ``python -c`` script's ``__main__``) counts for nothing."""
    if not isinstance(module, str) or not module:
        raise ValueError(f"module must be a module name, got {module!r}")
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_COUNTED or _path(name) is None:
            continue
        source = module_source(name)
        seen[name] = _hash(source)
        todo += _imports(name, source)
    return dict(sorted(seen.items()))


def changed_modules(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    """The modules whose code differs between two fingerprints (added or removed ones too)."""
    if not isinstance(stored, dict) or not isinstance(current, dict):
        raise ValueError("stored and current must be fingerprints (dicts of module -> hash)")
    return sorted(m for m in stored.keys() | current.keys() if stored.get(m) != current.get(m))
