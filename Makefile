# `make run` and `make test` set themselves up: virtualenv in .venv, install, migrate.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# axe-core (npm, pinned in package.json / package-lock.json) for the browser tests' accessibility
# checks, installed into node_modules/ before the tests run; the tests never fetch anything.
AXE := node_modules/axe-core/axe.min.js

.PHONY: run test test-fast lint format migrate worker beat bench soak fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: migrate
	DJANGO_DEBUG=1 NEMID_DEMO=1 $(BIN)/python manage.py seed_demo --host $(HOST) --port $(PORT)
	DJANGO_DEBUG=1 NEMID_DEMO=1 $(BIN)/uvicorn nemid_app_backend.asgi:application --host $(HOST) --port $(PORT)

$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund && touch $(AXE); \
	else echo "npm is missing: the accessibility checks of the browser tests will be skipped"; fi

test: $(STAMP) $(AXE)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: $(STAMP)
	$(BIN)/celery -A nemid_app_backend worker --pool threads --concurrency 8 --loglevel=INFO

beat: $(STAMP)
	$(BIN)/celery -A nemid_app_backend beat --loglevel=INFO

# Benchmarks start their own stack (database bench_*, own redis-server, granian, uvicorn, Celery) and the reference
# of bench/reference/ beside it, and print the ratios: see docs/performance.md.
# BENCH_ARGS="--duration 3 --runs 1 --concurrency 16 --idle-sockets 1000" for a smoke run.
bench: $(STAMP)
	ulimit -n $$(ulimit -Hn) && $(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.metrics_cost

soak: $(STAMP)
	ulimit -n $$(ulimit -Hn) && SOAK_SECONDS=$${SOAK_SECONDS:-600} $(BIN)/python -m bench.soak $(SOAK_ARGS)

fuzz: $(STAMP)
	NEMID_FUZZ_EXAMPLES=$${NEMID_FUZZ_EXAMPLES:-300} $(BIN)/pytest tests/fuzz -p no:xdist $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
