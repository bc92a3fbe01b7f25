"""Every claim the book judges from stored results, in one table: what the front page shows.

An experiment takes part by defining ``claims(data, config) -> list[dict]`` in its module (each
dict with ``source``, ``claim``, ``verdict`` and ``arch`` or ``setting``); ``CHAPTERS`` says
which page discusses it.
"""

from __future__ import annotations

import importlib

from lsutils import results

__all__ = ["CHAPTERS", "book_claims", "claim_table_rows", "grouped"]

# experiment -> the page (path from the book's root, no suffix) where its claims are discussed
CHAPTERS = {
    "accuracy_clustering": "chapters/reproduction/accuracy_clustering",
    "calibration": "chapters/reproduction/calibration",
    "distillation": "chapters/reproduction/distillation",
    "distillation_mnist_style": "chapters/reproduction/distillation_mnist",
    "information": "chapters/reproduction/information",
    "selective": "chapters/after/selective",
    "transfer": "chapters/after/transfer",
    "collapse": "chapters/after/collapse",
    "choosing_eps": "chapters/practice/choosing_eps",
    "alternatives": "chapters/practice/alternatives",
}


def book_claims() -> list[dict]:
    """The claims of every experiment in ``CHAPTERS``, judged on its best stored preset; an
    experiment without a stored result contributes one row saying so."""
    rows = []
    for name, doc in CHAPTERS.items():
        try:
            module = importlib.import_module(f"lsutils.experiments.{name}")
        except ModuleNotFoundError:   # an experiment registered by a module of another name
            import lsutils.experiments  # noqa: F401  (registers every experiment)
            module = importlib.import_module(results.get(name).fn.__module__)
        try:
            res = results.best(name)
        except results.ResultError as exc:
            rows.append({"experiment": name, "doc": doc, "source": "—", "claim": f"no result: {exc}",
                         "where": "—", "verdict": "not testable here", "preset": "—"})
            continue
        for c in module.claims(res.data, res.config):
            rows.append({"experiment": name, "doc": doc, "source": c["source"], "claim": c["claim"],
                         "where": c.get("arch") or c.get("setting", ""), "verdict": c["verdict"],
                         "preset": res.preset})
    return rows


def claim_table_rows(claims: list[dict]) -> list[list[str]]:
    """Rows (claim, network or setting, verdict, chapter link) for a Markdown table; the links
    are absolute from the book's root, so any page can show them."""
    for c in claims:
        if not {"source", "claim", "where", "verdict", "doc"} <= set(c):
            raise ValueError(f"claims must be rows of book_claims() (source, claim, where, verdict, doc), got {c!r}")
    return [[f"{c['source']}: {c['claim']}", c["where"], f"**{c['verdict']}**", f"{{doc}}`/{c['doc']}`"]
            for c in claims]


def grouped(claims: list[dict]) -> list[dict]:
    """One row per (chapter, source, claim): the settings it was judged in joined, and their
    ``report.combined_verdict`` — the front page's short form of ``book_claims``. Settings that
    could not be judged are named in brackets with their verdict, and where the judged settings
    disagree each is named with its own."""
    from lsutils.report import UNJUDGED, combined_verdict

    out: dict[tuple, dict] = {}
    for c in claims:
        if not {"source", "claim", "where", "verdict", "doc"} <= set(c):
            raise ValueError(f"claims must be rows of book_claims() (source, claim, where, verdict, doc), got {c!r}")
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
