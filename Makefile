# The two commands of the README:
#   make book   set up the environment, execute every notebook (quick mode) and build the HTML book
#   make test   set up the environment, lint, run the test suite, and check the light core in a
#               fresh venv with no extra (scripts/check_core_install.py, ~30 s)
# Both create .venv and install the project with all extras from the package registries, once
# (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup book book-full demo test bench check-core

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/python scripts/build_book.py

book-full: $(STAMP)
	$(BIN)/python scripts/build_book.py --full

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
