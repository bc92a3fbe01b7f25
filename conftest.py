"""pytest settings for nbval over the chapters (`make test`).

nbval already skips ``image/png`` outputs; a figure stored with myst-nb's ``glue`` sits under
``application/papermill.record/image/png`` instead, and its pixels depend on the floats drawn,
which differ between CPUs. The checks behind a figure are assertions in its cell."""

GLUED_IMAGES = tuple(f"application/papermill.record/{mime}"
                     for mime in ("image/png", "image/jpeg", "image/svg+xml"))


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = item.parent
        if hasattr(notebook, "skip_compare") and GLUED_IMAGES[0] not in notebook.skip_compare:
            notebook.skip_compare = notebook.skip_compare + GLUED_IMAGES
