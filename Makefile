# One command to run the server, one to run the tests. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test test-postgresql check bench install install-test install-check dist clean

# The server alone needs only the runtime packages; the tests add their tools on top.
$(VENV)/.installed-run: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test

# The checkers (ruff, mypy), pinned: a new release brings new rules, so upgrading is a commit.
$(VENV)/.installed-check: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -e '.[check]'
	touch $@

install-check: $(VENV)/.installed-check

# The load generator (picows on uvloop) and the profiler, for `make bench` only.
$(VENV)/.installed-bench: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# shiv, which packs Campfire and its dependencies into one zip application, for `make dist`.
$(VENV)/.installed-dist: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -e '.[dist]'
	touch $@

run: install  ## start the server on 127.0.0.1:3000 with ./campfire.db
	$(BIN)/campfire serve

# Lint, format and types; config in pyproject.toml. mypy keeps its cache in .mypy_cache.
check: $(VENV)/.installed-check  ## ruff (lint, format) on everything, mypy on campfire/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy campfire

test: install-test check  ## make check, then the whole test suite
	$(BIN)/python -m pytest -q

# The suite on PostgreSQL: tests/pgserver.py starts a private server (Debian's postgresql);
# the browser tests are left out (they test the client, not storage).
test-postgresql: install-test  ## the test suite with CAMPFIRE_TEST_DB=postgresql
	CAMPFIRE_TEST_DB=postgresql $(BIN)/python -m pytest -q --ignore=tests/browser

bench: $(VENV)/.installed-bench  ## Campfire vs a bare aiohttp baseline; rewrites docs/performance.md
	$(BIN)/python scripts/bench/run.py --reps 3

# The single-file Campfire: `python3 dist/campfire.pyz serve`. The dependencies' compiled parts
# are this interpreter's (same CPython minor version and platform to run it). pip's wheel cache
# makes a rebuild quick; build/ is removed first so no deleted module lingers in the zip.
PYZ ?= dist/campfire.pyz

dist: $(VENV)/.installed-dist  ## build dist/campfire.pyz (Campfire and its dependencies in one file)
	rm -rf build
	mkdir -p $(dir $(PYZ))
	$(BIN)/shiv --console-script campfire --output-file $(PYZ) --python '/usr/bin/env python3' \
		--compressed --reproducible . --quiet --disable-pip-version-check
	rm -rf build

clean:
	rm -rf $(VENV) *.egg-info build dist .mypy_cache .ruff_cache
