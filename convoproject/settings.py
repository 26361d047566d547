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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "convoproject.tenants",
    "convoproject.moderation",
    "convoproject.web",
    "streams",
    "chats",
    "bench",
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
        config["CONN_MAX_AGE"] = 0
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
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return config


DATABASES = {"default": database_from_env()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
    "UNAUTHENTICATED_USER": None,
}

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
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}
