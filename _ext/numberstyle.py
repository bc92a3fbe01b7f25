"""One number style on every page: numbers that a chapter formats outside ``lsutils.report`` — a
glued value's format spec (``{glue:text}`gap:+.4f```), a hand-built table cell, a verdict box —
are rewritten by ``lsutils.report.restyle_numbers`` when the page is written: a true minus sign,
no "-0.000" or "+0.000", powers of ten instead of "e-05". Prose typed by hand, code, program
output and mathematics are left as they are — but for one thing everywhere in the prose: the space
between a number and its "%" does not break, so that "%" never starts a line alone."""

import re

from docutils import nodes

from lsutils.report import NBSP, restyle_numbers

_KEEP = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw,
         nodes.FixedTextElement, nodes.reference)


def _kept(node) -> bool:
    """Inside code, program output, mathematics, raw HTML or a link: left as written."""
    while node is not None:
        if isinstance(node, _KEEP):
            return True
        node = node.parent
    return False


def _scopes(doctree):
    yield from (n for n in doctree.findall(nodes.inline) if "pasted-text" in n["classes"])
    yield from doctree.findall(nodes.entry)
    yield from (n for n in doctree.findall(nodes.Element)
                if isinstance(n, (nodes.admonition, nodes.Admonition))
                and any(c.startswith("verdict-") for c in n.get("classes", [])))


def restyle(app, doctree, docname):
    done = set()
    for scope in _scopes(doctree):
        for text in list(scope.findall(nodes.Text)):
            if id(text) in done:
                continue
            done.add(id(text))
            if _kept(text.parent):
                continue
            new = restyle_numbers(str(text))
            if new != str(text):
                text.parent.replace(text, nodes.Text(new))


_SPACE_PERCENT = re.compile(r"(\d) (%)")


def _ends_in_digit(node) -> bool:
    """Whether the text just before ``node`` (its previous sibling, e.g. a glued number) ends in
    a digit."""
    parent = node.parent
    if parent is None:
        return False
    i = parent.index(node)
    return i > 0 and parent[i - 1].astext()[-1:].isdigit()


def keep_percent(app, doctree, docname):
    """No line break between a number and "%": '99.92 %' within one text, and a glued number
    followed by the text ' %'."""
    for text in list(doctree.findall(nodes.Text)):
        if _kept(text.parent):
            continue
        old = str(text)
        new = _SPACE_PERCENT.sub(rf"\1{NBSP}\2", old)
        if new.startswith(" %") and _ends_in_digit(text):
            new = NBSP + new[1:]
        if new != old:
            text.parent.replace(text, nodes.Text(new))


def setup(app):
    app.connect("doctree-resolved", restyle)
    app.connect("doctree-resolved", keep_percent)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
