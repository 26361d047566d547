"""manage.py profile_rpcs: the RPCs and their floors in process, through
Django's WSGI handler with all its middleware but no HTTP server, on the data
`manage.py bench` seeds. Prints CPU microseconds per request of each RPC and
its floor; with --profile, pyinstrument's call tree of one RPC. This is how
the hot spots in docs/PERFORMANCE.md were found."""

import io
import json
import logging
import time

from django.core.management.base import BaseCommand, CommandError
from django.core.wsgi import get_wsgi_application
from django.test.utils import override_settings

from bench import workload as bench_workload
from bench.floors import FLOORS, URL_PREFIX
from bench.workload import Workload

RPCS = [rpc for rpc in bench_workload.RPCS if rpc in FLOORS]  # the RPCs that have a floor


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=2000, help="Timed requests per RPC and per floor.")
        parser.add_argument("--warmup", type=int, default=100)
        parser.add_argument("--only", action="append", choices=RPCS, help="Just this RPC (repeatable).")
        parser.add_argument("--profile", choices=RPCS, help="Print pyinstrument's call tree of this RPC.")

    def handle(self, *args, **options):
        with override_settings(ROOT_URLCONF="bench.urls"):  # the floors mounted, whatever the settings
            self.profile_all(**options)

    def profile_all(self, *, requests, warmup, only, profile, **options):
        logging.getLogger("convoproject.requests").setLevel(logging.WARNING)  # no log line per call
        workload = Workload()
        try:
            workload.prepare(deletes=0)
        except LookupError as error:
            raise CommandError(f"{error} (manage.py bench seeds it)") from None
        app = get_wsgi_application()
        rpcs = [profile] if profile else (only or RPCS)
        self.stdout.write(
            f"{'RPC':<28} {'RPC us':>8} {'floor us':>9} {'RPC/floor':>10}   (CPU per request, in process)"
        )
        try:
            for rpc in rpcs:
                bodies = workload.bodies(rpc, warmup + requests)
                rpc_us = self.measure(app, f"/protobuf/{rpc}", bodies, warmup, profile=bool(profile))
                floor_us = self.measure(app, f"/{URL_PREFIX}{rpc}", workload.bodies(rpc, warmup + requests), warmup)
                self.stdout.write(f"{rpc:<28} {rpc_us:>8.0f} {floor_us:>9.0f} {rpc_us / floor_us:>9.2f}x")
        finally:
            workload.forget_keys()

    def measure(self, app, path, bodies, warmup, *, profile=False):
        calls = [request(path, key, body) for key, body in bodies]
        for environ in calls[:warmup]:
            answer(app, environ())
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        started = time.process_time()
        for environ in calls[warmup:]:
            answer(app, environ())
        seconds = time.process_time() - started
        if profiler:
            profiler.stop()
            self.stdout.write(profiler.output_text(unicode=True, color=False))
        return seconds / max(1, len(calls) - warmup) * 1e6


def request(path, key, body):
    raw = json.dumps(body).encode()
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "wsgi.url_scheme": "http",
    }
    return lambda: {**base, "wsgi.input": io.BytesIO(raw)}


def answer(app, environ):
    statuses = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    if not statuses[0].startswith("200"):
        raise CommandError(f"{environ['PATH_INFO']} answered {statuses[0]}: {body[:300]!r}")
