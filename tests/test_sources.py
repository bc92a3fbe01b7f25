"""The five source documents are cited by bibliography key, never as "source 00N" or "seed 00N"."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
SOURCES_PAGE = CHAPTERS / "appendix" / "sources.md"
KEYS = [f"source00{n}" for n in range(5)]

# "source 001", "Sources 000 and 002", "seeds 001 and 004", "Source 004's" — any case.
BARE_MENTION = re.compile(r"\b(?:source|seed)s? 00\d", re.IGNORECASE)
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")


def _pages():
    """(path, markdown text) for every Markdown page and every notebook's Markdown cells."""
    for path in sorted(CHAPTERS.rglob("*.md")):
        yield path, path.read_text(encoding="utf-8")
    for path in sorted(CHAPTERS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
        yield path, "\n".join(cells)
    for path in (ROOT / "intro.md", ROOT / "intro.ipynb"):
        if path.suffix == ".md" and path.exists():
            yield path, path.read_text(encoding="utf-8")
        elif path.exists():
            nb = json.loads(path.read_text(encoding="utf-8"))
            yield path, "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _bib_keys():
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    return set(re.findall(r"^@\w+\{([^,\s]+),", text, flags=re.MULTILINE))


def test_no_bare_source_mentions():
    offenders = []
    for path, text in _pages():
        if path == SOURCES_PAGE:
            continue
        for line in text.splitlines():
            if BARE_MENTION.search(line):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()[:100]}")
    assert not offenders, "cite the source documents by key ({cite}`source00N`):\n" + "\n".join(offenders)


def test_every_source_has_a_bib_entry_and_a_section():
    keys = _bib_keys()
    assert set(KEYS) <= keys, sorted(set(KEYS) - keys)
    page = SOURCES_PAGE.read_text(encoding="utf-8")
    for n, key in enumerate(KEYS):
        assert f"(source-00{n})=" in page
        assert f"{{cite}}`{key}`" in page


def test_every_cited_key_is_in_the_bib_file():
    keys = _bib_keys()
    missing = []
    for path, text in _pages():
        for group in CITE.findall(text):
            for key in group.split(","):
                if key.strip() not in keys:
                    missing.append(f"{path.relative_to(ROOT)}: {key.strip()}")
    assert not missing, missing


@pytest.mark.parametrize("page", ["sources.md", "bibliography.md"])
def test_appendix_pages_are_in_the_toc_and_their_doc_links_resolve(page):
    path = CHAPTERS / "appendix" / page
    assert f"chapters/appendix/{Path(page).stem}" in (ROOT / "_toc.yml").read_text(encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    for target in DOC.findall(text):
        resolved = (path.parent / target).resolve()
        assert any(resolved.with_suffix(ext).exists() for ext in (".md", ".ipynb")), target
    assert all(len(line) <= 120 for line in text.splitlines())


def test_one_citation_bibliography():
    """Exactly one {bibliography} that holds citation targets; a second listing the same keys warns under -W."""
    found = []
    for path, text in _pages():
        for block in re.findall(r"```\{bibliography\}[^\n]*\n(.*?)```", text, flags=re.DOTALL):
            if not re.search(r"^:list:\s*(bullet|enumerated)", block, flags=re.MULTILINE):
                found.append(str(path.relative_to(ROOT)))
    assert found == ["chapters/appendix/bibliography.md"], found
