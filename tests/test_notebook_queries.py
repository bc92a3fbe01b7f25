"""Chapters ask their stored runs as a table (``lsutils.table.Runs``, ``Result.spec``), not by walking
nested dicts: no chained string-key lookup (``r["test"]["t1"]["ece"]``) in any notebook's code, and
few string-key lookups in all."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in [ROOT / "intro.ipynb", *(ROOT / "chapters").rglob("*.ipynb")]
                   if ".ipynb_checkpoints" not in p.parts)
KEYED = re.compile(r"""\[\s*(["'])[^"'\]\n]+\1\s*\]""")
CHAINED = re.compile(r"""(?:\[\s*(["'])[^"'\]\n]+\1\s*\]\s*){2,}""")
BUDGET = 40   # string-key lookups left in all notebooks' code (a few per chapter at most)


def code(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "code")


def test_no_chained_lookups():
    chained = {p.relative_to(ROOT).as_posix(): [m.group(0) for m in CHAINED.finditer(code(p))]
               for p in NOTEBOOKS}
    assert not {k: v for k, v in chained.items() if v}, "query runs through lsutils.table instead"


def test_few_keyed_lookups_in_all():
    counts = {p.relative_to(ROOT).as_posix(): len(KEYED.findall(code(p))) for p in NOTEBOOKS}
    assert sum(counts.values()) <= BUDGET, sorted(counts.items(), key=lambda kv: -kv[1])[:8]


def test_the_patterns_catch_what_they_should():
    assert CHAINED.findall('x = r["test"]["t1"] + c[\'a\'] ["b"]') and not CHAINED.findall('r["a"][0]["b"]')
    assert len(KEYED.findall('r["a"], s[\'b\'], t[k]')) == 2
