"""The book speaks of label smoothing, not of the machines or services that built or computed it.

Every page source (Markdown pages, notebooks' Markdown and code cells and their stored text outputs, the
intro) is searched for wording about where or how the book was computed; and every paper in the
bibliography carries a link (url or doi).
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a page must never say: a machine-lending service's limits, its output folder, the hash-named copies
# of the source documents.
FORBIDDEN = {
    "the $OUT folder": re.compile(r"\$OUT\b"),
    "'lent'": re.compile(r"\blent\b", re.IGNORECASE),
    "a hash-named file": re.compile(r"\b\d{3}_[0-9a-f]{16}\b"),
    "'16 MiB'": re.compile(r"\b16\s*MiB\b"),
    "'H200'": re.compile(r"\bH200\b", re.IGNORECASE),
    "'device time'": re.compile(r"\bdevice[\s-]+time\b", re.IGNORECASE),
    "'sandbox'": re.compile(r"\bsandbox", re.IGNORECASE),
}


def _text_outputs(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            yield "".join(out.get("text", ""))
        for mime in ("text/markdown", "text/plain", "text/html"):
            value = out.get("data", {}).get(mime)
            if value:
                yield "".join(value)


def _sources():
    """(label, text) for every page source of the book."""
    pages = sorted((ROOT / "chapters").rglob("*.md")) + sorted((ROOT / "chapters").rglob("*.ipynb"))
    pages += [p for p in (ROOT / "intro.md", ROOT / "intro.ipynb") if p.exists()]
    for path in pages:
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        if path.suffix == ".md":
            yield str(rel), path.read_text(encoding="utf-8")
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] in ("markdown", "code"):
                yield f"{rel} cell {i}", "".join(cell["source"])
            for text in _text_outputs(cell):
                yield f"{rel} cell {i} output", text


SOURCES = list(_sources())


def test_pages_were_found():
    labels = {label.split(" ")[0] for label, _ in SOURCES}
    assert {"intro.ipynb", "chapters/appendix/sources.md", "chapters/appendix/gpu.ipynb",
            "chapters/appendix/provenance.ipynb"} <= labels


@pytest.mark.parametrize("what", sorted(FORBIDDEN))
def test_no_machine_service_wording(what):
    pattern = FORBIDDEN[what]
    offenders = [f"{label}: …{text[max(m.start() - 40, 0):m.end() + 40]!s}…".replace("\n", " ")
                 for label, text in SOURCES for m in pattern.finditer(text)]
    assert not offenders, f"{what} in the book's pages:\n" + "\n".join(offenders[:20])


@pytest.mark.parametrize("text, hits", [
    ("results come back in $OUT", True), ("the 8 minutes a task is lent", True),
    ("saved as 003_817c73d2997a655b.txt", True), ("checked against the 16 MiB limit", True),
    ("one H200 GPU", True), ("the device time left", True), ("in the sandbox", True),
    ("an excellent, relentless OUTPUT of 16 MiBs on device timers", False), ("K = 200, ε = 0.1", False),
])
def test_the_patterns(text, hits):
    assert any(p.search(text) for p in FORBIDDEN.values()) == hits


# ----------------------------------------------------------------------------- the bibliography

def _bib_entries():
    """(type, key, body) of every entry of references.bib."""
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    starts = [m for m in re.finditer(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE)]
    for m, nxt in zip(starts, starts[1:] + [None]):
        yield m.group(1).lower(), m.group(2), text[m.end():nxt.start() if nxt else len(text)]


def _field(body, name):
    m = re.search(rf"^\s*{name}\s*=\s*\{{([^}}]*)\}}", body, flags=re.MULTILINE | re.IGNORECASE)
    return m.group(1).strip() if m else None


def test_every_paper_has_a_url_or_doi():
    papers = [(kind, key, body) for kind, key, body in _bib_entries() if kind in ("inproceedings", "article")]
    assert len(papers) >= 10, [key for _, key, _ in papers]
    missing = [key for _, key, body in papers if not (_field(body, "url") or _field(body, "doi"))]
    assert not missing, f"papers without a url or doi: {missing}"


def test_links_are_well_formed():
    for _, key, body in _bib_entries():
        url, doi = _field(body, "url"), _field(body, "doi")
        if url:
            assert re.fullmatch(r"https://\S+", url), (key, url)
            if "arxiv.org" in url:
                assert re.fullmatch(r"https://arxiv\.org/abs/\d{4}\.\d{4,5}", url), (key, url)
        if doi:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", doi), (key, doi)


def test_no_identifier_is_given_twice():
    seen = {}
    for _, key, body in _bib_entries():
        for ident in filter(None, (_field(body, "url"), _field(body, "doi"))):
            assert ident not in seen, f"{key} and {seen[ident]} both point to {ident}"
            seen[ident] = key


def test_one_citation_style():
    """Papers and source documents are cited alike, by author (or title) and year, never by a bare key."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    assert config["bibtex_reference_style"].startswith("author_year"), config.get("bibtex_reference_style")
    for _, key, body in _bib_entries():
        assert _field(body, "key") is None, f"{key}: a key field would label the entry by it, not by author"
        assert _field(body, "author") or _field(body, "title"), key


INTERNAL = re.compile(r"\b(resnet\d+|alexnet|mlp|fashion_mnist|cifar\d+)\b")


def test_no_internal_names_reach_a_reader():
    """What the chapters render from their outputs (tables, verdict boxes, glued text) names
    networks and data sets in plain words (``report.plain``), never by the code's names;
    code in backticks aside."""
    found = []
    for path in [ROOT / "intro.ipynb", *sorted((ROOT / "chapters").rglob("*.ipynb"))]:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                for mime in ("text/markdown", "application/papermill.record/text/plain",
                             "application/papermill.record/text/markdown"):
                    text = re.sub(r"`[^`]*`", " ", "".join(data.get(mime, "")))
                    found += [f"{path.relative_to(ROOT)} cell {i}: {m.group(0)}" for m in INTERNAL.finditer(text)]
    assert not found, found
