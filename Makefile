# Faultline: `make run` for a first look, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz install lint migrate bench-ingest bench-soak bench-dashboard \
	bench-digest bench-slow-clients faults screenshots clean

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

# The schemathesis run alone (tests/fuzz/, also part of `make test`): PostgreSQL needed.
fuzz: install
	$(BIN)/python -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench-ingest: install
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

# 10 minutes of 300 reports/s while a Celery worker digests: RSS by minute, backlog at the end.
bench-soak: install
	$(BIN)/python bench/ingest.py --soak 600 $(BENCH_ARGS)

bench-dashboard: install
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

# A real Celery digest worker: a 200,000-entry backlog, then 1,000 reports/s for 60 s
# (drops faultline_bench_digest, flushes Redis db 5; see bench/digest.py --help).
bench-digest: install
	flock /tmp/faultline-bench.lock $(BIN)/python bench/digest.py $(BENCH_ARGS)

# 20 slow senders against gunicorn alone and behind deploy/nginx.conf (needs nginx).
bench-slow-clients: install
	$(BIN)/python bench/slow_clients.py $(BENCH_ARGS)

# Outages on private PostgreSQL/Redis under load (docs/reliability.md); FAULTS_ARGS=--quick
# for the one-minute version. Exits 1 on any violation.
faults: install
	$(BIN)/python bench/faults.py $(FAULTS_ARGS)

# docs/screenshots/*.png at 1,280 px in headless Chromium (drops faultline_screenshots).
screenshots: install
	$(BIN)/python bench/screenshots.py $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache .ruff_cache
