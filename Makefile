# One command to run the server, one to run the tests. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test bench install install-test clean

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

# The load generator (picows on uvloop) and the profiler, for `make bench` only.
$(VENV)/.installed-bench: $(VENV)/.installed-run
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

run: install  ## start the server on 127.0.0.1:3000 with ./campfire.db
	$(BIN)/campfire serve

test: install-test  ## run the whole test suite
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-bench  ## Campfire vs a bare aiohttp baseline; rewrites docs/performance.md
	$(BIN)/python scripts/bench/run.py --reps 3

clean:
	rm -rf $(VENV) *.egg-info
