"""What a reader sees of the notebooks' code: no visible line wider than the code box."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in [ROOT / "intro.ipynb", *(ROOT / "chapters").rglob("*.ipynb")]
                   if ".ipynb_checkpoints" not in p.parts)
HIDDEN = {"remove-input", "remove-cell", "hide-input", "hide-cell"}
MAX_VISIBLE = 88   # characters the theme's code box shows at 1400 px without scrolling


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_no_visible_code_line_is_wider_than_the_code_box(path):
    long = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code" or HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
            continue
        long += [f"cell {i}: {line!r}" for line in "".join(cell["source"]).splitlines()
                 if len(line) > MAX_VISIBLE]
    assert not long, f"{len(long)} visible code lines over {MAX_VISIBLE} characters:\n" + "\n".join(long[:10])


def test_the_theorems_page_lists_every_numbered_result():
    """chapters/appendix/theorems.md names every labelled definition, theorem, proposition, lemma and
    corollary of the chapters (it replaces sphinx-proof's index of bare labels)."""
    import re

    page = (ROOT / "chapters" / "appendix" / "theorems.md").read_text()
    assert "{prf:ref}`" in page
    labels = [m.group(1) for path in NOTEBOOKS for cell in json.loads(path.read_text())["cells"]
              if cell["cell_type"] == "markdown"
              for m in re.finditer(r"```\{prf:\w+\}.*\n:label: (\S+)", "".join(cell["source"]))]
    assert len(labels) >= 16
    missing = [label for label in labels if f"<{label}>`" not in page]   # {prf:ref}`Title <label>`
    assert not missing, f"chapters/appendix/theorems.md does not list {missing}"
