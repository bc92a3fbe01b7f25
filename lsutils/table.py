"""An experiment's runs as a table: one row per run, nested keys read as dotted columns.

A stored run is a nested dict, e.g. ``{"seed": 0, "eps": 0.1, "test": {"t1": {"ece": 0.02}}}``;
``runs = Runs(rows)`` makes a table of them, ``runs.where(eps=0.1)`` selects the runs with α = 0.1,
``.column("test.t1.ece")`` reads their ECE, and
``runs.paired("test.accuracy", {"eps": 0.0}, {"eps": 0.1})`` gives the two arms of a paired
comparison, aligned on the seed. Chapters and ``claims`` ask their runs through these calls instead of
walking the dicts; the stored format stays plain JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lsutils.stats import mean_or_nan

__all__ = ["Runs", "pick"]

_MISSING = object()
_ABSENT = object()


def pick(row: Mapping, column: str, default: Any = _MISSING) -> Any:
    """pick(row, column[, default])

    ``row[a][b][c]`` for ``column = "a.b.c"``; ``default`` (when given) where a key is missing."""
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a dotted key such as 'test.accuracy', got {column!r}")
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if default is not _MISSING:
                return default
            raise KeyError(f"column {column!r}: no {part!r} in a run with keys {sorted(row)}")
        value = value[part]
    return value


def _matches(row: Mapping, equal: Mapping[str, Any]) -> bool:
    return all(pick(row, k, _ABSENT) == v for k, v in equal.items())


class Runs:
    """Rows (run dicts) with selection by equality, dotted columns and pairing by a key column."""

    def __init__(self, rows: Iterable[Mapping]):
        self.rows = list(rows)
        if not all(isinstance(r, Mapping) for r in self.rows):
            raise ValueError("rows must be mappings (one dict per run)")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"Runs({len(self.rows)} rows)"

    def where(self, equal: Mapping[str, Any] | None = None, /, **kw: Any) -> "Runs":
        """The rows whose columns equal the given values: ``where(eps=0.1)``, or
        ``where({"test.split": "val"})`` for a dotted column. A row without the column does not
        match; a column no row has is a ``KeyError`` (a misspelt name selects nothing silently)."""
        wanted = {**(equal or {}), **kw}
        for k in wanted:
            if self.rows and all(pick(r, k, _ABSENT) is _ABSENT for r in self.rows):
                raise KeyError(f"column {k!r}: no run has it (runs have {sorted(self.rows[0])})")
        return Runs(r for r in self.rows if _matches(r, wanted))

    def one(self, equal: Mapping[str, Any] | None = None, /, **kw: Any) -> Mapping:
        """The single row matching (as :meth:`where`); ``LookupError`` unless exactly one does."""
        found = self.where(equal, **kw).rows
        if len(found) != 1:
            raise LookupError(f"{len(found)} runs match {({**(equal or {}), **kw})}, expected exactly one")
        return found[0]

    def column(self, column: str) -> list:
        """The values of a dotted column, in row order."""
        return [pick(r, column) for r in self.rows]

    def distinct(self, column: str) -> list:
        """The column's distinct values, in order of first appearance."""
        return list(dict.fromkeys(pick(r, column) for r in self.rows))

    def mean(self, column: str, scale: float = 1.0) -> float:
        """Mean of ``scale × column`` over the rows; NaN for no rows."""
        return mean_or_nan([scale * v for v in self.column(column)])

    def by(self, column: str = "seed") -> dict[Any, Mapping]:
        """The rows keyed by a column whose values are distinct (``ValueError`` otherwise)."""
        out = {}
        for r in self.rows:
            key = pick(r, column)
            if key in out:
                raise ValueError(f"column {column!r} repeats {key!r}: rows are not keyed by it")
            out[key] = r
        return out

    def paired(self, column: str, a: Mapping[str, Any], b: Mapping[str, Any],
               by: str = "seed") -> tuple[list, list]:
        """The column in arm ``a`` and arm ``b`` (each a :meth:`where` selection), aligned on
        the values of ``by`` both arms have, in sorted order: the input of a paired test."""
        x, y = self.where(a).by(by), self.where(b).by(by)
        keys = sorted(x.keys() & y.keys())
        return [pick(x[k], column) for k in keys], [pick(y[k], column) for k in keys]
