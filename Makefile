# One environment for everything: .venv, created on first use from requirements.txt.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# A CPU-only torch from PyTorch's own index (the publishing workflow sets it; PyPI's torch is a CUDA build).
TORCH_INDEX ?=
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
# pytest-xdist workers: one per CPU. Each notebook runs in one kernel on one worker.
JOBS   ?= auto
# One BLAS/OpenMP thread per process: the workers share the cores instead of oversubscribing them, and a
# notebook's numbers do not depend on how many cores the machine has.
export OMP_NUM_THREADS = 1
export OPENBLAS_NUM_THREADS = 1
export MKL_NUM_THREADS = 1
# nbval's cell timeout is a hang guard only, far above any cell's normal time; no test fails for being slow.
NBVAL  := $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900
NOTEBOOKS := benchmarks/floor.ipynb chapters

.DEFAULT_GOAL := help
.PHONY: help venv lint tex pdf release-check release book test unit notebooks bench-book site website test-site browser student assignments lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip "setuptools>=77" wheel
	$(PIP) -r requirements.txt
	$(PIP) --no-build-isolation -e ".[book,docs,test,grading]"
	@touch $@

venv: $(STAMP)  ## create .venv and install the requirements and the package (editable)

lint: $(STAMP)  ## ruff: lint and format check of the package, tests, scripts and notebooks; the dependency policy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_requirements.py

book: notebooks  ## execute every notebook (on every core) and build the website into _build/html
	$(BIN)/jupyter-book build .
	@echo "The book is at: file://$(CURDIR)/_build/html/index.html"

UNIT_JOBS ?= $(JOBS)
unit: $(STAMP)  ## unit tests of the package only
	$(BIN)/python -m pytest -n $(UNIT_JOBS) --dist loadfile tests --ignore=tests/site --ignore=tests/pdf

notebooks: $(STAMP)  ## every notebook once under nbval, in parallel; fills the cache the book build reads
	$(NBVAL) -n $(JOBS) --dist loadfile $(NOTEBOOKS)

bench-book: $(STAMP)  ## every notebook serially, twice, its least time as a multiple of the floor notebook's; checks the targets
	@# warm the disk cache: the floor is timed warm (the median of three runs), so the chapters' own modules and
	@# stored data are read once first too (torch._dynamo: what torch.optim imports on its first optimizer)
	$(BIN)/python -c "import matplotlib.pyplot, sklearn.neighbors, torch._dynamo, scratchbook.rnn, scratchbook.compact, scratchbook.latent, scratchbook.metric.deep"
	cat chapters/*/data/* > /dev/null
	$(NBVAL) -p no:xdist --bench-book $(NOTEBOOKS)

site: $(STAMP)  ## build the website with warnings as errors (reuses the outputs of `make notebooks`)
	@touch bibliography.md  # an incremental build then rewrites the one list with every chapter's new citations
	$(BIN)/jupyter-book build . -W --keep-going

browser:  ## make sure a Chromium is present for the website test (Debian's package)
	@command -v chromium >/dev/null || test -n "$$CHROMIUM" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the website test"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "The website test needs Chromium: install it (e.g. 'sudo apt-get install chromium') or set CHROMIUM=/path/to/chrome"; exit 1; fi; }

test-site: $(STAMP) browser  ## the built website in a real browser (pages, figures, math, solutions, search, links)
	$(BIN)/python -m pytest -n $(JOBS) tests/site

test: $(STAMP)  ## lint, every notebook once under nbval, the website with -W and the unit tests side by side, the browser test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory notebooks
	@# the unit tests on one core, side by side with the website: its build (one core), then the browser test
	$(MAKE) --no-print-directory -j2 --output-sync=target unit website UNIT_JOBS=0

website: site  # (make test) the website built, then tested in the browser
	$(MAKE) --no-print-directory test-site

TEX_PACKAGES := texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-fonts-extra latexmk \
                fonts-freefont-otf fonts-dejavu-core fonts-croscore poppler-utils
tex:  ## make sure TeX Live (XeLaTeX, latexmk) and poppler are present for make pdf (Debian's packages)
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v pdftotext >/dev/null || { \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	    echo "make pdf needs TeX Live and poppler: sudo apt-get install $(TEX_PACKAGES)"; exit 1; fi; \
	  echo "Installing Debian's TeX Live for make pdf (about 1 GB)"; \
	  apt-get install -y -qq $(TEX_PACKAGES) >/dev/null || \
	    { apt-get update -qq && apt-get install -y -qq $(TEX_PACKAGES) >/dev/null; }; }

pdf: $(STAMP) tex  ## the instructor and student editions, built offline and tested, into _build/pdf
	@# notebooks come from the cache that make notebooks/test fills; missing ones are executed here
	$(BIN)/python -m pytest tests/pdf
	@echo "The PDFs are in $(CURDIR)/_build/pdf; make site now links them from the website."

release-check: $(STAMP)  ## build the sdist and wheel; install the wheel in a clean venv; run the README example and unit tests on it
	$(BIN)/python scripts/release_check.py $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))

VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/scratchbook/__init__.py)
release:  ## after make test and make release-check pass on a clean tree: tag the version (git tag vX.Y.Z)
	@git diff --quiet HEAD || { echo "The working tree has changes: commit them first."; exit 1; }
	@! git rev-parse -q --verify "refs/tags/v$(VERSION)" >/dev/null || { echo "v$(VERSION) is already tagged."; exit 1; }
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory release-check
	git tag -a "v$(VERSION)" -m "Scratchbook $(VERSION)"
	@echo "Tagged v$(VERSION). Publish it with: git push origin v$(VERSION)"

student: $(STAMP)  ## student versions of the notebooks (exercise code stubbed, solutions removed) in _build/student
	$(BIN)/python scripts/make_student.py --out _build/student

assignments: $(STAMP)  ## graded assignments (otter-grader): student, instructor and autograder per chapter in _build/assignments
	$(BIN)/python -c "import otter" 2>/dev/null || $(PIP) --no-build-isolation -e ".[grading]"
	$(BIN)/python scripts/make_assignments.py --out _build/assignments

lab: $(STAMP)  ## JupyterLab on the chapters
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "jupyterlab>=4,<5"
	$(BIN)/jupyter lab chapters

clean:  ## remove the built book (with the reference pages autosummary writes into api/), caches and the virtual environment
	rm -rf _build api .pytest_cache $(VENV) src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
