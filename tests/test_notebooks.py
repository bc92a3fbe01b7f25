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
    corollary of the chapters by its number (``{prf:ref}`label``` renders "Theorem 1.3") and title
    (it replaces sphinx-proof's index of bare labels)."""
    import re

    page = (ROOT / "chapters" / "appendix" / "theorems.md").read_text()
    assert "{prf:ref}`" in page
    labels = [m.group(1) for path in NOTEBOOKS for cell in json.loads(path.read_text())["cells"]
              if cell["cell_type"] == "markdown"
              for m in re.finditer(r"```\{prf:\w+\}.*\n:label: (\S+)", "".join(cell["source"]))]
    assert len(labels) >= 16
    missing = [label for label in labels if f"{{prf:ref}}`{label}`:" not in page]   # {prf:ref}`label`: Title
    assert not missing, f"chapters/appendix/theorems.md does not list {missing}"


def test_cells_whose_output_is_not_compared_assert_their_claim():
    """A cell that trains or optimises live prints numbers that differ between CPUs, so nbval
    does not compare its output (tag ``nbval-ignore-output``); its claim is then an assertion."""
    bare = [f"{path.relative_to(ROOT)} cell {i}"
            for path in NOTEBOOKS for i, cell in enumerate(json.loads(path.read_text())["cells"])
            if "nbval-ignore-output" in cell.get("metadata", {}).get("tags", [])
            and not any(line.lstrip().startswith("assert ") for line in "".join(cell["source"]).splitlines())]
    assert not bare, f"cells with uncompared output and no assertion: {bare}"


def test_the_perturbed_kernel_runs_on_one_thread_at_another_matmul_precision(tmp_path):
    """`make test`'s second nbval pass: its kernels really run with other arithmetic settings."""
    import os
    import shutil

    from jupyter_client.manager import start_new_kernel

    ipython_dir = tmp_path / "ipython"
    shutil.copytree(ROOT / "tests" / "perturbed_kernel", ipython_dir)
    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "IPYTHONDIR": str(ipython_dir)})
    printed = []
    try:
        kc.execute_interactive("import torch; print(torch.get_num_threads(), torch.get_float32_matmul_precision())",
                               timeout=60, output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "".join(printed).split() == ["1", "medium"]
