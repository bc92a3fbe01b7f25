"""The book's experiments. Each module of this package declares its own (``results.declare``);
importing the package imports every module, so every experiment is declared, and lists them in
the order of the pages that show them in the book's table of contents. Nothing else lists them:
the claim tables, the order in which experiments are run and the book's tests all read
:data:`EXPERIMENTS`."""

from __future__ import annotations

import importlib
import pkgutil
import re

from lsutils import results

__all__ = ["EXPERIMENTS", "toc_pages", "in_part", "judged"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_info.name}")


def toc_pages() -> list[str]:
    """The pages of the book's ``_toc.yml``, in order (empty where the book's sources are absent)."""
    toc = results.REPO / "_toc.yml"
    if not toc.exists():
        return []
    return re.findall(r"^\s*(?:-\s*)?(?:file|root):\s*(\S+)\s*$", toc.read_text(encoding="utf-8"), re.MULTILINE)


def _book_order(exp: results.Experiment) -> tuple[int, str]:
    pages = toc_pages()
    return (pages.index(exp.page) if exp.page in pages else len(pages), exp.name)


EXPERIMENTS: tuple[results.Experiment, ...] = tuple(sorted(results.REGISTRY.values(), key=_book_order))
"""Every experiment of the book, in the order of its pages.

:meta hide-value:
"""


def in_part(part: str) -> tuple[results.Experiment, ...]:
    """The experiments whose pages belong to ``part`` (one of ``results.PARTS``), in book order."""
    if part not in results.PARTS:
        raise ValueError(f"part must be one of {results.PARTS}, got {part!r}")
    return tuple(e for e in EXPERIMENTS if e.part == part)


def judged() -> tuple[results.Experiment, ...]:
    """The experiments that judge claims (those with ``claims``), in book order."""
    return tuple(e for e in EXPERIMENTS if e.claims is not None)
