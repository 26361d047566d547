# make run   - set up, migrate SQLite, print a dev API key and admin login, serve on 127.0.0.1:8000
# make test  - the whole test suite (SQLite, or the database in DATABASE_URL)
# make setup - only .venv and its packages (idempotent)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format conformance

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: setup
	CONVO_DEV=1 DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	CONVO_DEV=1 DJANGO_DEBUG=1 $(PY) manage.py dev_setup
	CONVO_DEV=1 DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

conformance: setup
	../shared/conformance/run sqlite
	../shared/conformance/run postgres
