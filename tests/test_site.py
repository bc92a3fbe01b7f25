"""The rendered site is offline-first: nothing is loaded from another host.

Runs after `jupyter-book build` (make test does that); fails if the site has not been built.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest

HTML = Path(__file__).resolve().parent.parent / "_build" / "html"


class _Loads(HTMLParser):
    """Collect every URL the page would fetch at load: scripts, stylesheets, fonts, icons, iframes."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {
                "stylesheet", "preload", "icon", "modulepreload", "prefetch"}:
            self.urls.append(a["href"])


def _external(url: str) -> bool:
    u = urlparse(url)
    return bool(u.scheme in ("http", "https") or url.startswith("//"))


def test_the_checker_catches_external_loads():
    parser = _Loads()
    parser.feed('<script src="https://cdn.example.org/mathjax.js"></script>'
                '<link rel="stylesheet" href="//fonts.example.org/css"><script src="_static/local.js"></script>'
                '<link rel="canonical" href="https://example.org/page">')
    assert [u for u in parser.urls if _external(u)] == ["https://cdn.example.org/mathjax.js",
                                                         "//fonts.example.org/css"]


def _pages():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML}/index.html is missing: build the book first (make book)")
    return sorted(HTML.rglob("*.html"))


def test_index_exists_and_math_is_local():
    root = (HTML / "intro.html").read_text()      # index.html redirects to the root page, intro.html
    assert 'url=intro.html' in (HTML / "index.html").read_text()
    assert '<script defer="defer" src="_static/mathjax/tex-mml-chtml.js' in root
    assert "math notranslate nohighlight" in root  # the intro has math, marked for MathJax
    assert (HTML / "_static" / "mathjax" / "tex-mml-chtml.js").stat().st_size > 500_000
    assert (HTML / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_no_external_loads():
    offenders = []
    for page in _pages():
        parser = _Loads()
        parser.feed(page.read_text(errors="replace"))
        offenders += [f"{page.relative_to(HTML)}: {u}" for u in parser.urls if _external(u)]
    assert not offenders, "pages load from other hosts:\n" + "\n".join(offenders[:20])


def test_no_external_urls_in_css():
    import re

    offenders = []
    for css in HTML.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(errors="replace")):
            if _external(url):
                offenders.append(f"{css.relative_to(HTML)}: {url}")
        for imp in re.findall(r"@import\s+(?:url\()?['\"]?([^'\");]+)", css.read_text(errors="replace")):
            if _external(imp):
                offenders.append(f"{css.relative_to(HTML)}: @import {imp}")
    assert not offenders, "stylesheets load from other hosts:\n" + "\n".join(offenders[:20])


def test_no_thebe_or_binder_at_load():
    for page in _pages():
        text = page.read_text(errors="replace")
        assert "thebe-lite" not in text and "mybinder.org" not in text, page


def test_notebook_pages_offer_download():
    notebooks = sorted(Path(HTML.parent.parent / "chapters").rglob("*.ipynb"))
    assert notebooks
    for nb in notebooks:
        rel = nb.relative_to(HTML.parent.parent).with_suffix(".html")
        page = (HTML / rel).read_text()
        assert nb.name in page, f"{rel} does not offer {nb.name} for download"
        assert (HTML / "_sources" / nb.relative_to(HTML.parent.parent)).exists()


# Every image on every page sits in a numbered MyST figure with a caption and real alt text.


class _Figures(HTMLParser):
    """Images and whether each sits in a <figure> with a numbered caption and real alt text."""

    def __init__(self):
        super().__init__()
        self.depth, self.figures, self.loose = 0, [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.depth += 1
            self.figures.append({"alt": None, "number": False})
        elif tag == "img" and not (a.get("class") or "").startswith("logo"):
            if self.depth:
                self.figures[-1]["alt"] = a.get("alt") or ""
            else:
                self.loose += 1
        elif tag == "span" and self.depth and "caption-number" in (a.get("class") or ""):
            self.figures[-1]["number"] = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self.depth -= 1


def test_figures_are_numbered_captioned_and_described():
    """Every image of the book's pages is a numbered figure with real alt text."""
    with_figures = set()
    for page in _pages():
        rel = page.relative_to(HTML).as_posix()
        if "_sources" in page.parts or not (rel == "intro.html" or rel.startswith("chapters/")):
            continue   # the theme's own pages (search, module index)
        parser = _Figures()
        parser.feed(page.read_text())
        assert parser.loose == 0, f"{rel}: {parser.loose} image(s) outside a numbered figure"
        for fig in parser.figures:
            assert fig["number"], f"{rel}: a figure without a numbered caption"
            assert fig["alt"] and len(fig["alt"]) > 20 and not fig["alt"].endswith(".png"), \
                f"{rel}: alt text {fig['alt']!r} does not describe the figure"
        if parser.figures:
            with_figures.add(rel)
    assert len(with_figures) >= 10, sorted(with_figures)


# ----------------------------------------------------------------------------- the front door and the claim table

def _text(fragment: str) -> str:
    """The reader's text of an HTML fragment: tags dropped, entities and smart quotes undone, spaces joined."""
    import html as html_

    text = html_.unescape(re.sub(r"<[^>]+>", "", fragment))
    for typeset, typed in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2212", "-")):
        text = text.replace(typeset, typed)   # smart quotes and the true minus sign, as typed
    return " ".join(text.split())


def _table(page: str, name: str) -> list[list[str]]:
    """The body rows of the table with id ``name`` on ``page``, each a list of cell HTML."""
    found = re.search(rf'<table[^>]*\bid="{re.escape(name)}"[^>]*>(.*?)</table>', page, re.S)
    assert found, f"no table {name!r}"
    body = re.search(r"<tbody>(.*?)</tbody>", found.group(1), re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _ids(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


def _internal_links(path: Path) -> list[tuple[str, Path, str]]:
    """(href, target page, fragment) of every internal link of a page."""
    out = []
    for href in re.findall(r'<a class="reference internal" href="([^"]*)"', path.read_text(errors="replace")):
        target, _, fragment = href.partition("#")
        out.append((href, (path.parent / target).resolve() if target else path, fragment))
    return out


def test_the_front_doors_links_reach_existing_anchors():
    """Every internal link of the front page and of the claim table reaches a page that exists
    and, where it names one, an anchor on that page."""
    _pages()
    broken = []
    for page in (HTML / "intro.html", HTML / "chapters" / "appendix" / "claims.html"):
        links = _internal_links(page)
        assert links, page
        for href, target, fragment in links:
            if not target.exists() or (fragment and fragment not in _ids(target)):
                broken.append(f"{page.relative_to(HTML)}: {href}")
    assert not broken, "links to missing pages or anchors:\n" + "\n".join(broken)


def test_the_front_door_shows_each_headline_linked_to_its_section():
    from lsutils import verdicts

    _pages()
    page = HTML / "intro.html"
    rows = _table(page.read_text(), "tbl-intro-headlines")
    heads = verdicts.headlines(verdicts.grouped(verdicts.book_claims()))
    assert [_text(r[0]) for r in rows] == [h["headline"] for h in heads]
    for row, h in zip(rows, heads):
        assert _text(row[3]) == _text(h["verdict"]), h["headline"]
        (href,) = re.findall(r'href="([^"]+)"', row[4])
        if h["section"]:   # its chapter labels the section: the link goes there, not to the top
            assert href.endswith("#" + h["section"]), (h["headline"], href)
            target = (page.parent / href.split("#")[0]).resolve()
            assert h["section"] in _ids(target)


def test_every_verdict_the_book_states_is_in_the_claim_table():
    """One row per claims() row of every experiment: claim, setting in plain words, verdict."""
    from lsutils import verdicts

    _pages()
    page = (HTML / "chapters" / "appendix" / "claims.html").read_text()
    shown = [[_text(cell) for cell in row[:3]] for name in ("tbl-claims-reproduction", "tbl-claims-after",
                                                           "tbl-claims-practice") for row in _table(page, name)]
    stated = [[_text(f"{c['source']}: {c['claim']}"), _text(verdicts.plain(c["where"])), _text(c["verdict"])]
              for c in verdicts.book_claims()]
    missing = [row for row in stated if row not in shown]
    assert not missing, f"verdicts the claim table does not show: {missing[:5]}"
    assert len(shown) == len(stated)


def test_the_tally_adds_up_to_the_claims():
    """The front page's tally counts each claim of the claim table once, with the verdict its
    settings combine to (report.combined_verdict): its rows add up to the number of claims."""
    from lsutils.report import combined_verdict, outcome

    _pages()
    rows = _table((HTML / "intro.html").read_text(), "tbl-intro-tally")
    counts = {_text(r[0]): int(_text(r[1])) for r in rows}
    page = (HTML / "chapters" / "appendix" / "claims.html").read_text()
    settings: dict[str, list[str]] = {}
    for name in ("tbl-claims-reproduction", "tbl-claims-after", "tbl-claims-practice"):
        for row in _table(page, name):
            settings.setdefault(_text(row[0]), []).append(_text(row[2]))
    assert sum(counts.values()) == len(settings)
    expected: dict[str, int] = {}
    for verdicts_ in settings.values():
        out = outcome(combined_verdict(verdicts_))
        expected[out] = expected.get(out, 0) + 1
    assert counts == expected


def test_every_verdict_badge_wears_its_outcome_style():
    """A verdict in a table is coloured as the verdict boxes are: its span has its outcome's class."""
    from lsutils.report import verdict_style

    _pages()
    badges = 0
    for page in [HTML / "intro.html", *(HTML / "chapters").rglob("*.html")]:
        for cls, inner in re.findall(r'<span class="verdict-badge ([^"]+)">(.*?)</span>', page.read_text()):
            badges += 1
            assert cls == verdict_style(_text(inner)), (page.relative_to(HTML), cls, _text(inner))
    assert badges >= 60


def _chapter_pages():
    return [p for p in _pages() if "chapters" in p.parts and "_sources" not in p.parts]


def test_every_exercise_has_a_worked_solution():
    """Each exercise on a page is linked from a solution on the same page (sphinx-exercise)."""
    n = 0
    for page in _chapter_pages():
        html = page.read_text()
        exercises = re.findall(r'<div class="exercise[^"]*" id="([^"]+)"', html)
        solved = set(re.findall(r'<p class="admonition-title">Solution to<a class="reference internal" '
                                r'href="#([^"]+)"', html))
        missing = [e for e in exercises if e not in solved]
        assert not missing, f"{page.relative_to(HTML)}: exercises without a solution: {missing}"
        n += len(exercises)
    assert n >= 28


VERDICT_TITLE = re.compile(r"^Verdict\b|: (reproduced|refuted|not seen at this scale|partly|premise not met|not resolved|"
                           r"not testable here|holds|does not hold)\b")


def test_every_verdict_box_wears_its_outcome_style():
    """A verdict admonition has the class of its outcome (report.VERDICT_STYLES), never a generic one."""
    from lsutils.report import VERDICT_STYLES

    boxes = 0
    for page in _chapter_pages():
        for cls, title in re.findall(r'<div class="([^"]*admonition[^"]*)"[^>]*>\s*<p class="admonition-title">'
                                     r"(.*?)</p>", page.read_text(), re.S):
            text = re.sub(r"<[^>]+>", "", title).strip()
            if VERDICT_TITLE.search(text):
                boxes += 1
                assert set(cls.split()) & set(VERDICT_STYLES.values()), \
                    f"{page.relative_to(HTML)}: verdict box {text!r} has class {cls!r}"
    assert boxes >= 30
