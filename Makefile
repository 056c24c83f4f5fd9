# One command to run the server, one to run the tests. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test bench install clean

$(BIN)/campfire: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/campfire

run: install  ## start the server on 127.0.0.1:3000 with ./campfire.db
	$(BIN)/campfire serve

test: install  ## run the whole test suite
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
