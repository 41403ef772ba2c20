# Two commands for a newcomer:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Byte-code caches on even where the environment turns them off: a test run starts
# hundreds of Python processes, and each would compile the project's modules again
# (and pytest rewrite every test module again in each of its processes).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test install lint bench clean up

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole pipeline on embedded defaults (SQLite, in-process broker, .eml outbox) in ./demo-run
demo: $(STAMP)
	rm -rf demo-run && mkdir demo-run && cd demo-run && ../$(BIN)/trialalerts demo

## Start PostgreSQL/Redis/RabbitMQ if they are down, then run the whole test suite (in parallel, then the timing tests alone)
test: $(STAMP)
	scripts/services.sh
	scripts/browser.sh
	scripts/promtool.sh
	$(BIN)/python -m pytest -q --numprocesses 4 --dist worksteal -m 'not alone'
	$(BIN)/python -m pytest -q -m alone

## Run the Procfile's processes (honcho) against the local PostgreSQL and Redis; PROCESSES="web worker" for some
up: $(STAMP)
	scripts/up.sh $(PROCESSES)

lint: $(STAMP)
	$(BIN)/ruff check worker tests
	$(BIN)/ruff format --check worker tests

bench: $(STAMP)
	$(BIN)/trialalerts bench

clean:
	rm -rf $(VENV) demo-run
