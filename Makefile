# The two commands of the README:
#   make book   set up the environment, execute every notebook (quick mode) and build the HTML book
#   make test   set up the environment, lint, and run the test suite
# Both create .venv and install the project with all extras from the package registries, once
# (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup book book-full demo test bench

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

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_equilibrium.py
