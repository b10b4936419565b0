# The two commands of the README:
#   make book   set up the environment, execute every notebook (BOOK_MODE, quick by default) and
#               build the HTML book
#   make test   set up the environment, lint, run the test suite, and check the light core in a
#               fresh venv with no extra (scripts/check_core_install.py, ~30 s)
# Also: make book-quick / make book-full (one mode explicitly), make book-check (check the built
# book: its HTML against the book's rules, and every page in headless Chromium at 1280 px).
# Both create .venv and install the project with all extras from the package registries, once
# (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BOOK_MODE ?= quick
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)

.PHONY: setup book book-quick book-full book-check demo test bench check-core

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/python scripts/build_book.py --mode $(BOOK_MODE)

book-quick: $(STAMP)
	$(BIN)/python scripts/build_book.py --mode quick

book-full: $(STAMP)
	$(BIN)/python scripts/build_book.py --mode full

# Checks the book last built (run make book first). Installs Debian's chromium if it is missing
# and a local MathJax 3 (django-static-mathjax, static files only) into .venv, so that equations
# are typeset and measured offline. Both checks always run; the target fails if either does.
book-check: $(STAMP)
	@command -v chromium >/dev/null || test -x /usr/bin/chromium || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	@$(BIN)/python -c "import mathjax" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet django-static-mathjax
	$(BIN)/python scripts/check_book_html.py; html=$$?; \
	  $(BIN)/python scripts/check_book_browser.py; browser=$$?; \
	  exit $$((html | browser))

demo: $(STAMP)
	$(BIN)/prillm demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	$(BIN)/python scripts/check_core_install.py

# a fresh venv with `pip install .` only (no extra): the light core works and names the extras
check-core:
	$(PYTHON) scripts/check_core_install.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_equilibrium.py
