# `make run` and `make test` set themselves up: virtualenv in .venv, install, migrate.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint format migrate worker beat bench soak fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput

run: migrate
	DJANGO_DEBUG=1 NEMID_DEMO=1 $(BIN)/python manage.py seed_demo --host $(HOST) --port $(PORT)
	DJANGO_DEBUG=1 NEMID_DEMO=1 $(BIN)/uvicorn nemid_app_backend.asgi:application --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: $(STAMP)
	$(BIN)/celery -A nemid_app_backend worker --loglevel=INFO

beat: $(STAMP)
	$(BIN)/celery -A nemid_app_backend beat --loglevel=INFO

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
