"""`manage.py bench_wrk`: send, read and create under `make serve`'s layout,
driven by wrk, beside the no-SQL ceiling, on SQLite and PostgreSQL in one run
(`make bench-wrk`; issue 13's comparison).

    python manage.py bench_wrk --settings=bench.settings
    python manage.py bench_wrk --settings=bench.settings --databases sqlite --seconds 5 --warmup 2

For each database of --databases (the SQLite file --sqlite-path, the
PostgreSQL database --postgresql-url), this command runs itself again in a
subprocess with DATABASE_URL set to it (Django's connection is bound to
DATABASE_URL when a process starts), which:

1. creates the PostgreSQL database if it is missing, migrates, and seeds
   (bench/wrk_data.py: a namespace, one API key, a conversation of
   --messages messages to read, one to send into);
2. for each layout of --layouts ("default": --workers workers; a number:
   that many), --threads threads each, boots the service as `make serve`
   does (tests.support.server.Server, with bench.settings for the noop view)
   and runs wrk (bench/wrk.py, bench/wrk.lua) on noop, read, send and create
   (and, when --requests names them, trip: the noop plus one `SELECT 1`,
   floor: the read's floor view, and refused: the read with a wrong key)
   in turn: a --warmup s run, then --seconds measured, -c --connections -t
   --wrk-threads, keep-alive; reads the server's CPU per request and then
   each worker's RSS;
3. hands its figures back as JSON.

This one prints a table per database and a summary beside the reference
(bench/results/reference-synapse.json, when present; bench/wrk_report.py),
writes bench/results/wrk-<time>.json/.md and latest-wrk.json/.md, and fails
at the end if any request failed (socket errors, answers of 400 or more) or
a database's run did. `make bench-wrk-plot` draws docs/performance-wrk.png.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import django
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import growth, report, wrk, wrk_data, wrk_report
from tests.support.server import Server, database_url

ROOT = Path(settings.BASE_DIR)
RESULTS = ROOT / "bench" / "results"
APPLICATION_NAME = "convo-bench-wrk"  # how the server's PostgreSQL backends are found for their CPU time
DATABASES = ("sqlite", "postgresql")
POSTGRESQL_URL = "postgres://postgres@127.0.0.1:5432/convo_benchwrk"
# The options each database's subprocess is given as they were given here.
PASSED_ON = ("seconds", "warmup", "connections", "wrk_threads", "rounds", "requests", "layouts", "workers", "threads")


def worker_counts(text: str, *, default: int) -> list[int]:
    """--layouts: 'default,1' -> [default, 1] (each once, in order)."""
    counts = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            count = default if part == "default" else int(part)
        except ValueError:
            raise CommandError(f"--layouts takes 'default' or numbers of workers, not {part!r}") from None
        if count < 1:
            raise CommandError("--layouts: at least 1 worker.")
        if count not in counts:
            counts.append(count)
    if not counts:
        raise CommandError("--layouts: at least one layout.")
    return counts


def without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


class Command(BaseCommand):
    help = "wrk against make serve's layout: send, read and create beside the no-SQL ceiling, SQLite and PostgreSQL."

    def add_arguments(self, parser):
        load = parser.add_argument_group("load (wrk)")
        load.add_argument("--seconds", type=int, default=15, help="Measured seconds per request (wrk -d).")
        load.add_argument("--warmup", type=int, default=5, help="Seconds of the warm-up run before each (0: none).")
        load.add_argument("--connections", type=int, default=16, help="wrk -c: keep-alive connections.")
        load.add_argument("--wrk-threads", type=int, default=2, help="wrk -t.")
        load.add_argument(
            "--rounds",
            type=int,
            default=1,
            help="Run the requests this many times in turn on each server (noop, read, noop, read...); each "
            "figure is then the median round's and /ceiling the median of each round's ratio to its noop.",
        )
        load.add_argument(
            "--requests",
            default=",".join(wrk.REQUESTS),
            help=f"Which of {','.join(wrk.KNOWN)} to run (default: {','.join(wrk.REQUESTS)}), e.g. noop,read "
            "for an A/B; trip: the noop plus one SELECT 1; floor: the read's SQL and rendering in a plain "
            "Django view; refused: reads with a wrong API key, what refusing costs.",
        )
        server = parser.add_argument_group("server")
        server.add_argument("--layouts", default="default,1", help="Numbers of workers, 'default' being --workers.")
        server.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="make serve's WORKERS.")
        server.add_argument("--threads", type=int, default=4, help="make serve's THREADS, in every layout.")
        data = parser.add_argument_group("databases")
        data.add_argument("--databases", default=",".join(DATABASES), help="sqlite, postgresql or both.")
        data.add_argument("--sqlite-path", default=str(RESULTS / "wrk.sqlite3"), help="Made if missing, reused.")
        data.add_argument("--postgresql-url", default=POSTGRESQL_URL, help="Created if missing, reused.")
        data.add_argument("--messages", type=int, default=5000, help="Messages of the read conversation.")
        out = parser.add_argument_group("output")
        out.add_argument("--results", default=str(RESULTS))
        out.add_argument("--reference", default=str(RESULTS / "reference-synapse.json"), help="'' for none.")
        out.add_argument("--label", default="", help="A note kept with the results, e.g. 'quiet machine'.")
        # One database's run, in the subprocess this command starts: its JSON goes to this path.
        parser.add_argument("--one-database", default="", help=argparse.SUPPRESS)

    def handle(self, *args, **o):
        self.o = o
        self.say = self.stderr.write if o["verbosity"] > 0 else (lambda *a, **k: None)
        self.begin = self.begin_line if o["verbosity"] > 0 else (lambda *a, **k: None)
        try:
            self.wrk_path = wrk.executable()
        except wrk.WrkMissing as missing:
            raise CommandError(str(missing)) from None
        for name in ("seconds", "connections", "wrk_threads", "rounds", "workers", "threads", "messages"):
            if o[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if o["warmup"] < 0:
            raise CommandError("--warmup must not be negative.")
        if o["connections"] < o["wrk_threads"]:
            raise CommandError("--connections must be at least --wrk-threads (wrk gives each thread some).")
        self.layouts = worker_counts(o["layouts"], default=o["workers"])
        self.requests = [name.strip() for name in o["requests"].split(",") if name.strip()]
        if not self.requests or any(name not in wrk.KNOWN for name in self.requests):
            raise CommandError(f"--requests takes some of {','.join(wrk.KNOWN)}, not {o['requests']!r}.")
        self.load = wrk.Load(o["seconds"], o["warmup"], o["connections"], o["wrk_threads"])
        if o["one_database"]:
            try:
                entry = self.run_database()
            except RuntimeError as error:  # the server did not boot, wrk failed: the message says it all
                raise CommandError(str(error)) from None
            Path(o["one_database"]).write_text(json.dumps(entry))
            return
        databases = [d.strip() for d in o["databases"].split(",") if d.strip()]
        if not databases or any(d not in DATABASES for d in databases):
            raise CommandError(f"--databases takes {' and '.join(DATABASES)}, not {o['databases']!r}.")
        self.run_all(databases)

    # ------------------------------------------------------------ this process: every database

    def run_all(self, databases):
        o = self.o
        started_at = datetime.datetime.now(datetime.UTC)
        results = {"meta": self.meta(started_at), "databases": []}
        for vendor in databases:
            results["databases"].append(self.run_subprocess(vendor))
        meta = results["meta"]
        meta["load_after"] = report.load_average()
        meta["database_versions"] = {e["vendor"]: e.get("version") for e in results["databases"]}
        meta["seconds"] = round((datetime.datetime.now(datetime.UTC) - started_at).total_seconds())
        reference = wrk_report.load_reference(o["reference"])
        printed = wrk_report.text(results, reference)
        self.stdout.write("\n" + printed)
        written = wrk_report.write(results, o["results"], started_at.strftime("%Y%m%d-%H%M%S"), printed)
        self.stdout.write("\nResults: " + ", ".join(str(p) for p in written))
        problems = wrk_report.failures(results)
        failed = wrk_report.errors(results)
        if failed:
            problems.append(f"{failed} requests failed: see the errors columns and the server logs in {o['results']}.")
        if problems:
            raise CommandError("\n".join(problems))

    def run_subprocess(self, vendor):
        o = self.o
        url = o["postgresql_url"]
        if vendor == "sqlite":
            path = Path(o["sqlite_path"]).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        self.say(f"\n{wrk_report.vendor_name(vendor)}: {without_password(url)}")
        argv = [sys.executable, str(ROOT / "manage.py"), "bench_wrk", "--settings=bench.settings"]
        for name in PASSED_ON:
            argv += [f"--{name.replace('_', '-')}", str(o[name])]
        argv += ["--messages", str(o["messages"]), "--results", o["results"], "--verbosity", str(o["verbosity"])]
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as directory:
            out = Path(directory) / "database.json"
            done = subprocess.run(
                [*argv, "--one-database", str(out)],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": url},
                stdin=subprocess.DEVNULL,
            )
            if done.returncode == 0 and out.exists():
                return json.loads(out.read_text())
        name = Path(o["sqlite_path"]).name if vendor == "sqlite" else urllib.parse.urlsplit(url).path.lstrip("/")
        return {"vendor": vendor, "name": name, "error": f"its run failed (exit status {done.returncode}): see above."}

    def meta(self, started_at):
        o = self.o
        return {
            "started": started_at.isoformat(timespec="seconds"),
            "label": o["label"],
            "command": " ".join(["manage.py", *sys.argv[1:]]) if sys.argv[1:2] == ["bench_wrk"] else "bench_wrk",
            "git": git_state(),
            "machine": report.machine(),
            "django": django.get_version(),
            "wrk": wrk.version(self.wrk_path),
            "load": {
                "seconds": o["seconds"],
                "warmup": o["warmup"],
                "connections": o["connections"],
                "wrk_threads": o["wrk_threads"],
                "keep_alive": True,
                "rounds": o["rounds"],
            },
            "workers": o["workers"],
            "threads": o["threads"],
            "layouts": self.layouts,
            "read_messages": o["messages"],
            "load_before": report.load_average(),
            "requests": {name: text for name, text in wrk.DESCRIPTIONS.items() if name in self.requests},
        }

    # ------------------------------------------------------------ the subprocess: one database

    def run_database(self):
        o = self.o
        t0 = time.monotonic()
        load_before = report.load_average()
        vendor = connection.vendor
        if vendor not in DATABASES:
            raise CommandError(f"bench_wrk runs on SQLite and PostgreSQL, not {vendor}.")
        self.say("Migrating and seeding")
        wrk_data.prepare_database(log=self.say)
        seeded = wrk_data.seed(messages=o["messages"], log=self.say)
        self.say(f"Seeded in {time.monotonic() - t0:.1f} s (read conversation {'made' if seeded.made else 'reused'})")
        requests = {
            name: request
            for name, request in wrk.requests(read_id=seeded.read_id, send_id=seeded.send_id).items()
            if name in self.requests
        }
        url = database_url(connection.settings_dict, application_name=APPLICATION_NAME)
        entry = {
            "vendor": vendor,
            "version": report.database_version(),
            "name": Path(connection.settings_dict["NAME"]).name,
            "read_messages": seeded.read_messages,
            "load_before": load_before,
            "layouts": [self.run_layout(url, workers, requests, seeded.key) for workers in self.layouts],
        }
        entry["load_after"] = report.load_average()
        return entry

    def run_layout(self, url, workers, requests, key):
        o = self.o
        log_path = Path(o["results"]) / f"gunicorn-wrk-{connection.vendor}-{workers}x{o['threads']}.log"
        server = Server(
            url,
            workers=workers,
            threads=o["threads"],
            log_path=log_path,
            env={"DJANGO_SETTINGS_MODULE": "bench.settings"},  # the noop view mounted
        )
        layout = {"workers": workers, "threads": o["threads"], "results": {}}
        # PostgreSQL: the planner's statistics of now, as autovacuum keeps them
        # (this machine's server runs without it). Without them, after the
        # sends of earlier runs, a read's page was planned for a conversation
        # of 1 message: a bitmap scan of all 5,000 and a sort, 2.5x the CPU.
        growth.analyze(self.say)
        rounds = {name: [] for name in requests}
        with server:
            self.say(f"  {workers} x {o['threads']}: gunicorn on {server.host}:{server.port}, log {log_path}")
            for number in range(1, o["rounds"] + 1):
                if o["rounds"] > 1:
                    self.say(f"    round {number} of {o['rounds']}")
                for name, request in requests.items():
                    self.begin(f"    {name:<7} {o['warmup']} s warm-up, {o['seconds']} s measured ... ")
                    figures = wrk.measure(server, request, key=key, load=self.load, path=self.wrk_path)
                    rounds[name].append(figures)
                    self.say(
                        f"{figures['rps']:>8,.0f} req/s  p50 {figures['p50_ms']:7.2f} ms"
                        f"  p99 {figures['p99_ms']:7.2f} ms  {figures['errors']} errors"
                    )
            layout["results"] = {name: wrk.combine(figures) for name, figures in rounds.items()}
            layout["rss_mb"] = wrk.rss_per_worker_mb(server)
            layout["log_problems"] = server.log_problems()[:20]
        return layout

    def begin_line(self, text):
        """A progress line whose end comes later (after a run of wrk)."""
        self.stderr.write(text, ending="")
        self.stderr.flush()


def git_state() -> dict:
    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)}
