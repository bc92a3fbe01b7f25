# Two commands do everything on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
STAMP := $(VENV)/.installed-stamp
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
NOTEBOOKS := intro.ipynb chapters
# Two workers: unit tests spread one by one; a notebook's cells stay together on one worker.
PARALLEL := -n 2 --dist worksteal
NB_PARALLEL := -n 2 --dist loadfile
# The second nbval pass: one thread and another float32 matmul precision in every kernel, so
# an output that depends on the machine's threads or arithmetic fails here, not on a reader's laptop.
PERTURBED := OMP_NUM_THREADS=1 IPYTHONDIR=$(CURDIR)/tests/perturbed_kernel
# Checks of the built pages: run after the build, never before it (they skip on an unbuilt site).
SITE_TESTS := tests/test_site.py tests/test_layout.py tests/test_widths.py

.PHONY: install data book test unit nbval site notebooks clean gpu
.DEFAULT_GOAL := book

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(STAMP)

data: install
	$(PY) -m lsutils data fashion_mnist

# Renders the outputs stored in the notebooks (checked by `make test`); `make notebooks` re-executes.
book: install
	$(JB) build . -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

unit: data
	$(PY) -m pytest tests $(SITE_TESTS:%=--ignore=%) $(PARALLEL) -q

nbval: data
	$(PY) -m pytest $(NOTEBOOKS) $(NBVAL) $(NB_PARALLEL) -q
	$(PERTURBED) $(PY) -m pytest $(NOTEBOOKS) $(NBVAL) $(NB_PARALLEL) -q

site: install
	$(PY) -m pytest $(SITE_TESTS) -q

test: data
	$(PY) -m pytest tests $(SITE_TESTS:%=--ignore=%) -p no:cacheprovider $(PARALLEL) -q --durations=15
	$(PY) -m pytest $(NOTEBOOKS) $(NBVAL) $(NB_PARALLEL) -q
	$(PERTURBED) $(PY) -m pytest $(NOTEBOOKS) $(NBVAL) $(NB_PARALLEL) -q
	$(JB) build . -W -n --keep-going
	$(PY) -m pytest $(SITE_TESTS) -p no:cacheprovider -q

# Re-execute every chapter in place (after changing code or results), so the stored outputs
# that nbval compares are what the code produces now.
notebooks: install
	for nb in intro.ipynb $$(find chapters -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*'); do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1200 $$nb || exit 1; \
	done

# On the GPU machine (system Python, no venv): every reproduction experiment at its gpu preset,
# resuming from stored runs; results come back as archives in $OUT (chapters/appendix/gpu.ipynb).
# Options through GPU_ARGS, e.g. make gpu GPU_ARGS="--deadline-s 540".
gpu:
	PYTHONPATH=. $(PYTHON) tools/gpu_run.py $(GPU_ARGS)

clean:
	rm -rf _build
