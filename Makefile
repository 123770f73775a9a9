# The two everyday commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint run bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)            ## one offline poll of the bundled sample feeds, digest on the terminal
	$(BIN)/botsvc demo

test: lint               ## the linters, then the whole test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP)            ## ruff (lint and format check) and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

run: $(STAMP)             ## poll the feeds in feeds.toml on their schedules (Ctrl-C to stop)
	$(BIN)/botsvc run

bench: $(STAMP)           ## speed and quality benchmarks (print their figures)
	$(BIN)/python benchmarks/quality.py examples
	$(BIN)/python benchmarks/relevance_speed.py
	$(BIN)/python benchmarks/dedup_speed.py
	$(BIN)/python benchmarks/poll_speed.py
	$(BIN)/python benchmarks/faults.py
	$(BIN)/python benchmarks/fault_loop.py
	$(BIN)/python benchmarks/retention.py

clean:
	rm -rf $(VENV) .demo .pytest_cache build *.egg-info
