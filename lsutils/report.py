"""How the book prints results: numbers in its style (true minus, thousands separators), summaries
over seeds, numbered tables, and the verdict boxes and claim rows of the reproduction chapters."""

from __future__ import annotations

import math
import numbers
import re
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
MINUS = "\u2212"  # the true minus sign: every negative number the book prints carries it
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(x: float, digits: int = 1) -> str:
    """'10⁻⁹' for 1e-9, '2 × 10⁻⁵' for 2e-5: ``x`` (positive) to ``digits`` significant digits."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa}{NBSP}×{NBSP}{power}"


def fmt_number(x: float, decimals: int | None = 2, *, sign: bool = False, scale: float = 1.0,
               floor: float | None = None) -> str:
    """One number in the book's style, the helper behind every table and verdict box.

    - ``decimals`` decimals after multiplying by ``scale`` (100 for percentages); an ``int``
      prints as an integer whatever ``decimals`` says, and ``decimals=None`` prints a float
      with as few digits as it needs (an integral float as an integer: "every 2 epochs");
    - a negative number carries the true minus sign U+2212 (“−0.12”), never a hyphen; with
      ``sign`` a positive one carries "+" (differences and their intervals);
    - a value that rounds to zero prints as 0 with its decimals and no sign ("0.000", never
      "−0.000" or "+0.000");
    - with ``floor``, a non-zero value smaller than it in magnitude prints as "< 10⁻⁹" (round-off
      residues that are zero in exact arithmetic);
    - NaN prints as "—" and infinities as "∞", "−∞".
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"x must be a real number, got {x!r}")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)
                                 or not 0 <= decimals <= 12):
        raise ValueError(f"decimals must be an integer in [0, 12] or None, got {decimals!r}")
    if isinstance(x, numbers.Integral) and scale == 1:
        value: float = int(x)
        text = str(abs(int(x)))
    else:
        value = float(x) * scale
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return (MINUS if value < 0 else "+" if sign else "") + "∞"
        if floor is not None and 0 < abs(value) < floor:
            return "<" + NBSP + _power_of_ten(floor)
        if decimals is not None:
            text = f"{abs(value):.{decimals}f}"
        elif value == round(value) and abs(value) < 1e15:
            text = str(int(abs(round(value))))
        else:
            text = f"{abs(value):.4g}"
            if "e" in text:   # 1.5e-05: scientific, written with a power of ten
                text = _power_of_ten(abs(value), 4)
    if not re.search(r"[1-9]", text):       # rounds to zero: no sign
        return text
    return (MINUS if value < 0 else "+" if sign else "") + text


# A number in running text: an optional sign, digits, an optional exponent; not part of a word,
# a version or a range ("ResNet-56", "512-512", "v1.2.3" are left alone).
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.\-−+])([-+−]?)(\d+(?:\.\d+)?)(?:e([-+]?\d+))?(?!\w|\.\d)")


def restyle_numbers(text: str) -> str:
    """``text`` with every number in the book's style (``fmt_number``), for numbers that were
    formatted elsewhere (a glued value's format spec, a hand-built table cell): a hyphen-minus
    sign becomes the true minus U+2212, a value that is zero at its decimals loses its sign
    ("-0.000" and "+0.000" become "0.000") and an exponent becomes a power of ten ("2.4e-05"
    becomes "2.4 × 10⁻⁵"). Digits and decimals are kept as they are."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")

    def one(m: re.Match) -> str:
        sign, digits, exponent = m.group(1), m.group(2), m.group(3)
        if exponent is not None:
            power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
            body = power if float(digits) == 1 else f"{digits}{NBSP}×{NBSP}{power}"
        else:
            body = digits
        if not re.search(r"[1-9]", digits):   # zero: no sign
            return body
        return {"-": MINUS, "−": MINUS, "+": "+", "": ""}[sign] + body
    return _NUMBER_IN_TEXT.sub(one, text)


def count_text(n: int) -> str:
    """A count as the book prints it: thousands set apart by a no-break space ('45 974',
    '10 000', '5 000'); below a thousand as it is ('919')."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"n must be an integer, got {n!r}")
    return (MINUS if n < 0 else "") + f"{abs(int(n)):,}".replace(",", NBSP)


def mean_std(values: Iterable[float], digits: int = 2, scale: float = 1.0) -> str:
    """'mean ± std' with ``digits`` decimals after multiplying by ``scale`` (100 for percentages),
    each number as ``fmt_number`` writes it; no-break spaces around ±, so that a table cell never
    wraps inside the number."""
    s = summarise(v * scale for v in values)
    return f"{fmt_number(s['mean'], digits)}{NBSP}±{NBSP}{fmt_number(s['std'], digits)}"


def seed_spread(values: Sequence[float], digits: int = 2, scale: float = 1.0) -> str:
    """A value over seeds as the book's tables show it: ``mean_std``'s 'mean ± std', but the
    value alone where every seed gave the same one (no '± 0.00'), and the std with as many more
    decimals as it needs (up to 6) where at ``digits`` it would read 0."""
    values = [scale * float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one value per seed, got none")
    s = summarise(values)
    if s["min"] == s["max"]:   # one seed, or every seed alike
        return fmt_number(values[0], digits)
    d = digits
    while round(s["std"], d) == 0 and d < 6:
        d += 1
    return f"{fmt_number(s['mean'], digits)}{NBSP}±{NBSP}{fmt_number(s['std'], d)}"


# The experiments' internal names for networks, data sets and settings, and the words a reader sees.
PLAIN = ((r"\bresnet(\d+)\b", r"ResNet-\1"), (r"\balexnet\b", "AlexNet"), (r"\bmlp\b", "MLP"),
         (r"\bfashion_mnist\b", "Fashion-MNIST"), (r"\bcifar(\d+)\b", r"CIFAR-\1"),
         (r"\bfull-data\b", "all training images"), (r"\bsmall-data\b", "a small training set"))
_CODE = re.compile(r"(`[^`]*`)")


def plain(text: str) -> str:
    """``text`` with every internal name of ``PLAIN`` in plain words ('resnet8 teachers' →
    'ResNet-8 teachers', 'full-data' → 'all training images'); code in backticks is left as is.
    Every table and verdict box of the book passes its text through it."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):     # the even parts are outside backticks
        for pattern, words in PLAIN:
            parts[i] = re.sub(pattern, words, parts[i])
    return "".join(parts)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table: ``header`` then one line per row, cells as ``str``; a row of another
    length than the header raises ``ValueError`` (Markdown would silently shift columns).
    ``align``, one letter per column ("l", "r" or "c"), aligns the columns (numbers right)."""
    header = [plain(str(h)) for h in header]
    if not header:
        raise ValueError("header must name at least one column")
    if align is None:
        rule = "|" + "---|" * len(header)
    elif len(align) != len(header) or set(align) - set("lrc"):
        raise ValueError(f"align must give one of 'l', 'r', 'c' per column ({len(header)}), got {align!r}")
    else:
        rule = "|" + "".join({"l": ":---|", "r": "---:|", "c": ":---:|"}[a] for a in align)
    lines = ["| " + " | ".join(header) + " |", rule]
    for i, row in enumerate(rows):
        cells = [plain(str(c)).replace("|", "\\|") for c in row]
        if len(cells) != len(header):
            raise ValueError(f"rows[{i}] has {len(cells)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def show_table(header: Sequence[str], rows: Iterable[Sequence[object]], caption: str | None = None,
               name: str | None = None, align: str | None = None):
    """``md_table`` as an IPython ``Markdown`` object: the last line of a notebook cell renders it.
    With ``caption`` and ``name`` it is a numbered, captioned table (``numbered_table``), as every
    table of the book's chapters is."""
    from IPython.display import Markdown

    if caption is None and name is None:
        return Markdown(md_table(header, rows, align))
    if not caption or not name:
        raise ValueError(f"caption and name go together: a numbered table needs both, got {caption!r}, {name!r}")
    return Markdown(numbered_table(caption, name, header, rows, align))


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


# What each outcome means, in plain words: the front page's key to the verdicts.
VERDICT_MEANINGS = {
    "reproduced": "our runs show the effect the paper reports, beyond what changing the seed does",
    "partly": "true in some settings and not in others, or true in part",
    "refuted": "on a setup faithful to the paper, our runs rule the claimed effect out",
    "not seen at this scale": "the effect did not appear, on a setup that departs from the paper's in a way "
                              "that could hide it (the departure is named)",
    "premise not met": "what the claim presupposes (say, a network that fits its training images) did not "
                       "hold, so the claim was not tested",
    "not resolved": "the runs cannot tell: they agree with the claim and with its absence",
    "not testable here": "nothing stored here can test it",
    "holds": "the advice held, by the rule its chapter states before the numbers",
    "does not hold": "the advice failed by that rule",
}


def verdict_badge(verdict: str) -> str:
    """``verdict`` inside an inline HTML span of its outcome's class (``verdict-badge`` plus
    ``verdict_style``), for a table cell that MyST renders: the same colour key as the verdict
    boxes. The outcome is bold, its qualification ('not seen at this scale (5 source classes)',
    'partly — holds at the optimum') is not."""
    said = outcome(verdict)
    return f'<span class="verdict-badge {verdict_style(verdict)}">**{said}**{verdict[len(said):]}</span>'


def interval(diff: dict, digits: int = 2, scale: float = 1.0) -> str:
    """'+0.12 [−0.30, +0.54]': the mean difference and its interval, signs shown (``fmt_number``:
    true minus signs, a bound that rounds to zero as '0.00'; a no-break space after the comma
    keeps the interval on one line)."""
    if not isinstance(diff, dict) or not {"mean", "low", "high"} <= set(diff):
        raise ValueError(f"diff must be a dict with mean, low and high (stats.paired_difference), got {diff!r}")

    def f(v: float) -> str:
        return fmt_number(v, digits, sign=True, scale=scale)
    return f"{f(diff['mean'])} [{f(diff['low'])},{NBSP}{f(diff['high'])}]"


def confidence(diff: dict) -> str:
    """'99.17 %': the confidence of a ``stats.paired_difference`` interval (95 % if it says none),
    to two decimals without trailing zeros."""
    c = diff.get("confidence", 0.95) if isinstance(diff, dict) else None
    if not isinstance(c, float) or not 0 < c < 1:
        raise ValueError(f"diff must be a paired_difference dict with a confidence in (0, 1), got {diff!r}")
    return f"{100 * c:.2f}".rstrip("0").rstrip(".") + NBSP + "%"


_COUNTED = re.compile(r"(epochs?|steps?|iterations?|runs?|seeds?)\b")


def claim_decimals(claim: dict, digits: int = 2) -> int:
    """The decimals a claim's numbers are shown with: ``claim["decimals"]`` if it says, else
    ``digits`` — except for a percentage (its measure says "(%)"), shown with 2 decimals as the
    tables show percentages, and a measure that counts (epochs, steps: its name starts with the
    unit, 'epochs until NC1 ≤ 1'), whose means over seeds show 1 decimal ('12.8 → 8.8'), or none
    when every number of the claim is a whole one ('2 → 2, Δ 0 [0, 0]')."""
    if not isinstance(claim, dict):
        raise ValueError(f"claim must be a claim dict (from an experiment's claims()), got {claim!r}")
    if claim.get("decimals") is not None:
        return int(claim["decimals"])
    if "(%)" in str(claim.get("measure", "")):   # percentages: 2 decimals, as in every table
        return 2
    if not _COUNTED.match(str(claim.get("measure", ""))):
        return digits
    diff = claim.get("diff") or {}
    values = [claim.get("hard"), claim.get("smoothed"), diff.get("mean"), diff.get("low"), diff.get("high")]
    values = [float(v) for v in values if isinstance(v, numbers.Real) and math.isfinite(v)]
    return 0 if all(abs(v - round(v)) < 1e-9 for v in values) else 1


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
    digits = claim_decimals(claim, digits)
    if not claim.get("holm_level"):
        return interval(diff, digits)
    return f"{interval(diff, digits)} at {confidence(diff)} (Holm{NBSP}{claim['holm_rank']}/{claim['holm_m']})"


def verdict_admonition(title: str, verdict: str, body: str) -> str:
    """A MyST admonition titled '<title>: <verdict>' in the verdict's own style; ``body`` is
    MyST Markdown. Rendered when a chapter displays it as Markdown (``nb_render_markdown_format:
    myst``). ``verdict`` is an outcome of ``VERDICT_STYLES``, optionally qualified."""
    return f"```{{admonition}} {plain(title)}: {verdict}\n:class: {verdict_style(verdict)}\n{plain(body.strip())}\n```"


def numbered_table(caption: str, name: str, header: Sequence[str], rows: Iterable[Sequence[object]],
                   align: str | None = None) -> str:
    """A numbered, captioned MyST table (``{table}``) that ``{numref}`` can cite by ``name``;
    ``align`` as in ``md_table``."""
    if not name or not name.replace("-", "").isalnum():
        raise ValueError(f"name must be a non-empty label of letters, digits and '-', got {name!r}")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"caption must be a non-empty string, got {caption!r}")
    # the directive's argument is one line; no-break spaces stay (str.split would take them too)
    caption = plain(re.sub(r"[ \t\r\n]+", " ", caption).strip())
    fence = "~~~" if "`" in caption else "```"   # a backtick fence cannot carry code in its caption
    return f"{fence}{{table}} {caption}\n:name: {name}\n\n{md_table(header, rows, align)}\n{fence}"


def setting_text(value: object) -> str:
    """A config value as a reader reads it: numbers in the book's style (``fmt_number``, as few
    digits as they need), tuples as comma-separated lists (“—” when empty), booleans as yes/no,
    internal names in plain words (``plain``: 'fashion_mnist' → 'Fashion-MNIST')."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(setting_text(v) for v in value) or "—"
    if isinstance(value, numbers.Real):
        return fmt_number(value, None)
    if isinstance(value, str):
        return plain(value)
    raise ValueError(f"value must be a number, string, bool or a tuple of them, got {type(value).__name__}")


def config_value(config: object, path: str) -> str:
    """The setting at the dotted attribute path ``path`` of a frozen experiment config, as
    ``setting_text`` writes it; a size of 0 (the whole set, by the configs' convention) reads "all"."""
    value = config
    for part in path.split("."):
        if not hasattr(value, part):
            raise ValueError(f"path: the config has no setting {path!r}")
        value = getattr(value, part)
    return "all" if path.endswith("size") and value == 0 else setting_text(value)


def config_table(config: object, fields: dict[str, str], caption: str, name: str) -> str:
    """A numbered "what is run" table of a frozen experiment config (``Result.spec``): one row per
    ``fields`` entry, the dotted attribute path of a setting mapped to its label in the chapter
    (``config_value`` writes the value)."""
    if not fields:
        raise ValueError("fields must name at least one setting (path -> label)")
    rows = [[label, config_value(config, path)] for path, label in fields.items()]
    return numbered_table(caption, name, ["setting", "value"], rows, align="ll")


def claim_rows(claims: Iterable[dict], digits: int = 2) -> list[list[str]]:
    """Rows (claim, network, α = 0, α = 0.1, Δ [interval] at its confidence, verdict) of ``claims``
    as the experiments' ``claims()`` return them (``claim_interval``: Holm-adjusted where judged)."""
    rows = []
    for c in claims:
        missing = {"source", "claim", "measure", "arch", "hard", "smoothed", "diff", "verdict"} - set(c)
        if missing:
            raise ValueError(f"claims must be the dicts an experiment's claims() returns; missing {sorted(missing)}")
        d = claim_decimals(c, digits)
        # a dash, not brackets: measures carry their own "(unit)"
        rows.append([f"{c['source']}: {c['claim']} — {c['measure']}", c["arch"], fmt_number(c["hard"], d),
                     fmt_number(c["smoothed"], d), claim_interval(c, digits), c["verdict"]])
    return rows


CLAIM_HEADER = ("claim — measure", "network", f"α{NBSP}={NBSP}0", f"α{NBSP}={NBSP}0.1",
                "Δ [interval] at its Holm confidence", "verdict")


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
    ``combined_verdict`` in the title, then one line per setting with its measure, the two arms
    (or, for a claim with a ``reference``, the one arm and the value the claim names),
    the paired interval at the confidence its verdict is read at (``claim_interval``) and its own
    verdict — with what its 95 % interval alone would say where Holm's correction changed it
    (labelled by network, and by claim where one network carries several)."""
    claims = list(claims)
    if not claims:
        raise ValueError("claims must hold at least one claim dict (from an experiment's claims())")
    labels = [c["arch"] for c in claims]
    if len(set(labels)) < len(labels):   # one network, several claims: the claim tells the lines apart
        labels = [f"{c['arch']}, {c['claim']}" for c in claims]
    verdict = combined_verdict([c["verdict"] for c in claims])
    lines = []
    for c, label in zip(claims, labels):
        diff = f", Δ {claim_interval(c, digits)}" if c.get("diff") else ""
        note = f" ({c['note']})" if c.get("note") else ""
        alone = ""
        if c.get("holm_level") and c.get("verdict_95") and c["verdict_95"] != c["verdict"]:
            alone = (f" (its 95{NBSP}% interval {interval(c['diff_95'], claim_decimals(c, digits))} alone "
                     f"would read *{c['verdict_95']}*)")
        d = claim_decimals(c, digits)
        sep = ": " if c["measure"][-1:].isdigit() else " "   # 'NC1 ≤ 1: 12.8 → 8.8', not '1 12.8'
        said = outcome(c["verdict"])   # bold on the verdict, not on its qualification
        # the title already says the qualification where this line's verdict is the box's
        qualification = "" if c["verdict"] == verdict else c["verdict"][len(said):]
        if "reference" in c:   # one arm against a fixed value the claim names, not a hard-target run
            arms = f"{fmt_number(c['smoothed'], d)} (the claim: {fmt_number(c['reference'], d)})"
        else:
            arms = f"{fmt_number(c['hard'], d)} → {fmt_number(c['smoothed'], d)}"
        lines.append(f"- {label}: {c['measure']}{sep}{arms}{diff}: **{said}**{qualification}{alone}{note}")
    return verdict_admonition(title, verdict, (body.strip() + "\n\n" if body.strip() else "") + "\n".join(lines))
