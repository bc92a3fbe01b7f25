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
    assert rows[0]["verdict"] == "refuted"
    assert rows[0]["where"] == "resnet8: not resolved; mlp: refuted (cnn: premise not met)"
