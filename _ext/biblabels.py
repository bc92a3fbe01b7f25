"""The bibliography labelled and ordered by author and year, as the text cites it.

pybtex's ``plain`` style labels its entries [1], [2], … while ``{cite}`` writes "(Müller et al., 2019)"
(``author_year_round``, _ext/bibstyle.py). The formatting style ``plain_author_year`` registered here
is ``plain`` with the label that the citation shows, made by the same template as sphinxcontrib-bibtex's
author-year references: "Müller et al., 2019", a document with no author by its title, one with no date
with "n.d."; two entries that would share a label get "a", "b", … after it. Entries are listed in the
alphabetical order of their labels (accents aside), so a document cited by its title is found under its
title's first letter; ties fall back on ``plain``'s order (author, year, title).
"""

import unicodedata
from collections import Counter
from types import SimpleNamespace

import pybtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSorting
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.template import join, year

_PERSON = PersonStyle()   # the author-year references' defaults
_TEMPLATE = join(sep=", ")[_PERSON.author_or_editor_or_title(full=False), year]


def citation_text(entry) -> str:
    """'Müller et al., 2019': the text an author-year citation shows for ``entry``."""
    data = {"entry": entry, "style": SimpleNamespace(person=_PERSON)}
    return _TEMPLATE.format_data(data).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Author, year", "Author and Other, year", "Author et al., year" or "Title, n.d."."""

    def format_labels(self, sorted_entries):
        labels = [citation_text(e) for e in sorted_entries]
        count, seen = Counter(labels), Counter()
        for label in labels:
            if count[label] > 1:
                seen[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class LabelSortingStyle(AuthorYearTitleSorting):
    """Alphabetical by the citation text, accents and case aside; then author, year and title."""

    def sorting_key(self, entry):
        text = unicodedata.normalize("NFKD", citation_text(entry))
        plain = "".join(c for c in text if not unicodedata.combining(c)).casefold()
        return (plain, super().sorting_key(entry))


class PlainAuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` bibliography, labelled and ordered by author and year."""

    default_label_style = "author_year"
    default_sorting_style = "author_year_label"


pybtex.plugin.register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
pybtex.plugin.register_plugin("pybtex.style.sorting", "author_year_label", LabelSortingStyle)
pybtex.plugin.register_plugin("pybtex.style.formatting", "plain_author_year", PlainAuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True}
