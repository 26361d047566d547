# make run   - set up, migrate SQLite, print a dev API key and admin login, serve on 127.0.0.1:8000
# make test  - the whole test suite (SQLite, or the database in DATABASE_URL)
# make setup - only .venv and its packages (idempotent)
# make serve - production: migrate, collectstatic, gunicorn with DJANGO_PRODUCTION=1
#              (SECRET_KEY required; BIND, WORKERS, THREADS, TIMEOUT from the environment)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# make serve: gunicorn settings, overridable from the environment.
BIND ?= 127.0.0.1:8000
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
THREADS ?= 4
TIMEOUT ?= 30

.PHONY: setup run serve test lint format conformance

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

serve: setup
	DJANGO_PRODUCTION=1 $(PY) manage.py migrate --noinput
	DJANGO_PRODUCTION=1 $(PY) manage.py collectstatic --noinput
	DJANGO_PRODUCTION=1 exec $(PY) -m gunicorn convoproject.wsgi:application \
		--bind $(BIND) --workers $(WORKERS) --threads $(THREADS) --worker-class gthread \
		--timeout $(TIMEOUT) --graceful-timeout 20 --error-logfile -

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
