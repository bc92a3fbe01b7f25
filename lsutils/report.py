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
# claim is reproduced or refuted — refuted only on a setup faithful to the paper; where the setup
# departs from it (stats.not_seen) what would refute it is "not seen at this scale (<departure>)";
# a tutorial's advice (the Practice part) holds or does not hold.
VERDICT_STYLES = {"reproduced": "verdict-reproduced", "partly": "verdict-partly", "refuted": "verdict-refuted",
                  "not seen at this scale": "verdict-notseen",
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


def confidence(diff: dict) -> str:
    """'99.17 %': the confidence of a ``stats.paired_difference`` interval (95 % if it says none),
    to two decimals without trailing zeros."""
    c = diff.get("confidence", 0.95) if isinstance(diff, dict) else None
    if not isinstance(c, float) or not 0 < c < 1:
        raise ValueError(f"diff must be a paired_difference dict with a confidence in (0, 1), got {diff!r}")
    return f"{100 * c:.2f}".rstrip("0").rstrip(".") + NBSP + "%"


def claim_interval(claim: dict, digits: int = 2) -> str:
    """A claim's interval as its verdict reads it. Judged within a Holm family
    (``stats.holm_family``): the adjusted interval, its confidence 1 − level and its rank among the
    m claims of the family, '+0.35 [−0.11, +0.81] at 99.17 % (Holm 6/11)'. Otherwise (not judged,
    or no family) the plain interval, as ``interval``; '—' without one."""
    if not isinstance(claim, dict):
        raise ValueError(f"claim must be a claim dict (from an experiment's claims()), got {claim!r}")
    diff = claim.get("diff")
    if not diff:
        return "—"
    if not claim.get("holm_level"):
        return interval(diff, digits)
    return f"{interval(diff, digits)} at {confidence(diff)} (Holm{NBSP}{claim['holm_rank']}/{claim['holm_m']})"


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
    """Rows (claim, network, α = 0, α = 0.1, Δ [interval] at its confidence, verdict) of ``claims``
    as the experiments' ``claims()`` return them (``claim_interval``: Holm-adjusted where judged)."""
    rows = []
    for c in claims:
        missing = {"source", "claim", "measure", "arch", "hard", "smoothed", "diff", "verdict"} - set(c)
        if missing:
            raise ValueError(f"claims must be the dicts an experiment's claims() returns; missing {sorted(missing)}")
        rows.append([f"{c['source']}: {c['claim']} ({c['measure']})", c["arch"], f"{c['hard']:.{digits}f}",
                     f"{c['smoothed']:.{digits}f}", claim_interval(c, digits), c["verdict"]])
    return rows


CLAIM_HEADER = ("claim (measure)", "network", "α = 0", "α = 0.1", "Δ [interval] at its Holm confidence",
                "verdict")


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for a claim tested on several networks or settings. Settings that could not
    be judged ("premise not met", "not testable here") do not dilute those that could: among the
    judged ones, the common verdict if they agree (the common outcome, unqualified, if they agree
    only in outcome), "partly" if some reproduce it and others do not, else "not resolved" — a
    claim is "refuted" (or "not seen at this scale") only where every judged setting says so;
    the rows that show a mixed verdict name each setting's own (``verdicts.grouped``). With no
    judged setting: "premise not met" if any, else "not testable here". A tutorial's advice
    combines alike, "holds" and "does not hold" in place of reproduced and refuted."""
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
    if len(set(paper)) == 1:
        out = paper[0]
    elif "reproduced" in paper or "partly" in paper:
        out = "partly"
    else:   # refuted, not seen and not resolved mixed: no setting-wide refutation
        out = "not resolved"
    if any(outcomes[v] in _AS_PAPER for v in judged):
        out = {paper_: practice for practice, paper_ in _AS_PAPER.items()}.get(out, out)
    return out

_AS_PAPER = {"holds": "reproduced", "does not hold": "refuted"}

UNJUDGED = ("premise not met", "not testable here")


def claims_admonition(title: str, claims: Sequence[dict], body: str = "", digits: int = 2) -> str:
    """One verdict box for a claim judged in several settings (networks, α, data sets): the
    ``combined_verdict`` in the title, then one line per setting with its measure, the two arms,
    the paired interval at the confidence its verdict is read at (``claim_interval``) and its own
    verdict — with what its 95 % interval alone would say where Holm's correction changed it
    (labelled by network, and by claim where one network carries several)."""
    claims = list(claims)
    if not claims:
        raise ValueError("claims must hold at least one claim dict (from an experiment's claims())")
    labels = [c["arch"] for c in claims]
    if len(set(labels)) < len(labels):   # one network, several claims: the claim tells the lines apart
        labels = [f"{c['arch']}, {c['claim']}" for c in claims]
    lines = []
    for c, label in zip(claims, labels):
        diff = f", Δ {claim_interval(c, digits)}" if c.get("diff") else ""
        note = f" ({c['note']})" if c.get("note") else ""
        alone = ""
        if c.get("holm_level") and c.get("verdict_95") and c["verdict_95"] != c["verdict"]:
            alone = (f" (its 95{NBSP}% interval {interval(c['diff_95'], digits)} alone would read "
                     f"*{c['verdict_95']}*)")
        lines.append(f"- {label}: {c['measure']} {c['hard']:.{digits}f} → {c['smoothed']:.{digits}f}"
                     f"{diff}: **{c['verdict']}**{alone}{note}")
    verdict = combined_verdict([c["verdict"] for c in claims])
    return verdict_admonition(title, verdict, (body.strip() + "\n\n" if body.strip() else "") + "\n".join(lines))
