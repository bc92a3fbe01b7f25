"""Every number in the chapters' prose next to "%", "epochs" or "×" is computed (myst-nb glue), or is
one of the allowed ones below: a convention (95 % intervals), a number of the paper or of a source
document the book quotes, or a design constant of an experiment that its text names."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p for p in [ROOT / "intro.ipynb", *(ROOT / "chapters").rglob("*.ipynb"),
                           *(ROOT / "chapters").rglob("*.md")] if ".ipynb_checkpoints" not in p.parts)
NUMBER = re.compile(r"(?<![\w.{`$\\-])\d+(?:[.,]\d+)?\s?(?:%|percent\b|epochs?\b|×|times\b)")
HIDDEN = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|```.*?```|`[^`]*`", re.S)   # math, code, roles' targets

EVERYWHERE = {"95 %"}   # the confidence level of every interval the book shows
ALLOWED = {
    "chapters/appendix/sources.md": {"7.5 %"},                            # source 003's own number
    "chapters/practice/choosing_eps.ipynb": {"1.8 %", "98 %", "2 %"},     # the guide's prevalence; the task's
    "chapters/practice/label_noise.ipynb": {"40 %"},                      # the noise rates of the design
    "chapters/reproduction/calibration.ipynb": {"164 epochs",             # the paper's 64k steps of 128
                                                "100 %", "1 %",           # a definition; an example
                                                "5.6 %"},                 # an edge of the log-spaced bins
    "chapters/reproduction/distillation_mnist.ipynb": {"0.4 ×", "0.6 ×"},  # the paper's student loss
    "chapters/after/selective.ipynb": {"30 epochs"},                      # the recipe before the change
}


def typed_numbers(texts: list[str], allowed: set[str]) -> list[str]:
    found = [" ".join(m.group(0).split()) for text in texts for m in NUMBER.finditer(HIDDEN.sub(" ", text))]
    return [f for f in found if f not in EVERYWHERE | allowed]


def prose(path: Path) -> list[str]:
    if path.suffix == ".md":
        return [path.read_text()]
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_numbers_in_prose_are_computed(path):
    typed = typed_numbers(prose(path), ALLOWED.get(path.relative_to(ROOT).as_posix(), set()))
    assert not typed, f"numbers typed into the prose (glue them, or allow them with a reason): {typed}"


def test_the_check_catches_a_typed_measurement():
    text = ("The network fits 97 % of its images after 20 epochs, 2× faster; {glue:text}`fit:.1f` % "
            "glued, $10 \\times$ in math, `40 epochs` in code and 95 % intervals are fine.")
    assert typed_numbers([text], set()) == ["97 %", "20 epochs", "2×"]
