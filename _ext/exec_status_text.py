"""Sphinx extension: myst-nb's execution table marks each notebook with an emoji (✅ / ❌), which
a machine without an emoji font draws as an empty box; say it in words instead."""

from docutils import nodes

WORDS = {"✅": "ok", "❌": "failed"}


def _replace(app, doctree, docname):
    for text in list(doctree.findall(nodes.Text)):
        if text.astext().strip() in WORDS:
            text.parent.replace(text, nodes.Text(WORDS[text.astext().strip()]))


def setup(app):
    app.connect("doctree-resolved", _replace)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
