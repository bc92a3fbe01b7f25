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


NBSP = "\u00a0"   # no-break space: numbers and their spread stay on one line in narrow cells


def mean_std(values: Iterable[float], digits: int = 2, scale: float = 1.0) -> str:
    """'mean ± std' with ``digits`` decimals after multiplying by ``scale`` (100 for percentages);
    no-break spaces around ±, so that a table cell never wraps inside the number."""
    s = summarise(v * scale for v in values)
    return f"{s['mean']:.{digits}f}{NBSP}±{NBSP}{s['std']:.{digits}f}"


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


def show_table(header: Sequence[str], rows: Iterable[Sequence[object]]):
    """``md_table`` as an IPython ``Markdown`` object: the last line of a notebook cell renders it."""
    from IPython.display import Markdown

    return Markdown(md_table(header, rows))


# The outcomes a claim can have, each with its own admonition style (_static/book.css). A paper's
# claim is reproduced or refuted; a tutorial's advice (the Practice part) holds or does not hold.
VERDICT_STYLES = {"reproduced": "verdict-reproduced", "partly": "verdict-partly", "refuted": "verdict-refuted",
                  "premise not met": "verdict-premise", "not resolved": "verdict-unresolved",
                  "not testable here": "verdict-untestable",
                  "holds": "verdict-reproduced", "does not hold": "verdict-refuted"}


def outcome(verdict: str) -> str:
    """The outcome of ``VERDICT_STYLES`` that ``verdict`` is or starts with
    ('holds where the network memorises' → 'holds')."""
    for out in sorted(VERDICT_STYLES, key=len, reverse=True):   # "does not hold" before "holds"
        if verdict == out or verdict.startswith(out + " "):
            return out
    raise ValueError(f"verdict must be one of {list(VERDICT_STYLES)}, optionally followed by a qualification, "
                     f"got {verdict!r}")


def verdict_style(verdict: str) -> str:
    """The admonition class of ``verdict``'s outcome."""
    return VERDICT_STYLES[outcome(verdict)]


def interval(diff: dict, digits: int = 2, scale: float = 1.0) -> str:
    """'+0.12 [−0.30, +0.54]': the mean difference and its interval, signs shown (a no-break
    space after the comma keeps the interval on one line)."""
    if not isinstance(diff, dict) or not {"mean", "low", "high"} <= set(diff):
        raise ValueError(f"diff must be a dict with mean, low and high (stats.paired_difference), got {diff!r}")

    def f(v: float) -> str:
        return f"{scale * v:+.{digits}f}".replace("-", "−")
    return f"{f(diff['mean'])} [{f(diff['low'])},{NBSP}{f(diff['high'])}]"


def verdict_admonition(title: str, verdict: str, body: str) -> str:
    """A MyST admonition titled '<title>: <verdict>' in the verdict's own style; ``body`` is
    MyST Markdown. Rendered when a chapter displays it as Markdown (``nb_render_markdown_format:
    myst``). ``verdict`` is an outcome of ``VERDICT_STYLES``, optionally qualified."""
    return f"```{{admonition}} {title}: {verdict}\n:class: {verdict_style(verdict)}\n{body.strip()}\n```"


def numbered_table(caption: str, name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A numbered, captioned MyST table (``{table}``) that ``{numref}`` can cite by ``name``."""
    if not name or not name.replace("-", "").isalnum():
        raise ValueError(f"name must be a non-empty label of letters, digits and '-', got {name!r}")
    return f"```{{table}} {caption}\n:name: {name}\n\n{md_table(header, rows)}\n```"


def claim_rows(claims: Iterable[dict], digits: int = 2) -> list[list[str]]:
    """Rows (claim, network, α = 0, α = 0.1, Δ [95 % CI], verdict) of ``claims`` as the
    experiments' ``claims()`` return them."""
    rows = []
    for c in claims:
        missing = {"source", "claim", "measure", "arch", "hard", "smoothed", "diff", "verdict"} - set(c)
        if missing:
            raise ValueError(f"claims must be the dicts an experiment's claims() returns; missing {sorted(missing)}")
        diff = interval(c["diff"], digits) if c["diff"] else "—"
        rows.append([f"{c['source']}: {c['claim']} ({c['measure']})", c["arch"], f"{c['hard']:.{digits}f}",
                     f"{c['smoothed']:.{digits}f}", diff, c["verdict"]])
    return rows


CLAIM_HEADER = ("claim (measure)", "network", "α = 0", "α = 0.1", "Δ [95 % CI]", "verdict")


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for a claim tested on several networks or settings. Settings that could not
    be judged ("premise not met", "not testable here") do not dilute those that could: among the
    judged ones, the common verdict if they agree, "partly" if some reproduce it, else refuted
    before not resolved. With no judged setting: "premise not met" if any, else "not testable here"."""
    wrong = f"verdicts must be a non-empty list of {list(VERDICT_STYLES)} (optionally qualified), got {verdicts!r}"
    if not verdicts:
        raise ValueError(wrong)
    try:
        outcomes = {v: outcome(v) for v in verdicts}
    except ValueError:
        raise ValueError(wrong) from None
    judged = [v for v in verdicts if v not in UNJUDGED]
    if not judged:
        return "premise not met" if "premise not met" in verdicts else "not testable here"
    if len(set(judged)) == 1:
        return judged[0]
    # a tutorial's advice holds or does not hold as a paper's claim is reproduced or refuted
    paper = [_AS_PAPER.get(outcomes[v], outcomes[v]) for v in judged]
    if "reproduced" in paper or "partly" in paper:
        out = "partly" if len(set(paper)) > 1 else paper[0]
    else:
        out = "refuted" if "refuted" in paper else "not resolved"
    if any(outcomes[v] in _AS_PAPER for v in judged):
        out = {paper_: practice for practice, paper_ in _AS_PAPER.items()}.get(out, out)
    return out

_AS_PAPER = {"holds": "reproduced", "does not hold": "refuted"}

UNJUDGED = ("premise not met", "not testable here")


def claims_admonition(title: str, claims: Sequence[dict], body: str = "", digits: int = 2) -> str:
    """One verdict box for a claim judged in several settings (networks, α, data sets): the
    ``combined_verdict`` in the title, then one line per setting with its measure, the two arms,
    the paired interval and its own verdict (labelled by network, and by claim where one network
    carries several)."""
    claims = list(claims)
    if not claims:
        raise ValueError("claims must hold at least one claim dict (from an experiment's claims())")
    labels = [c["arch"] for c in claims]
    if len(set(labels)) < len(labels):   # one network, several claims: the claim tells the lines apart
        labels = [f"{c['arch']}, {c['claim']}" for c in claims]
    lines = []
    for c, label in zip(claims, labels):
        diff = f", Δ {interval(c['diff'], digits)}" if c.get("diff") else ""
        note = f" ({c['note']})" if c.get("note") else ""
        lines.append(f"- {label}: {c['measure']} {c['hard']:.{digits}f} → {c['smoothed']:.{digits}f}"
                     f"{diff}: **{c['verdict']}**{note}")
    verdict = combined_verdict([c["verdict"] for c in claims])
    return verdict_admonition(title, verdict, (body.strip() + "\n\n" if body.strip() else "") + "\n".join(lines))
