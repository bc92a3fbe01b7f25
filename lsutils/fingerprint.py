"""What a result depends on: the code its run reaches and every ``lsutils`` module that code uses,
directly or through others, lazy imports included.

``code_fingerprint("lsutils.experiments.calibration")`` is ``{module: hash}``, one hash per
module: SHA-256 of the module's syntax tree with docstrings removed (``ast.dump``), so that
comments, docstrings and layout do not count, and any change to what the code does counts. The
store records it with every result and run; a stored result whose modules now hash differently is
stale (``lsutils.results``): changing ``metrics.ece`` leaves no old number on a page.

``run_fingerprint(module, entry)`` is what the store records: in the experiment's own module it
hashes only what its run function ``entry`` reaches — the top-level definitions it names, and
what those name, in turn — and follows only the imports those use, so that a table's header, a
figure's panels or a link to a section, kept beside the run in one declared module, are not
taken for the code that computed the numbers. Every other module counts whole.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

__all__ = ["NOT_COUNTED", "code_fingerprint", "run_fingerprint", "changed_modules", "stale_modules",
           "module_source", "source_hash"]

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
    """The first 16 hex characters of the SHA-256 of ``source``'s syntax tree without docstrings."""
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


def _bindings(tree: ast.Module) -> tuple[dict[str, list[ast.stmt]], dict[str, str]]:
    """The module's top-level definitions ({name: statements binding it}) and its top-level
    ``lsutils`` imports ({bound name: module})."""
    defs: dict[str, list[ast.stmt]] = {}
    imports: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        defs.setdefault(name.id, []).append(node)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "lsutils":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                imports[a.asname or a.name] = sub if _path(sub) is not None else node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lsutils":
                    imports[a.asname or a.name.split(".")[0]] = a.name
    return defs, imports


def _reached(source: str, entry: str) -> tuple[list[ast.stmt], set[str]] | None:
    """The top-level statements ``entry`` reaches by name (in source order) and the ``lsutils``
    modules they use (top-level imports they name, imports inside them); None when ``entry`` is
    not a top-level definition of ``source``."""
    tree = _strip_docstrings(ast.parse(source))
    defs, imports = _bindings(tree)
    if entry not in defs:
        return None
    reached: dict[int, ast.stmt] = {}
    modules: set[str] = set()
    todo = [entry]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in imports:
            modules.add(imports[name])
        for stmt in defs.get(name, []):
            reached[id(stmt)] = stmt
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name):
                    todo.append(node.id)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for sub in [node.module] + [f"{node.module}.{a.name}" for a in node.names]:
                        if sub.split(".")[0] == "lsutils" and _path(sub) is not None:
                            modules.add(sub)
                elif isinstance(node, ast.Import):
                    modules |= {a.name for a in node.names if a.name.split(".")[0] == "lsutils"}
    order = {id(stmt): i for i, stmt in enumerate(tree.body)}
    return sorted(reached.values(), key=lambda stmt: order[id(stmt)]), modules


def run_fingerprint(module: str, entry: str) -> dict[str, str]:
    """``{key: hash}`` of the code a run of ``module.entry`` depends on: under the key
    ``"module:entry"`` the hash of the top-level definitions ``entry`` reaches (``_reached``), and
    ``code_fingerprint`` of each ``lsutils`` module they use. Falls back to ``code_fingerprint``
    when ``entry`` is not a top-level definition of ``module``."""
    if not isinstance(entry, str) or not entry:
        raise ValueError(f"entry must be a function name, got {entry!r}")
    if _path(module) is None:
        return code_fingerprint(module)
    found = _reached(module_source(module), entry)
    if found is None:
        return code_fingerprint(module)
    stmts, modules = found
    dump = "\n".join(ast.dump(stmt, annotate_fields=False) for stmt in stmts)
    out = {f"{module}:{entry}": hashlib.sha256(dump.encode()).hexdigest()[:16]}
    for name in sorted(modules - {module}):
        out.update(code_fingerprint(name))
    return dict(sorted(out.items()))


def stale_modules(stored: dict[str, str], module: str, entry: str) -> list[str]:
    """What changed since a record with fingerprint ``stored`` was computed by ``module.entry``.
    A record stored under ``run_fingerprint`` is compared key by key. An older record hashed
    whole modules (``code_fingerprint``): it is current when every module the run uses now
    (its own module whole) hashes as it did; modules it no longer reaches (a lazy import in a
    table-building function) do not count, since they never computed a number."""
    if not isinstance(stored, dict):
        raise ValueError("stored must be a fingerprint (a dict of module -> hash)")
    current = run_fingerprint(module, entry)
    if f"{module}:{entry}" in stored or f"{module}:{entry}" not in current:
        return changed_modules(stored, current)
    whole = {m: (_hash(module_source(module)) if m == f"{module}:{entry}" else h) for m, h in current.items()}
    return sorted(m.split(":")[0] for m, h in whole.items() if stored.get(m.split(":")[0]) != h)
