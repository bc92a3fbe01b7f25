"""One number style on every page: numbers that a chapter formats outside ``lsutils.report`` — a
glued value's format spec (``{glue:text}`gap:+.4f```), a hand-built table cell, a verdict box —
are rewritten by ``lsutils.report.restyle_numbers`` when the page is written: a true minus sign,
no "-0.000" or "+0.000", powers of ten instead of "e-05". Prose typed by hand, code, program
output and mathematics are left as they are."""

from docutils import nodes

from lsutils.report import restyle_numbers

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


def setup(app):
    app.connect("doctree-resolved", restyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
