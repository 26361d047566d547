"""Settings for the conversation service.

Everything that differs between a laptop and production comes from the
environment: DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS, DJANGO_DEBUG.
Without any of them the service runs on SQLite at db.sqlite3 and answers on
localhost, which is what `make run` and the conformance suite expect.

DJANGO_PRODUCTION=1 (set by `make serve`) turns on the production settings:
SECRET_KEY becomes required, cookies are Secure, HSTS and the HTTPS redirect
are on, so that `manage.py check --deploy` is clean. Without it nothing of
that applies and the settings are the development/test ones.
"""

import datetime
import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default, *, minimum=0):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number, at least {minimum}, not {value!r}")
    return number


DEBUG = env_flag("DJANGO_DEBUG")
# `make run` sets CONVO_DEV=1: only then may dev_setup print a known login.
DEVELOPMENT = env_flag("CONVO_DEV")

# `make serve` sets DJANGO_PRODUCTION=1: see the production block below.
PRODUCTION = env_flag("DJANGO_PRODUCTION")

if PRODUCTION and not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DJANGO_PRODUCTION=1: export a long random value, e.g. "
        "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-insecure-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]

INSTALLED_APPS = [
    # Before django.contrib.admin: its admin/base_site.html (the favicon) overrides the admin's.
    "convoproject.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # FilterSets: the moderation API's filters and the one selection of
    # messages its clean-up, admin's and the shell's share (convoproject.moderation.selection).
    "django_filters",
    # The OpenAPI document (/api/schema/) and Swagger UI (/api/docs/), whose
    # JS and CSS the sidecar serves from here: the docs work offline.
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "convoproject.rpc",
    "convoproject.tenants",
    "convoproject.moderation",
    "convoproject.live",
    "streams",
    "chats",
]

MIDDLEWARE = [
    "convoproject.rpc.middleware.ErrorEnvelopeMiddleware",
    # One structured log line per request (convoproject.requests).
    "convoproject.rpc.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT (the admin's CSS and JS) from the app itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a django-axes lockout into its answer (AXES_LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "convoproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "convoproject.wsgi.application"


def database_from_env():
    config = dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Kept open like PostgreSQL's: opening a SQLite connection (and its
        # PRAGMAs) costs more than a whole read.
        config["CONN_HEALTH_CHECKS"] = False
        config["OPTIONS"] = {
            # Writers take the lock when their transaction starts, so two
            # writers never both read the newest sent_at and then collide.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # The test database is a file, not Django's in-memory default, so that
        # the concurrency tests' forked processes can open it; one per test
        # run, so that runs side by side do not share it.
        config["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"convo-test-{os.getpid()}.sqlite3")}
    else:
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT_S", 5, minimum=2))
        if config["ENGINE"] == "django.db.backends.postgresql":
            add_postgresql_timeouts(options)
            add_postgresql_prepared_statements(options)
    return config


def with_postgresql_keepalives(config):
    """TCP keepalives (libpq) on PostgreSQL connections: a database host that
    froze or vanished without closing its connections is noticed by the
    kernel within about 25 s of silence (10 s idle, then 3 probes 5 s apart),
    and unacknowledged writes fail after 30 s, instead of a request thread
    waiting on a dead socket for the kernel's defaults (2 hours of keepalive,
    or about 15 minutes of retransmissions). Ignored over a Unix socket; a
    value in DATABASE_URL's query wins."""
    if config["ENGINE"] == "django.db.backends.postgresql":
        for name, value in POSTGRESQL_KEEPALIVES.items():
            config["OPTIONS"].setdefault(name, value)
    return config


POSTGRESQL_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms
}


def add_postgresql_timeouts(options):
    """Bound every statement and every lock wait, server-side, through libpq's
    `options` (sent when the connection starts, so no extra round trip). A
    cancelled statement raises OperationalError, which a request answers with
    a 503 envelope (convoproject.rpc.middleware), and rolls back its
    transaction. The RPCs' statements take milliseconds; the defaults are far
    above that and below gunicorn's 30 s request timeout (TIMEOUT), so that a
    stuck query fails cleanly (503, rolled back) before gunicorn would kill
    the worker. 0 sends nothing: the role's or database's own setting applies
    (e.g. behind PgBouncer in transaction mode, which refuses `options`). A
    setting already in DATABASE_URL's `?options=` wins."""
    timeouts = {
        # One statement, lock waits included.
        "statement_timeout": env_int("DB_STATEMENT_TIMEOUT_MS", 10_000),
        # One lock wait (a parent's row lock, an Idempotency-Key's unique
        # index): held for milliseconds normally, so a long wait means a
        # long-running holder (a bulk admin delete, a migration); fail the
        # request rather than queue every thread behind it.
        "lock_timeout": env_int("DB_LOCK_TIMEOUT_MS", 5_000),
    }
    existing = options.get("options", "")
    added = [f"-c {name}={ms}" for name, ms in timeouts.items() if ms and name not in existing]
    if added:
        options["options"] = " ".join([existing, *added]).strip()


def add_postgresql_prepared_statements(options):
    """Server-side binding, and psycopg's prepared statements: a statement a
    connection has run DB_PREPARE_THRESHOLD times (default 5) is prepared on
    it, and from then on PostgreSQL neither parses nor plans it again. The
    hot statements (convoproject.sql) are the same text on every request, and
    a connection lives for many requests (CONN_MAX_AGE), so nearly every
    request runs prepared ones: CreateMessage on one busy conversation used a
    third less CPU in its PostgreSQL backends (issue 13). 0 binds client-side
    and prepares nothing (Django's default): behind a pooler in transaction
    mode that does not track protocol-level prepared statements (PgBouncer
    before 1.21, or without max_prepared_statements)."""
    threshold = env_int("DB_PREPARE_THRESHOLD", 5)
    if threshold:
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", threshold)


DATABASES = {"default": with_postgresql_keepalives(database_from_env())}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Live updates (GET /events, convoproject.live). Resume points are honoured
# for LIVE_RETENTION_SECONDS (CONTRACT 9: at least 24 hours); the log keeps an
# hour more, purged by `manage.py purge_live_events`.
LIVE_RETENTION_SECONDS = env_int("LIVE_RETENTION_SECONDS", 24 * 3600)
LIVE_KEEPALIVE_SECONDS = env_int("LIVE_KEEPALIVE_SECONDS", 10, minimum=1)
LIVE_RETRY_MS = env_int("LIVE_RETRY_MS", 2000)
# A stream ends after this long (90-100 % of it, spread); its client resumes.
LIVE_MAX_STREAM_SECONDS = env_int("LIVE_MAX_STREAM_SECONDS", 3600, minimum=1)
# Open streams per API key or user in one server process; more is 429.
LIVE_MAX_STREAMS_PER_CALLER = env_int("LIVE_MAX_STREAMS_PER_CALLER", 500, minimum=1)
# Database threads (and so connections) per process for the streams' reads.
LIVE_DB_THREADS = env_int("LIVE_DB_THREADS", 4, minimum=1)
# SQLite: how often other processes' commits are looked for (a MAX(id) on the log: cheap).
LIVE_POLL_SECONDS = env_int("LIVE_POLL_MS", 50, minimum=10) / 1000
# PostgreSQL: the listener checks its connection after this long without a notification.
LIVE_LISTENER_CHECK_SECONDS = env_int("LIVE_LISTENER_CHECK_SECONDS", 5, minimum=1)
# How often each process running streams deletes expired events (retention.py).
LIVE_PURGE_SECONDS = env_int("LIVE_PURGE_SECONDS", 600, minimum=1)

# django-axes first: it refuses a login once a username has failed
# AXES_FAILURE_LIMIT times from one address, for AXES_COOLOFF_MINUTES; a
# success resets the count. Attempts are kept in the database, so every app
# server sees them. Behind a load balancer REMOTE_ADDR is the balancer's, and
# the block becomes per username (still a block on guessing).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES") or 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "convoproject.web.lockout.locked_out"
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# Whitenoise serves STATIC_ROOT, filled by `collectstatic` (`make serve` runs
# it). Outside production it finds the files in the apps at request time
# instead, so that no collectstatic is needed for `make run` or the tests.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "demo"
LOGOUT_REDIRECT_URL = "home"

# CONTRACT 2: bodies up to exactly 1 MiB are fine, one byte more is 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "convoproject.rpc.auth.ApiKeyAuthentication",
        "convoproject.rpc.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "convoproject.rpc.negotiation.AlwaysJSON",
    "EXCEPTION_HANDLER": "convoproject.rpc.errors.drf_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["convoproject.rpc.throttling.RateLimitThrottle"],
    "UNAUTHENTICATED_USER": None,
}

# The OpenAPI 3 document of the RPCs (convoproject.rpc.schema), public, and
# Swagger UI from the sidecar's local files (no CDN, no online validator).
SPECTACULAR_SETTINGS = {
    "TITLE": "Conversation service",
    "DESCRIPTION": (
        "Streams (conversations in groups, with messages) and Chats (one chat per set of users). "
        "Every RPC is `POST /protobuf/{Service}/{Method}` with a JSON object body, parsed as JSON whatever "
        "the Content-Type; unknown fields are ignored and `null` means absent. Every answer is JSON: 200 "
        "with the response object, or an error envelope `{id, code, detail, status}` whose `code` is the "
        "HTTP status. Another method on an RPC path is 405 (`Allow: POST`), an unknown RPC 404.\n\n"
        "The moderation API (`/api/moderation/`, tag Moderation) is REST, for staff users only: "
        "`Authorization: Token <moderation token>` (`manage.py create_moderation_token USERNAME`) or a "
        "logged-in session with the CSRF token; API keys do not grant it. Its errors are the same envelope."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "PREPROCESSING_HOOKS": ["convoproject.rpc.schema.only_api_paths"],
    "POSTPROCESSING_HOOKS": [],  # keep the error codes' one-value enums inline
    "SORT_OPERATIONS": False,  # the contract's order
    "TAGS": [
        {"name": "Streams", "description": "Conversations grouped by a group_id, each with a topic and messages."},
        {"name": "Chats", "description": "One chat per set of users, found again for the same set."},
        {
            "name": "Moderation",
            "description": "Both services' messages and the moderation log, for moderation tools and bots "
            "(staff only); every change is recorded in the moderation log, as from admin.",
        },
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None, "displayOperationId": True},
}

# How long each process trusts an API key it has looked up. The contract
# promises that a revoked key is refused within 5 seconds on every server.
API_KEY_CACHE_SECONDS = float(os.environ.get("API_KEY_CACHE_SECONDS") or 4)
if not 0 <= API_KEY_CACHE_SECONDS <= 5:
    raise ImproperlyConfigured("API_KEY_CACHE_SECONDS must be from 0 to 5 (a revoked key is refused within 5 s)")

# Requests per minute per API key (or per logged-in user), counted in the
# database so that every app server shares the count; 0 (the default) is no
# limit. A key's own rate_limit_per_minute (admin) overrides it.
RATE_LIMIT_PER_MINUTE = env_int("RATE_LIMIT_PER_MINUTE", 0)

# ------------------------------------------------------------------ production
# Behind a load balancer that terminates TLS, set SECURE_PROXY_SSL_HEADER to
# the header it sets (e.g. HTTP_X_FORWARDED_PROTO, meaning "X-Forwarded-Proto:
# https"); only when the balancer always sets or overwrites it.
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", default=True)
    # Load-balancer health checks often speak plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading is an opt-in to the browsers' lists that is slow to undo:
    # off unless asked for, and then Django's reminder about it is not a warning.
    SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD")
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    if os.environ.get("SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"].strip(), "https")
    CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_warning": {"()": "convoproject.log_filters.OneLineWarning"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # A Host outside ALLOWED_HOSTS (still answered 400): one line, no traceback.
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
    },
}
