"""Summaries over seeds, as the book reports every metric: mean ± std (and min / max), never one run."""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def summarise(values: Iterable[float]) -> dict[str, float]:
    """mean, sample standard deviation (n − 1; 0 for one value), min, max and n."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("values must hold at least one number")
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(xs), "max": max(xs), "n": n}


def mean_std(values: Iterable[float], digits: int = 2, scale: float = 1.0) -> str:
    """'mean ± std' with ``digits`` decimals after multiplying by ``scale`` (100 for percentages)."""
    s = summarise(v * scale for v in values)
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table: ``header`` then one line per row, cells as ``str``; a row of another
    length than the header raises ``ValueError`` (Markdown would silently shift columns)."""
    header = [str(h) for h in header]
    if not header:
        raise ValueError("header must name at least one column")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        cells = [str(c).replace("|", "\\|") for c in row]
        if len(cells) != len(header):
            raise ValueError(f"rows[{i}] has {len(cells)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
