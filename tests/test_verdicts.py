import re
from dataclasses import dataclass

import pytest

from lsutils import experiments, report, results, verdicts


@dataclass(frozen=True)
class C:
    n: int = 1


def test_book_claims_reads_each_experiments_claims(results_tmp, monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    claims = lambda data, config: [{"source": "Table 9", "claim": "x helps", "verdict": "refuted",  # noqa: E731
                                    "arch": "net", "n": config["n"]}]
    exp = results.declare("fake", 1, {"smoke": C(), "cpu": C(), "gpu": C()}, lambda cfg, memo: {"v": 1},
                          page="chapters/x/fake", claims=claims)
    monkeypatch.setattr(experiments, "EXPERIMENTS", (exp,))
    (row,) = verdicts.book_claims()                  # no stored result yet: one row says so
    assert row["verdict"] == "not testable here" and "no result" in row["claim"]
    exp.run("cpu")
    (row,) = verdicts.book_claims()
    assert (row["source"], row["where"], row["verdict"], row["preset"]) == ("Table 9", "net", "refuted", "cpu")
    assert verdicts.claim_table_rows([row])[0] == [
        "Table 9: x helps", "net", '<span class="verdict-badge verdict-refuted">**refuted**</span>',
        "{doc}`fake </chapters/x/fake>`"]


def test_a_chapter_may_judge_several_experiments_at_once(results_tmp, monkeypatch):
    """An experiment that reads others' results too: its claims() receives data and config keyed
    by experiment name; its sections give each claim its section."""
    seen = {}

    def claims(data, config):
        seen.update(data=data, config=config)
        return [{"key": "k", "source": "Tutorials", "claim": "x helps", "setting": "mlp, fashion_mnist",
                 "verdict": "holds"}]

    monkeypatch.setattr(results, "REGISTRY", {})
    b = results.declare("fake_b", 1, {p: C(2) for p in results.PRESETS}, lambda cfg, memo: {"v": 2},
                        page="chapters/x/fake")
    a = results.declare("fake_a", 1, {p: C(1) for p in results.PRESETS}, lambda cfg, memo: {"v": 1},
                        page="chapters/x/fake", claims=claims, sections={"k": "sec-fake"}, reads=("fake_b",))
    monkeypatch.setattr(experiments, "EXPERIMENTS", (a, b))
    a.run("cpu")
    (row,) = verdicts.book_claims()                  # one of the two is missing: one row says so
    assert row["verdict"] == "not testable here" and "fake_b" in row["claim"]
    b.run("cpu")
    (row,) = verdicts.book_claims()
    assert seen["data"] == {"fake_a": {"v": 1}, "fake_b": {"v": 2}}
    assert seen["config"] == {"fake_a": {"n": 1}, "fake_b": {"n": 2}}
    assert (row["experiment"], row["key"], row["section"], row["preset"]) == ("fake_a+fake_b", "k", "sec-fake", "cpu")
    assert verdicts.claim_table_rows([row])[0] == [
        "Tutorials: x helps", "MLP, Fashion-MNIST", '<span class="verdict-badge verdict-reproduced">**holds**</span>',
        "{ref}`fake <sec-fake>`"]


def test_plain_words_for_internal_names():
    assert verdicts.plain("resnet8 teachers, mlp students") == "ResNet-8 teachers, MLP students"
    assert verdicts.plain("full-data, small-data on fashion_mnist") == (
        "all training images, a small training set on Fashion-MNIST")
    assert verdicts.plain("resnet56 (alexnet: premise not met), cifar10") == (
        "ResNet-56 (AlexNet: premise not met), CIFAR-10")
    assert verdicts.plain("MLP, a 2 %-positive binary task") == "MLP, a 2 %-positive binary task"


def test_tally_counts_outcomes_in_the_verdicts_order():
    rows = [{"doc": "d", "source": "S", "claim": c, "where": "w", "verdict": v}
            for c, v in (("a", "holds here"), ("b", "reproduced"), ("c", "not seen at this scale (5 classes)"),
                         ("d", "reproduced"), ("e", "does not hold — a reason"))]
    assert verdicts.tally(rows) == {"reproduced": 2, "not seen at this scale": 1, "holds": 1, "does not hold": 1}
    assert list(verdicts.tally(rows)) == ["reproduced", "not seen at this scale", "holds", "does not hold"]
    assert verdicts.tally([]) == {}


def test_headlines_pick_the_named_claims_in_order(monkeypatch):
    monkeypatch.setattr(results, "REGISTRY", {})
    declared = [results.declare(name, 1, {p: C() for p in results.PRESETS}, lambda cfg, memo: {},
                                page=f"chapters/x/{name}", claims=lambda d, c: [], headlines=words)
                for name, words in (("b", {"k2": "Second, plainly"}), ("a", {"k1": "First, plainly"}),
                                    ("gone", {"k": "Not stored"}))]
    monkeypatch.setattr(experiments, "EXPERIMENTS", tuple(declared))
    rows = [{"experiment": "a", "key": "k1", "doc": "chapters/reproduction/a", "source": "Table 2", "claim": "c1",
             "where": "mlp", "verdict": "reproduced"},
            {"experiment": "b", "key": "k2", "doc": "chapters/after/b", "source": "Xia et al. (2025)", "claim": "c2",
             "where": "α = 0.1", "verdict": "partly"}]
    got = verdicts.headlines(rows)
    assert [(h["headline"], h["who"]) for h in got] == [("Second, plainly", "Xia et al. (2025)"),
                                                        ("First, plainly", "Müller et al. (2019), Table 2")]


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
    from lsutils import stats

    for exp in experiments.judged():
        name = exp.name
        if exp.part == "practice" or name == "distillation":
            continue   # the Practice part's rules read means over seeds, not intervals
        try:
            res = exp.best()
        except results.ResultError:
            continue
        claims = exp.claims(res.data, res.config)
        judged = [c for c in claims if c.get("diff") and c["verdict"] not in stats.UNJUDGED]
        assert all(c.get("holm_level") and c["holm_m"] == len(judged) for c in judged), name
        assert stats.holm_family(claims) == claims, name


def test_every_headline_is_a_stored_claim():
    """Every declared headline names a claim that exists (an experiment without a stored result
    cannot say)."""
    rows = _stored_claims()
    keys = {(r["experiment"], r["key"]) for r in rows}
    stored = {r["experiment"] for r in rows if r["preset"] != "—"}
    named = {(e.name, k) for e in experiments.judged() for k in e.headlines if e.name in stored}
    assert named <= keys, named - keys
    assert len(verdicts.headlines(verdicts.grouped(rows))) == len(named)


def test_every_claim_of_a_chapter_with_sections_has_one_and_the_chapter_labels_it():
    """An experiment's declared sections cover each of its claims, and each label stands in its
    chapter's source (the built pages are checked by tests/test_site.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for r in _stored_claims():
        if r["preset"] == "—":
            continue
        if not results.get(r["experiment"].split("+")[0]).sections:
            assert r["section"] is None
            continue
        assert r["section"], (r["experiment"], r["key"])
        source = next(p for p in (root / f"{r['doc']}.ipynb", root / f"{r['doc']}.md") if p.exists())
        assert f"({r['section']})=" in source.read_text(encoding="utf-8"), (r["doc"], r["section"])


def test_no_internal_name_reaches_a_reader():
    """The claim tables show plain words: no resnet8, mlp, fashion_mnist or full-data."""
    internal = re.compile(r"\b(resnet\d+|alexnet|mlp|fashion_mnist|cifar\d+|full-data|small-data)\b")
    rows = verdicts.claim_table_rows(_stored_claims())
    assert not [row for row in rows if internal.search(" ".join(row[:2]))]


def test_in_short_lists_each_claim_of_a_chapter_once_with_its_verdict_in_bold():
    page = "chapters/reproduction/accuracy_clustering"
    rows = verdicts.grouped(verdicts.book_claims(page))
    text = verdicts.in_short(page)
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(rows) >= 4
    for row, line in zip(rows, bullets):
        assert row["claim"] in line and f"**{report.outcome(row['verdict'])}**" in line
        assert line.startswith("- Müller et al. (2019), ") or "et al." in row["source"]
    assert all(r["doc"] == page for r in verdicts.book_claims(page))
    with pytest.raises(ValueError, match="page"):
        verdicts.in_short("chapters/theory/targets")


def test_in_short_keeps_a_verdicts_qualification_next_to_it():
    """'**holds** as advice; it changed 1 of 15 choices (setting)', never the setting splitting
    the verdict from its own qualification."""
    bullets = [line for line in verdicts.in_short("chapters/practice/choosing_eps").splitlines()
               if line.startswith("- ")]
    qualified = [line for line in bullets if "**holds** as advice" in line]
    assert qualified, bullets
    assert all(re.search(r"\*\*holds\*\* as advice[^(]*\(", line) for line in qualified), qualified
