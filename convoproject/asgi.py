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

Each worker runs on one CPU of those it may use, the workers spread evenly
over them (Worker.pin_to_one_cpu; PIN_WORKERS=0 turns it off).

`make run` serves `application` with uvicorn's own reloader instead.
"""

import asyncio
import contextlib
import io
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from a2wsgi.wsgi import Body, build_environ
from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

ASGI_PATHS = frozenset({"/events"})
# The WSGI side's threads per process when not under Worker (which sets it from --threads).
THREADS_VARIABLE = "CONVO_WSGI_THREADS"
# PIN_WORKERS=0: a worker's threads may run on any CPU (Worker.pin_to_one_cpu).
PIN_VARIABLE = "PIN_WORKERS"
# A request body of a known length up to this is read on the event loop before
# the thread starts; larger or chunked ones are read by the thread as it goes.
# Django refuses more than 1 MiB (DATA_UPLOAD_MAX_MEMORY_SIZE) anyway.
BUFFERED_BODY = 1024 * 1024 + 1


class WSGISide:
    """Django's WSGI handler in a pool of threads, under the ASGI server.

    The threads run nothing but requests: Django's database connections are
    thread-local there (its ConnectionHandler is thread-critical), so each
    thread keeps one, reused and health-checked between requests under
    CONN_MAX_AGE and CONN_HEALTH_CHECKS, as in a gthread worker.

    Cheaper than a general adapter (a2wsgi's WSGIMiddleware, measured in
    docs/PERFORMANCE.md): a request and a non-streaming response (every RPC)
    cross between the event loop and a thread once each way; only a
    streaming response (whitenoise's files) sends its chunks from the thread
    one by one."""

    def __init__(self, app, threads):
        self.app = app
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")

    async def __call__(self, scope, receive, send):
        loop = asyncio.get_running_loop()
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) <= BUFFERED_BODY:
            chunks, more = [], True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = io.BytesIO(b"".join(chunks))
        else:
            body = Body(loop, receive)
        environ = build_environ(scope, body)
        for message in await loop.run_in_executor(self.executor, self.respond, environ, send, loop):
            await send(message)

    def respond(self, environ, send, loop):
        """In a pool thread: the whole response's messages, or [] once a streaming one is sent."""
        start = []

        def start_response(status, headers, exc_info=None):
            headers = [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers]
            start[:] = [{"type": "http.response.start", "status": int(status[:3]), "headers": headers}]

        response = self.app(environ, start_response)
        try:
            if not getattr(response, "streaming", True):  # Django's HttpResponse
                return [*start, {"type": "http.response.body", "body": b"".join(response)}]
            for chunk in response:
                for message in [*start, {"type": "http.response.body", "body": chunk, "more_body": True}]:
                    asyncio.run_coroutine_threadsafe(send(message), loop).result()
                start.clear()
            return [*start, {"type": "http.response.body", "body": b""}]
        finally:
            if hasattr(response, "close"):
                response.close()  # Django's request_finished: close_old_connections, as under gthread


def build_application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convoproject.settings")
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    asgi_side = get_asgi_application()
    wsgi_side = WSGISide(get_wsgi_application(), threads=int(os.environ.get(THREADS_VARIABLE) or 4))

    async def application(scope, receive, send):
        # Not HTTP (lifespan, websocket): Django's ASGI handler refuses it, as it should.
        if scope["type"] != "http" or scope["path"] in ASGI_PATHS:
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
    from convoproject.live import hub  # in the worker, once Django is set up

    hub.stop_streams()


def choose_cpu(age: int, allowed: list[int], siblings: list[set[int]]) -> int:
    """The CPU a worker pins itself to: of the `allowed` ones, one that the
    fewest of its `siblings` (their CPU sets) are pinned to; among those, by
    its `age` (gunicorn's spawn count), so that workers that start together
    and see no sibling pinned yet still take the CPUs in turn, and a
    replacement takes the CPU its predecessor left."""
    pinned = {cpu: 0 for cpu in allowed}
    for cpus in siblings:
        if len(cpus) == 1 and (cpu := next(iter(cpus))) in pinned:
            pinned[cpu] += 1
    fewest = min(pinned.values())
    candidates = [cpu for cpu in allowed if pinned[cpu] == fewest]
    return candidates[age % len(candidates)]


def sibling_cpu_sets(ppid: int) -> list[set[int]]:
    """The CPU sets of the other children of `ppid` (gunicorn's master): its
    children as Linux lists them; none where it does not."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as children:
            pids = [int(pid) for pid in children.read().split()]
    except OSError:
        return []
    found = []
    for pid in pids:
        if pid != os.getpid():
            with contextlib.suppress(OSError):  # gone meanwhile
                found.append(os.sched_getaffinity(pid))
    return found


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
        "lifespan": "off",  # nothing to start or stop there: the streams end in shutdown() above
        # No websockets: an upgrade request is a plain HTTP request, as under
        # gthread (a 404), not a websocket scope that Django would refuse.
        "ws": "none",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Past gunicorn's --graceful-timeout the master kills the worker; stop
        # waiting for the requests in progress a little before that, so that
        # the worker still exits by itself.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 5)

    def init_process(self):
        # Before any thread starts: threads take the CPU set of the thread
        # that starts them.
        self.pin_to_one_cpu()
        super().init_process()

    def pin_to_one_cpu(self):
        """Run this worker's threads on one CPU (PIN_WORKERS=0: not). Its
        threads take turns on the GIL; across two CPUs each turn woke a
        thread on the other one, and a 1-worker read took 775 us of CPU
        instead of 453 (docs/PERFORMANCE.md, "the eighth session"). Linux
        only: elsewhere the kernel places the threads."""
        if os.environ.get(PIN_VARIABLE, "1") == "0" or not hasattr(os, "sched_setaffinity"):
            return
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            return
        cpu = choose_cpu(self.age, allowed, sibling_cpu_sets(self.ppid))
        os.sched_setaffinity(0, {cpu})
        self.log.info("Worker %s runs on CPU %s", os.getpid(), cpu)

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
