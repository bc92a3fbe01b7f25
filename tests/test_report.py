import numpy as np
import pytest

from lsutils import report
from lsutils.report import mean_std, summarise


def test_summarise_matches_numpy():
    xs = np.random.default_rng(0).normal(size=7)
    s = summarise(xs)
    assert s["mean"] == pytest.approx(xs.mean())
    assert s["std"] == pytest.approx(xs.std(ddof=1))
    assert (s["min"], s["max"], s["n"]) == (xs.min(), xs.max(), 7)


def test_single_value_and_empty():
    assert summarise([3.0])["std"] == 0.0
    with pytest.raises(ValueError, match="values"):
        summarise([])


def test_mean_std_format():
    assert mean_std([0.9, 0.92], digits=1, scale=100) == "91.0\u00a0±\u00a01.4"


def test_md_table_layout_and_length_check():
    from lsutils.report import md_table

    assert md_table(["a", "b"], [[1, "x|y"], (2.5, None)]).splitlines() == [
        "| a | b |", "|---|---|", "| 1 | x\\|y |", "| 2.5 | None |"]
    with pytest.raises(ValueError, match=r"rows\[0\] has 1 cells"):
        md_table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="header"):
        md_table([], [])


def test_provenance_rows_keep_the_dirty_flag(results_tmp, monkeypatch):
    from dataclasses import dataclass

    from lsutils import results

    @dataclass(frozen=True)
    class C:
        n: int = 1

    monkeypatch.setattr(results, "REGISTRY", {})
    monkeypatch.setattr(results, "git_commit", lambda: "abcdef0123456789+dirty")
    results.experiment("p", 1, {"smoke": C(), "cpu": C(), "gpu": C()})(lambda cfg, memo: {"x": 1})
    results.run("p", "cpu")
    rows = {r["preset"]: r for r in results.provenance_rows(results.REGISTRY.values())}
    assert rows["cpu"]["commit"] == "abcdef012345+dirty" and rows["cpu"]["state"] == "ok"
    assert rows["gpu"]["state"] == "missing" and rows["gpu"]["commit"] == ""


def test_interval_and_verdict_admonition():
    from lsutils.report import VERDICT_STYLES, interval, verdict_admonition

    assert interval({"mean": 0.1234, "low": -0.3, "high": 0.55}) == "+0.12 [−0.30,\u00a0+0.55]"
    assert interval({"mean": 0.01, "low": 0.0, "high": 0.02}, 1, 100) == "+1.0 [0.0,\u00a0+2.0]"   # zero unsigned
    box = verdict_admonition("Table 2", "refuted", "body *text*")
    assert box.splitlines() == ["```{admonition} Table 2: refuted", ":class: verdict-refuted", "body *text*", "```"]
    paper = [v for v in VERDICT_STYLES if v not in ("holds", "does not hold")]
    assert len({VERDICT_STYLES[v] for v in paper}) == len(paper)      # one style per outcome
    with pytest.raises(ValueError, match="verdict"):
        verdict_admonition("x", "maybe", "")


def test_verdict_style_reads_the_outcome_a_qualified_verdict_starts_with():
    from lsutils.report import verdict_style

    assert verdict_style("holds") == verdict_style("reproduced") == "verdict-reproduced"
    assert verdict_style("holds where the network memorises") == "verdict-reproduced"
    assert verdict_style("does not hold") == verdict_style("refuted") == "verdict-refuted"
    assert verdict_style("partly") == "verdict-partly"
    assert verdict_style("not testable here") == "verdict-untestable"
    assert verdict_style("not seen at this scale (5 source classes, not ImageNet's 1 000)") == "verdict-notseen"
    assert verdict_style("not seen at this scale") != verdict_style("refuted")
    for bad in ("holdsx", "mostly holds", "", "Holds"):
        with pytest.raises(ValueError, match="verdict must be one of"):
            verdict_style(bad)


def test_numbered_table_and_claim_rows():
    from lsutils.report import CLAIM_HEADER, claim_rows, numbered_table

    text = numbered_table("Accuracy.", "tbl-acc", ["a"], [[1]])
    assert text.splitlines()[:2] == ["```{table} Accuracy.", ":name: tbl-acc"] and text.endswith("```")
    with pytest.raises(ValueError, match="name"):
        numbered_table("x", "bad name", ["a"], [])
    claim = {"source": "Table 2", "claim": "harmless", "measure": "acc", "arch": "net", "hard": 88.0,
             "smoothed": 88.1, "diff": {"mean": 0.1, "low": -0.2, "high": 0.4}, "verdict": "reproduced"}
    rows = claim_rows([claim, {**claim, "diff": None, "verdict": "not testable here"}])
    assert len(rows[0]) == len(CLAIM_HEADER)
    assert rows[0][4] == "+0.10 [−0.20,\u00a0+0.40]" and rows[1][4] == "—"   # no Holm family: as it is


def test_combined_verdict():
    from lsutils.report import combined_verdict

    assert combined_verdict(["reproduced", "reproduced"]) == "reproduced"
    assert combined_verdict(["reproduced", "not testable here"]) == "reproduced"   # unjudged do not dilute
    assert combined_verdict(["reproduced", "premise not met", "refuted"]) == "partly"
    assert combined_verdict(["premise not met", "not testable here"]) == "premise not met"
    assert combined_verdict(["not testable here"]) == "not testable here"
    # "refuted" only where every judged setting says so; mixed negatives are not resolved
    assert combined_verdict(["not resolved", "refuted"]) == "not resolved"
    assert combined_verdict(["refuted", "refuted", "premise not met"]) == "refuted"
    seen = "not seen at this scale (5 source classes, not ImageNet's 1 000)"
    assert combined_verdict([seen, seen, "premise not met"]) == seen
    assert combined_verdict([seen, "not seen at this scale (an MLP)"]) == "not seen at this scale"
    assert combined_verdict([seen, "refuted"]) == "not resolved"
    assert combined_verdict([seen, "reproduced"]) == "partly"
    assert combined_verdict(["not resolved", "not testable here"]) == "not resolved"
    with pytest.raises(ValueError, match="verdicts"):
        combined_verdict(["maybe"])
    with pytest.raises(ValueError, match="verdicts"):
        combined_verdict([])
    # the Practice part's vocabulary, qualified or not
    assert combined_verdict(["holds here"]) == "holds here"
    assert combined_verdict(["holds here", "holds"]) == "holds"
    assert combined_verdict(["holds", "does not hold"]) == "partly"
    assert combined_verdict(["does not hold", "does not hold", "premise not met"]) == "does not hold"
    assert combined_verdict(["does not hold", "not resolved"]) == "not resolved"


def test_claims_admonition_combines_and_lists_every_setting():
    diff = {"mean": 0.5, "low": 0.1, "high": 0.9}
    claims = [{"arch": "a", "measure": "m", "hard": 1.0, "smoothed": 1.5, "diff": diff, "verdict": "reproduced"},
              {"arch": "b", "measure": "m", "hard": 1.0, "smoothed": 1.0, "diff": None, "verdict": "not testable here",
               "note": "why"}]
    text = report.claims_admonition("Claim", claims, "Body.")
    assert text.startswith("```{admonition} Claim: reproduced\n:class: verdict-reproduced")
    assert "- a: m 1.00 → 1.50, Δ +0.50 [+0.10,\u00a0+0.90]: **reproduced**" in text
    assert "- b: m 1.00 → 1.00: **not testable here** (why)" in text and "Body." in text


def test_claims_admonition_shows_a_one_arm_claim_against_the_value_it_names():
    diff = {"mean": 0.7, "low": 0.6, "high": 0.8}
    claim = {"arch": "a", "measure": "nats", "hard": 0.0, "smoothed": 0.7, "reference": 0.0, "diff": diff,
             "verdict": "refuted"}
    text = report.claims_admonition("Claim", [claim])
    assert "- a: nats 0.70 (the claim: 0.00), Δ +0.70" in text and "→" not in text


def test_show_table_is_md_table_for_a_notebook():
    from lsutils.report import md_table, show_table

    shown = show_table(["a", "b"], [[1, "x|y"]])
    assert shown.data == md_table(["a", "b"], [[1, "x|y"]]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"


def test_claims_admonition_tells_apart_several_claims_on_one_network():
    from lsutils.report import claims_admonition

    base = {"arch": "resnet8", "measure": "nats", "hard": 1.0, "smoothed": 0.9, "diff": None, "verdict": "reproduced"}
    text = claims_admonition("Figure 6", [{**base, "claim": "lower (L = 5)"}, {**base, "claim": "lower (L = 50)"}])
    assert "- ResNet-8, lower (L = 5): nats" in text and "- ResNet-8, lower (L = 50): nats" in text
    one = claims_admonition("Table 2", [{**base, "claim": "x"}, {**base, "arch": "mlp", "claim": "x"}])
    assert "- ResNet-8: nats" in one and "- MLP: nats" in one


def test_claim_interval_shows_the_holm_adjusted_interval_and_what_95_percent_alone_says():
    from lsutils import stats
    from lsutils.report import NBSP, claim_interval, claims_admonition, confidence

    zero = [0.0] * 5
    mk = lambda key, b: {"key": key, "arch": key, "measure": "m", "hard": 0.0, "smoothed": sum(b) / 5,  # noqa: E731
                         "kind": "effect", "expected_sign": 1,
                         **dict(zip(("diff", "verdict"), stats.judge_paired(zero, b, True, "effect", 1)))}
    fam = stats.holm_family([mk("weak", [0.3, 0.1, 0.2, 0.4, 0.05]), mk("strong", [1.0, 1.1, 0.9, 1.05, 0.95]),
                             mk("null", [0.1, -0.1, 0.05, -0.05, 0.0])])
    weak = fam[0]
    assert confidence(weak["diff"]) == f"97.5{NBSP}%" and confidence({"low": 0, "high": 1}) == f"95{NBSP}%"
    assert claim_interval(weak) == f"{report.interval(weak['diff'])} at 97.5{NBSP}% (Holm{NBSP}2/3)"
    assert claim_interval({"diff": None}) == "—"
    assert claim_interval({**weak, "holm_level": None}) == report.interval(weak["diff"])   # not in a family
    text = claims_admonition("Claim", fam)
    assert text.startswith("```{admonition} Claim: partly")
    assert (f"- weak: m 0.00 → 0.21, Δ {report.interval(weak['diff'])} at 97.5{NBSP}% (Holm{NBSP}2/3): "
            f"**not resolved** (its 95{NBSP}% interval {report.interval(weak['diff_95'])} alone would read "
            f"*reproduced*)") in text
    assert "- strong: " in text and "would read" not in text.split("- strong: ")[1].split("\n")[0]


def test_every_verdict_style_has_its_own_colour_in_book_css():
    """Each class of VERDICT_STYLES is styled in _static/book.css, with a border colour no other
    verdict and no sphinx-proof box (theorem, lemma, …) uses."""
    import re
    from pathlib import Path

    from lsutils.report import VERDICT_STYLES

    css = (Path(__file__).resolve().parent.parent / "_static" / "book.css").read_text()
    colours = {}
    for cls in set(VERDICT_STYLES.values()):
        m = re.search(rf"div\.admonition\.{cls} {{ border-color: (#[0-9a-f]{{6}}); }}", css)
        assert m, f"{cls} has no border colour in book.css"
        colours[cls] = m.group(1)
    assert len(set(colours.values())) == len(colours)
    proof = pytest.importorskip("sphinx_proof")
    text = (Path(proof.__file__).parent / "_static" / "proof.css").read_text()
    used = {"#%02x%02x%02x" % tuple(int(v) for v in m) for m in re.findall(r"rgba?\((\d+), ?(\d+), ?(\d+)", text)}
    used |= {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}", text)}
    assert colours["verdict-notseen"] not in used


def test_config_table_reads_the_declared_config():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Train:
        epochs: float = 100.0
        lr: float = 0.05
        flip: bool = False

    @dataclass(frozen=True)
    class Cfg:
        hidden: tuple = (1200, 1200)
        eps: tuple = (-0.1, 0.0)
        train: Train = Train()

    table = report.config_table(Cfg(), {"hidden": "hidden units", "train.epochs": "epochs", "eps": "ε",
                                        "train.flip": "flips"}, "What is run.", "tbl-x")
    assert "| hidden units | 1200, 1200 |" in table and "| epochs | 100 |" in table
    assert "| ε | \u22120.1, 0 |" in table and "| flips | no |" in table and ":name: tbl-x" in table
    assert report.setting_text(()) == "—" and report.setting_text("fashion_mnist") == "Fashion-MNIST"
    assert report.plain("resnet8 and `models.mlp` on cifar10") == "ResNet-8 and `models.mlp` on CIFAR-10"
    assert "| MLP 256 |" in report.md_table(["net"], [["mlp 256"]])
    assert report.config_value(Cfg(), "train.epochs") == "100"
    assert report.config_value(Cfg(train=Train(epochs=0.5)), "train.epochs") == "0.5"
    with pytest.raises(ValueError, match="train.lr2"):
        report.config_table(Cfg(), {"train.lr2": "lr"}, "c", "tbl-x")
    with pytest.raises(ValueError, match="value"):
        report.setting_text({"a": 1})


def test_claims_admonition_says_a_qualification_once():
    """The box's title carries the departure; a line whose verdict is the box's does not repeat it."""
    diff = {"mean": 0.7, "low": 0.6, "high": 0.8}
    v = "not seen at this scale (a small pool)"
    base = {"measure": "nats", "hard": 1.0, "smoothed": 1.7, "diff": diff, "verdict": v}
    same = report.claims_admonition("Claim", [{**base, "arch": "a"}, {**base, "arch": "b"}])
    assert same.count("a small pool") == 1 and "- a: nats" in same and ": **not seen at this scale**" in same
    mixed = report.claims_admonition("Claim", [{**base, "arch": "a"}, {**base, "arch": "b", "verdict": "refuted"}])
    assert "**not seen at this scale** (a small pool)" in mixed


def test_seed_spread_never_shows_a_spread_of_zero():
    """Against mean_std and fmt_number: the same 'mean ± std' where the std shows at ``digits``,
    the value alone where every seed agrees, and more decimals where the std would read 0."""
    assert report.seed_spread([1.0, 2.0, 3.0]) == report.mean_std([1.0, 2.0, 3.0]) == "2.00\u00a0±\u00a01.00"
    assert report.seed_spread([0.913, 0.913, 0.913], 2, 100) == report.fmt_number(91.3, 2) == "91.30"
    assert report.seed_spread([0.5]) == "0.50"
    assert report.seed_spread([0.02920, 0.02925, 0.02923], 4) == "0.0292\u00a0±\u00a00.00003"
    with pytest.raises(ValueError, match="values"):
        report.seed_spread([])
