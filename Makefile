# The two everyday commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs docs-build run bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)            ## one offline poll of the bundled sample feeds, digest on the terminal
	$(BIN)/botsvc demo

test: lint docs-build    ## the linters, the docs site (strict), then the whole test suite
	$(BIN)/python -m pytest -q

docs: $(STAMP)            ## serve the documentation site at http://127.0.0.1:8000 (live reload)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# --strict: a broken link, a missing anchor or a page left out of nav fails the build (not
# with --quiet, which hides the warnings strict mode counts). The site goes to a temporary
# directory: only the check matters here.
docs-build: $(STAMP)      ## build the documentation site strictly, as CI does
	@site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
		status=$$?; rm -rf "$$site"; exit $$status

lint: $(STAMP)            ## ruff (lint and format check) and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

run: $(STAMP)             ## poll the feeds in feeds.toml on their schedules (Ctrl-C to stop)
	$(BIN)/botsvc run

bench: $(STAMP)           ## speed and quality benchmarks (print their figures)
	$(BIN)/python benchmarks/quality.py examples
	$(BIN)/python benchmarks/relevance_speed.py
	$(BIN)/python benchmarks/parse_speed.py
	$(BIN)/python benchmarks/dedup_speed.py
	$(BIN)/python benchmarks/poll_speed.py
	$(BIN)/python benchmarks/warm_cycle.py
	$(BIN)/python benchmarks/faults.py
	$(BIN)/python benchmarks/fault_loop.py
	$(BIN)/python benchmarks/retention.py
	$(BIN)/python benchmarks/concept_suggest.py
	$(BIN)/python benchmarks/search_speed.py --articles 100000

clean:
	rm -rf $(VENV) .demo .pytest_cache build site *.egg-info
