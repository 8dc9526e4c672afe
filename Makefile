# Faultline: `make run` for a first look, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint migrate bench-ingest bench-dashboard clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Web server, Celery worker and beat together; Ctrl-C stops all three.
run: install
	@bash scripts/run.sh

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench-ingest: install
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

bench-dashboard: install
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache .ruff_cache
