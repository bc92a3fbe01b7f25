from dataclasses import dataclass

from lsutils import results, verdicts


@dataclass(frozen=True)
class C:
    n: int = 1


def test_book_claims_reads_each_experiments_claims(results_tmp, monkeypatch):
    import sys
    import types

    module = types.ModuleType("lsutils.experiments.fake")
    module.claims = lambda data, config: [{"source": "Table 9", "claim": "x helps", "verdict": "refuted",
                                           "arch": "net", "n": config["n"]}]
    monkeypatch.setitem(sys.modules, "lsutils.experiments.fake", module)
    monkeypatch.setattr(results, "_load_registry", lambda: None)
    monkeypatch.setattr(results, "REGISTRY", {})
    results.experiment("fake", 1, {"smoke": C(), "cpu": C(), "gpu": C()})(lambda cfg, memo: {"v": 1})
    monkeypatch.setattr(verdicts, "CHAPTERS", {"fake": "chapters/x/fake"})
    (row,) = verdicts.book_claims()                  # no stored result yet: one row says so
    assert row["verdict"] == "not testable here" and "no result" in row["claim"]
    results.run("fake", "cpu")
    (row,) = verdicts.book_claims()
    assert (row["source"], row["where"], row["verdict"], row["preset"]) == ("Table 9", "net", "refuted", "cpu")
    assert verdicts.claim_table_rows([row])[0] == [
        "Table 9: x helps", "net", "**refuted**", "{doc}`/chapters/x/fake`"]


def test_grouped_joins_settings_and_combines_verdicts():
    rows = [{"doc": "d", "source": "S", "claim": "c", "where": "resnet8", "verdict": "reproduced"},
            {"doc": "d", "source": "S", "claim": "c", "where": "mlp", "verdict": "refuted"},
            {"doc": "d", "source": "S", "claim": "e", "where": "mlp", "verdict": "refuted"}]
    got = verdicts.grouped(rows)
    assert [(g["claim"], g["where"], g["verdict"]) for g in got] == [("c", "resnet8: reproduced; mlp: refuted", "partly"),
                                                                     ("e", "mlp", "refuted")]


def test_grouped_names_the_settings_it_could_not_judge():
    rows = [{"doc": "d", "source": "S", "claim": "c", "where": "α = 0.1", "verdict": "reproduced"},
            {"doc": "d", "source": "S", "claim": "c", "where": "α = 0.6", "verdict": "premise not met"}]
    (row,) = verdicts.grouped(rows)
    assert row["verdict"] == "reproduced" and row["where"] == "α = 0.1 (α = 0.6: premise not met)"


def test_grouped_names_each_setting_when_the_judged_settings_disagree():
    from lsutils.verdicts import grouped

    base = {"doc": "d", "source": "Figure 1", "claim": "c"}
    rows = grouped([{**base, "where": "resnet8", "verdict": "not resolved"},
                    {**base, "where": "mlp", "verdict": "refuted"},
                    {**base, "where": "cnn", "verdict": "premise not met"}])
    # refuted in one judged setting, not resolved in another: not a refutation of the claim
    assert rows[0]["verdict"] == "not resolved"
    assert rows[0]["where"] == "resnet8: not resolved; mlp: refuted (cnn: premise not met)"
    (same,) = grouped([{**base, "where": "resnet8", "verdict": "refuted"}, {**base, "where": "mlp", "verdict": "refuted"}])
    assert same["verdict"] == "refuted" and same["where"] == "resnet8, mlp"


# ----------------------------------------------------------------------------- on the stored results

def _stored_claims():
    rows = verdicts.book_claims()
    if all(r["preset"] == "—" for r in rows):
        import pytest

        pytest.skip("no stored results")
    return rows


def test_each_claim_is_judged_in_one_chapter_only():
    """One claim, one test, one verdict: no (source, claim) is judged on two pages, and Guo et al.'s
    "collapse is faster/sooner" is judged once (in accuracy_clustering; the collapse chapter links)."""
    rows = [r for r in _stored_claims() if r["preset"] != "—"]
    pages: dict[tuple, set] = {}
    for r in rows:
        pages.setdefault((r["source"], r["claim"]), set()).add(r["doc"])
    assert all(len(docs) == 1 for docs in pages.values()), {k: v for k, v in pages.items() if len(v) > 1}
    guo_speed = [r for r in rows if r["source"].startswith("Guo") and ("faster" in r["claim"] or "sooner" in r["claim"])]
    assert guo_speed and {r["experiment"] for r in guo_speed} == {"accuracy_clustering"}


def test_the_ufm_exploration_is_not_a_verdict_on_a_paper():
    """The conditioning of the smoothed UFM (Guo et al.'s statement was not retrieved) is the book's
    own exploration: no front-page row, and no verdict-styled box in the collapse chapter."""
    import json
    import re
    from pathlib import Path

    rows = _stored_claims()
    assert not [r for r in rows if re.search(r"UFM|condition", r["claim"])]
    nb = json.loads((Path(__file__).resolve().parent.parent / "chapters/after/collapse.ipynb").read_text())
    text = "".join("".join(c["source"]) + "".join("".join(o.get("data", {}).get("text/markdown", ""))
                                                   for o in c.get("outputs", [])) for c in nb["cells"])
    for box in re.findall(r"```\{admonition\}([^\n]*)\n:class: ([^\n]*)", text):
        assert not ("UFM" in box[0] and "verdict-" in box[1]), box


def test_front_page_verdicts_are_holm_corrected_within_each_experiment():
    """Every claim judged from an interval on the front page carries its Holm level (distillation's
    once its claims() ends with stats.holm_family)."""
    import importlib

    from lsutils import results, stats

    for name in verdicts.CHAPTERS:
        module = importlib.import_module(results.get(name).fn.__module__) if name not in (
            "choosing_eps", "alternatives") else None
        if module is None or name == "distillation":
            continue
        try:
            res = results.best(name)
        except results.ResultError:
            continue
        claims = module.claims(res.data, res.config)
        judged = [c for c in claims if c.get("diff") and c["verdict"] not in stats.UNJUDGED]
        assert all(c.get("holm_level") and c["holm_m"] == len(judged) for c in judged), name
        assert stats.holm_family(claims) == claims, name
