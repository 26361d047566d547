# make run   - set up, migrate SQLite, print a dev API key and admin login, serve on 127.0.0.1:PORT (8000)
#              with uvicorn, reloading on code changes (the RPCs and the /events streams)
# make test  - the whole test suite (SQLite, or the database in DATABASE_URL)
# make setup - only .venv and its packages, requirements.txt and requirements-dev.txt (idempotent)
# make serve - production: migrate, collectstatic, gunicorn with DJANGO_PRODUCTION=1
#              (SECRET_KEY required; BIND, WORKERS, THREADS, TIMEOUT, PIN_WORKERS from the environment);
#              installs only requirements.txt, what production runs. One port for everything:
#              uvicorn workers (convoproject.asgi.Worker) run the /events streams on their
#              event loop and the RPCs in THREADS threads each, each worker on one CPU
#              (PIN_WORKERS=0: on any; docs/ARCHITECTURE.md, "Serving")
# make loadtest - the larger load test (README "Load test"): REQUESTS from CLIENTS threads
#              against gunicorn (WORKERS x THREADS) on DATABASE_URL; use a scratch database
# make bench - every RPC over HTTP under gunicorn beside its floor, and ListMessages as a
#              conversation grows (docs/PERFORMANCE.md); seeds DATABASE_URL once (default bench.sqlite3)
# (loadtest and bench are manage.py commands of the bench tooling: --settings=bench.settings)
# make bench-plot - docs/performance-listmessages.png from the latest bench results of both databases
# make bench-live - live updates: SUBSCRIBERS streams of /events, LIVE_RATE messages/s for LIVE_SECONDS,
#              delivery latency and loss (docs/PERFORMANCE.md "Live updates"); LIVE_DATABASE_URL is made if missing
# make bench-wrk - wrk -t2 -c16 against make serve's layout (WORKERS, and 1 worker; THREADS): send, read, create
#              beside the no-SQL ceiling, on SQLite and PostgreSQL (WRK_POSTGRESQL_URL, made if missing); needs wrk
# make bench-wrk-plot - docs/performance-wrk.png from bench/results/latest-wrk.json (and reference-synapse.json)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
BENCH := --settings=bench.settings

# make run: the development server's port on 127.0.0.1 (PORT=8001 make run).
PORT ?= 8000

# make serve: gunicorn settings, overridable from the environment (THREADS: the RPC threads per worker).
BIND ?= 127.0.0.1:8000
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
THREADS ?= 4
TIMEOUT ?= 30
# make loadtest: total requests and client threads (gunicorn: WORKERS and THREADS above).
REQUESTS ?= 100000
CLIENTS ?= 64
# make bench: connections, messages seeded (once), extra `manage.py bench` arguments. REQUESTS
# (per phase) is loadtest's variable too: bench takes it only when given, else 2000.
CONCURRENCY ?= 8
MESSAGES ?= 1000000
BENCH_ARGS ?=
BENCH_REQUESTS = $(if $(filter environment command line,$(origin REQUESTS)),$(REQUESTS),2000)
BENCH_DATABASE_URL = $(or $(DATABASE_URL),sqlite:///$(CURDIR)/bench.sqlite3)

# make bench-live: runs (one per number of subscribers), conversations, messages/s, seconds, extra
# `manage.py bench_live` arguments; a scratch PostgreSQL database of its own unless DATABASE_URL is set.
SUBSCRIBERS ?= 100,1000
LIVE_CONVERSATIONS ?= 20
LIVE_RATE ?= 50
LIVE_SECONDS ?= 30
LIVE_ARGS ?=
LIVE_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/convo_benchlive)

# make bench-wrk: its PostgreSQL database and extra `manage.py bench_wrk` arguments
# (e.g. WRK_ARGS="--seconds 5 --warmup 2", "--databases sqlite", "--layouts default").
WRK_POSTGRESQL_URL ?= postgres://postgres@127.0.0.1:5432/convo_benchwrk
WRK_ARGS ?=

.PHONY: setup run serve test lint format conformance loadtest bench bench-plot bench-live bench-wrk bench-wrk-plot

setup: $(DEV)

# What production runs: enough for `make serve`.
$(RUNTIME): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(RUNTIME)

# Development: tests, lint, the benchmark.
$(DEV): $(RUNTIME) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV)

# uvicorn, not runserver: runserver's WSGI handler would buffer an async view's endless
# /events stream and never send it. --reload is uvicorn's reloader; it waits up to 2 s for
# open streams before restarting, then cuts them (EventSource reconnects and resumes).
run: setup
	CONVO_DEV=1 DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	CONVO_DEV=1 DJANGO_DEBUG=1 $(PY) manage.py dev_setup --port $(PORT)
	CONVO_DEV=1 DJANGO_DEBUG=1 exec $(PY) -m uvicorn convoproject.asgi:application \
		--host 127.0.0.1 --port $(PORT) --reload --timeout-graceful-shutdown 2 --lifespan off

# Migrations run without DB_STATEMENT_TIMEOUT_MS: an index build on a big table takes long.
serve: $(RUNTIME)
	DJANGO_PRODUCTION=1 DB_STATEMENT_TIMEOUT_MS=0 $(PY) manage.py migrate --noinput
	DJANGO_PRODUCTION=1 $(PY) manage.py collectstatic --noinput
	DJANGO_PRODUCTION=1 exec $(PY) -m gunicorn convoproject.asgi:application \
		--bind $(BIND) --workers $(WORKERS) --threads $(THREADS) --worker-class convoproject.asgi.Worker \
		--timeout $(TIMEOUT) --graceful-timeout 20 --error-logfile - \
		--no-control-socket  # gunicorn 27 would share one control socket path with every other gunicorn here

test: setup
	$(PY) -m pytest

loadtest: setup
	DB_STATEMENT_TIMEOUT_MS=0 $(PY) manage.py migrate --noinput
	$(PY) manage.py loadtest $(BENCH) --requests $(REQUESTS) --threads $(CLIENTS) \
		--workers $(WORKERS) --server-threads $(THREADS)

bench: setup
	DATABASE_URL='$(BENCH_DATABASE_URL)' DB_STATEMENT_TIMEOUT_MS=0 $(PY) manage.py migrate --noinput
	DATABASE_URL='$(BENCH_DATABASE_URL)' $(PY) manage.py bench $(BENCH) --messages $(MESSAGES) \
		--concurrency $(CONCURRENCY) --requests $(BENCH_REQUESTS) --workers $(WORKERS) --threads $(THREADS) $(BENCH_ARGS)

bench-plot: setup
	$(PY) -m bench.plot

bench-live: setup
	DATABASE_URL='$(LIVE_DATABASE_URL)' $(PY) manage.py bench_live $(BENCH) --setup-database \
		--subscribers $(SUBSCRIBERS) --conversations $(LIVE_CONVERSATIONS) --rate $(LIVE_RATE) \
		--seconds $(LIVE_SECONDS) --workers $(WORKERS) --threads $(THREADS) $(LIVE_ARGS)

bench-wrk: setup
	$(PY) manage.py bench_wrk $(BENCH) --workers $(WORKERS) --threads $(THREADS) \
		--postgresql-url '$(WRK_POSTGRESQL_URL)' $(WRK_ARGS)

bench-wrk-plot: setup
	$(PY) -m bench.plot_wrk

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
