# One environment for everything: .venv, created on first use from requirements.txt.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv book test unit notebooks site test-site browser student lab clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=68" wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMP)  ## create .venv and install the requirements and the package (editable)

book: $(STAMP)  ## execute every notebook and build the website into _build/html
	$(BIN)/jupyter-book build . 
	@echo "The book is at: file://$(CURDIR)/_build/html/index.html"

unit: $(STAMP)  ## unit tests of the package only
	$(BIN)/python -m pytest tests --ignore=tests/site

notebooks: $(STAMP)  ## run every notebook under nbval, with a table of execution times
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider chapters

site: $(STAMP)  ## build the website with warnings as errors
	$(BIN)/jupyter-book build . -W --keep-going

browser:  ## make sure a Chromium is present for the website test (Debian's package)
	@command -v chromium >/dev/null || test -n "$$CHROMIUM" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the website test"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "The website test needs Chromium: install it (e.g. 'sudo apt-get install chromium') or set CHROMIUM=/path/to/chrome"; exit 1; fi; }

test-site: $(STAMP) browser  ## the built website in a real browser (pages, figures, math, solutions, search, links)
	$(BIN)/python -m pytest tests/site -p no:cacheprovider

test: $(STAMP)  ## unit tests, every notebook under nbval, the website with -W, then the browser test
	$(BIN)/python -m pytest tests --ignore=tests/site
	$(MAKE) --no-print-directory notebooks
	$(MAKE) --no-print-directory site
	$(MAKE) --no-print-directory test-site

student: $(STAMP)  ## student versions of the notebooks (exercise code stubbed, solutions removed) in _build/student
	$(BIN)/python scripts/make_student.py --out _build/student

lab: $(STAMP)  ## JupyterLab on the chapters
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "jupyterlab>=4,<5"
	$(BIN)/jupyter lab chapters

clean:  ## remove the built book, caches and the virtual environment
	rm -rf _build .pytest_cache $(VENV) src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
