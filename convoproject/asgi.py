"""What `make serve` runs: the RPCs and the /events streams on one port.

gunicorn runs `Worker` processes (uvicorn's worker: one asyncio event loop on
uvloop, HTTP parsed by httptools), each serving `application`, which sends

- the paths of ASGI_PATHS, the Server-Sent Events streams (CONTRACT 9), to
  Django's ASGI handler: an open stream is a coroutine on the event loop, not
  a thread;
- every other path (the RPCs, /healthz, the admin, the pages) to Django's
  WSGI handler, run in a pool of gunicorn's THREADS threads per worker, so the
  RPCs run the same sync code as under gunicorn's gthread workers, with one
  persistent database connection per thread (docs/PERFORMANCE.md, "Serving
  layout", measured both).

On SIGTERM (gunicorn's stop, a deploy) a worker first ends its open streams
(convoproject.live.hub.stop_streams), then stops like uvicorn: no new
connections, waits for the requests in progress, exits, all within gunicorn's
--graceful-timeout.

`make run` serves `application` with uvicorn's own reloader instead.
"""

import contextvars
import logging
import os
import sys
import threading

from a2wsgi.wsgi import WSGIMiddleware, WSGIResponder
from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

ASGI_PATHS = frozenset({"/events"})
# The WSGI side's threads per process when not under Worker (which sets it from --threads).
THREADS_VARIABLE = "CONVO_WSGI_THREADS"

_pool_thread = threading.local()


class _ThreadContextResponder(WSGIResponder):
    """a2wsgi runs each request in a copy of its asyncio task's contextvars,
    and Django keeps its database connections in contextvars
    (asgiref.local.Local): every RPC would open a new connection and drop the
    last one unclosed. Each pool thread runs its requests in a context of its
    own instead, as a gthread worker's thread does, so its connection is kept
    (CONN_MAX_AGE) and checked (CONN_HEALTH_CHECKS) between requests as today."""

    def wsgi(self, environ, start_response):
        context = getattr(_pool_thread, "context", None)
        if context is None:
            context = _pool_thread.context = contextvars.Context()
        context.run(super().wsgi, environ, start_response)


class _WSGISide(WSGIMiddleware):
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # lifespan, websocket: a2wsgi's answers
        await _ThreadContextResponder(self.app, self.executor, self.send_queue_size)(scope, receive, send)


def build_application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convoproject.settings")
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    asgi_side = get_asgi_application()
    wsgi_side = _WSGISide(get_wsgi_application(), workers=int(os.environ.get(THREADS_VARIABLE) or 4))

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] in ASGI_PATHS:
            return await asgi_side(scope, receive, send)
        return await wsgi_side(scope, receive, send)

    return application


def __getattr__(name):
    # `application` is built on first use, in the worker, not when gunicorn's
    # master imports this module for `Worker`: Django is set up in each
    # worker, and a HUP's new workers load the code anew, as without --preload.
    if name == "application":
        globals()["application"] = build_application()
        return globals()["application"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stop_streams():
    """Ask every open stream of this process to finish its response."""
    try:
        from convoproject.live import hub
    except ModuleNotFoundError as error:
        if error.name in ("convoproject.live", "convoproject.live.hub"):
            return  # no streams in this build
        raise
    hub.stop_streams()


class _StreamsFirstServer(Server):
    async def shutdown(self, sockets=None):
        # uvicorn waits for every connection to finish its response before it
        # exits, and a stream never does by itself: end them first, here on
        # the event loop's thread, where shutdown begins.
        try:
            stop_streams()
        except Exception:
            # Still stop: the streams then end at the graceful timeout below.
            logging.getLogger("uvicorn.error").exception("Could not end the open streams")
        await super().shutdown(sockets=sockets)


class Worker(UvicornWorker):
    """gunicorn's worker for `application`: uvloop and httptools (uvicorn[standard])."""

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        # uvicorn's default, kept: from the proxies of FORWARDED_ALLOW_IPS
        # (gunicorn's setting, 127.0.0.1 by default) X-Forwarded-Proto sets
        # the scheme, as gunicorn did, so a balancer there still needs no
        # SECURE_PROXY_SSL_HEADER; X-Forwarded-For also sets REMOTE_ADDR.
        "proxy_headers": True,
        "lifespan": "off",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Past gunicorn's --graceful-timeout the master kills the worker; stop
        # waiting for the requests in progress a little before that, so that
        # the worker still exits by itself.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 5)

    def load_wsgi(self):
        os.environ[THREADS_VARIABLE] = str(self.cfg.threads)
        super().load_wsgi()

    async def _serve(self):  # UvicornWorker._serve, with _StreamsFirstServer
        self.config.app = self.wsgi
        server = _StreamsFirstServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
