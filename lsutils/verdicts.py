"""Every claim the book judges from stored results, in one table: what the front page shows.

An experiment takes part by declaring ``claims(data, config) -> list[dict]`` (each dict with
``key``, ``source``, ``claim``, ``verdict`` and ``arch`` or ``setting``) and the ``page`` that
discusses them; ``sections`` labels the section holding each claim's evidence and ``headlines``
words the front page's short table (``results.declare``). An experiment whose claims read other
experiments' results too names them in ``reads``: its ``claims`` then receives ``data`` and
``config`` as dicts keyed by experiment name.
"""

from __future__ import annotations

import functools
import json
import re

from lsutils import experiments, results
from lsutils.report import PLAIN, plain

__all__ = ["PLAIN", "book_claims", "claim_table_rows", "grouped", "headlines", "in_short", "plain", "tally"]

ROOT = results.REPO   # the book's sources: _toc.yml and the chapters

def book_claims(page: str | None = None) -> list[dict]:
    """The claims of every experiment that declares them (``experiments.judged()``, in book
    order), judged on its best stored preset; an experiment without a stored result contributes
    one row saying so. Each row: experiment, doc, key, section (its ``sections`` label, or None),
    source, claim, where, verdict, preset. ``page`` (a chapter's path without suffix): only the
    experiments that chapter shows."""
    rows = []
    for exp in experiments.judged():
        if page is not None and exp.page != page:
            continue
        names, doc = (exp.name, *exp.reads), exp.page
        name = "+".join(names)
        try:
            found = [results.best(n) for n in names]
        except results.ResultError as exc:
            rows.append({"experiment": name, "doc": doc, "key": None, "section": None, "source": "—",
                         "claim": f"no result: {exc}", "where": "—", "verdict": "not testable here",
                         "preset": "—"})
            continue
        if len(found) == 1:
            data, config = found[0].data, found[0].config
        else:
            data, config = {n: r.data for n, r in zip(names, found)}, {n: r.config for n, r in zip(names, found)}
        preset = ", ".join(dict.fromkeys(r.preset for r in found))
        for c in exp.claims(data, config):
            rows.append({"experiment": name, "doc": doc, "key": c.get("key"),
                         "section": exp.sections.get(c.get("key")),
                         "source": c["source"], "claim": c["claim"],
                         "where": c.get("arch") or c.get("setting", ""), "verdict": c["verdict"],
                         "preset": preset})
    return rows


_ROW = {"source", "claim", "where", "verdict", "doc"}


def _check_rows(claims) -> list[dict]:
    if not isinstance(claims, (list, tuple)):
        raise ValueError(f"claims must be a list of rows of book_claims(), got {type(claims).__name__}")
    for c in claims:
        if not isinstance(c, dict) or not _ROW <= set(c):
            raise ValueError(f"claims must be rows of book_claims() (source, claim, where, verdict, doc), got {c!r}")
    return list(claims)


@functools.lru_cache(maxsize=None)
def _title(doc: str) -> str:
    """The short title of a chapter: its first heading up to a colon or comma (the page's path
    when its source is not found)."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{doc}{suffix}"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if suffix == ".ipynb":
                text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"]
                                 if c["cell_type"] == "markdown")
            heading = re.search(r"^# (.+)$", text, re.MULTILINE)
            if heading:
                return re.split(r"[:,]", heading.group(1))[0].strip()
    return doc.rsplit("/", 1)[-1]


def _evidence(c: dict) -> str:
    """A MyST link to the section that holds the claim's evidence, named by its chapter; to the
    chapter itself where the chapter labels no section for it."""
    if c.get("section"):
        return f"{{ref}}`{_title(c['doc'])} <{c['section']}>`"
    return f"{{doc}}`{_title(c['doc'])} </{c['doc']}>`"


def claim_table_rows(claims: list[dict]) -> list[list[str]]:
    """Rows (claim, network or setting in plain words, verdict in its colour, link to the
    evidence) for a Markdown table; the links are absolute from the book's root, so any page can
    show them."""
    from lsutils.report import verdict_badge

    return [[f"{c['source']}: {c['claim']}", plain(c["where"]), verdict_badge(c["verdict"]), _evidence(c)]
            for c in _check_rows(claims)]


def grouped(claims: list[dict]) -> list[dict]:
    """One row per (chapter, source, claim): the settings it was judged in joined, and their
    ``report.combined_verdict`` — the front page's short form of ``book_claims``. Settings that
    could not be judged are named in brackets with their verdict, and where the judged settings
    disagree each is named with its own."""
    from lsutils.report import UNJUDGED, combined_verdict

    out: dict[tuple, dict] = {}
    for c in _check_rows(claims):
        row = out.setdefault((c["doc"], c["source"], c["claim"]), {**c, "where": [], "verdicts": []})
        row["where"].append(c["where"])
        row["verdicts"].append(c["verdict"])
    rows = []
    for r in out.values():
        verdicts = r.pop("verdicts")
        pairs = [(w, v) for w, v in zip(r["where"], verdicts) if v not in UNJUDGED]
        judged = [w for w, _ in pairs]
        other = [f"{w}: {v}" for w, v in zip(r["where"], verdicts) if v in UNJUDGED]
        if len({v for _, v in pairs}) > 1:   # the settings disagree: say which said what
            where = "; ".join(dict.fromkeys(f"{w}: {v}" for w, v in pairs))
        else:
            where = ", ".join(dict.fromkeys(judged))
        if judged and other:   # name the settings the verdict does not cover
            where += " (" + "; ".join(dict.fromkeys(other)) + ")"
        rows.append({**r, "where": where or ", ".join(dict.fromkeys(r["where"])),
                     "verdict": combined_verdict(verdicts)})
    return rows


def tally(claims: list[dict]) -> dict[str, int]:
    """How many of ``claims`` have each outcome (``report.outcome``: qualifications dropped), in
    the order of ``report.VERDICT_STYLES``, outcomes that none has left out."""
    from lsutils.report import VERDICT_STYLES, outcome

    counts = {out: 0 for out in VERDICT_STYLES}
    for c in _check_rows(claims):
        counts[outcome(c["verdict"])] += 1
    return {out: n for out, n in counts.items() if n}


def _who(row: dict) -> str:
    """Who made a claim: its source, and for Müller et al.'s own table or figure (a reproduction
    chapter's claim that names no other paper and is not the book's own) the paper before it."""
    source = row["source"]
    own = row["doc"].startswith("chapters/reproduction/") and "et al." not in source \
        and not source.startswith("This book")
    return f"Müller et al. (2019), {source}" if own else source


def headlines(claims: list[dict]) -> list[dict]:
    """The rows of ``grouped`` claims that an experiment's ``headlines`` name, in book order, each
    with ``headline`` (the claim in plain words) and ``who`` (the paper, with its table or figure
    for Müller et al.'s own claims). A headline whose experiment has no stored result is left out."""
    by_key = {(c["experiment"].split("+")[0], c.get("key")): c for c in _check_rows(claims)}
    rows = []
    for key, words in (((e.name, k), w) for e in experiments.judged() for k, w in e.headlines.items()):
        c = by_key.get(key)
        if c is None:
            continue
        rows.append({**c, "headline": words, "who": _who(c)})
    return rows


def in_short(page: str) -> str:
    """A chapter's verdicts in a few lines (Markdown, a bullet list for a ``glue:md`` directive):
    one bullet per claim it judges, "source: claim — **verdict** (settings)"; settings that could
    not be judged, or that disagree, are named with their own verdict. The verdict's outcome is
    bold, its qualification plain. ``ValueError`` for a page that judges no claim."""
    from lsutils.report import UNJUDGED, combined_verdict, outcome

    rows = book_claims(page)
    if not rows:
        raise ValueError(f"page must be a chapter that judges claims, got {page!r}")
    claims: dict[tuple, list[dict]] = {}
    for r in rows:
        claims.setdefault((r["source"], r["claim"]), []).append(r)
    lines = []
    for (_, claim), settings in claims.items():
        judged = [r for r in settings if r["verdict"] not in UNJUDGED]
        verdict = combined_verdict([r["verdict"] for r in settings])
        said = outcome(verdict)
        parts = []
        if judged and len({r["verdict"] for r in judged}) == 1:
            where = ", ".join(dict.fromkeys(plain(r["where"]) for r in judged if r["where"]))
            qualification = verdict[len(said):]
            if qualification.startswith(" (") and qualification.endswith(")") and where:
                # 'not seen at this scale (5 source classes)' for α = 0.1: one bracket, not two
                parts.append(f"**{said}** ({where}: {qualification[2:-1]})")
            else:
                # 'holds as advice; it changed 1 of 15 choices (MLP)': the verdict reads on unbroken
                parts.append(f"**{said}**{qualification}" + (f" ({where})" if where else ""))
        else:
            parts.append(f"**{said}**")
            parts += [f"{plain(r['where'])}: *{r['verdict']}*" for r in judged]
        parts += [f"{plain(r['where'])}: *{r['verdict']}*" for r in settings if r not in judged]
        lines.append(f"- {_who(settings[0])}: {claim} — " + "; ".join(parts))
    return "**In short.** The verdicts of this chapter, one per claim:\n\n" + "\n".join(lines)
