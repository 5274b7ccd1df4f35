# Pushflow — the two commands a fresh machine needs: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test install lint typecheck bench clean

## The versions installed are those of constraints.txt (tested by CI; docs/operations.md says
## how to regenerate it).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole system in the foreground (Ctrl-C stops everything and exits 0, so make reports
## no error). UP_ARGS passes options on: make up UP_ARGS="--api-port 9080 --no-flower".
up: $(STAMP)
	$(BIN)/pushflow up $(UP_ARGS)

## Run the test suite against real PostgreSQL, Redis, Celery workers and sandbox gateways.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pushflow producer workers domain shared sandbox
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pushflow producer workers domain shared sandbox

bench: $(STAMP)
	$(BIN)/python bench/intake.py --seconds 10

clean:
	rm -rf $(VENV) .pushflow build *.egg-info
