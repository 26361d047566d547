"""`manage.py bench`: every RPC over HTTP under gunicorn, beside its floor, and
ListMessages as a conversation grows (docs/PERFORMANCE.md; `make bench`).

    python manage.py bench --settings=bench.settings --messages 1000000 --concurrency 8 --requests 2000
    python manage.py bench --settings=bench.settings --help

1. Data. Seeds the database with `manage.py seed` (--namespaces,
   --conversations, --chats, --messages) unless it has that data already (it
   is then reused, whatever the arguments). Then the growth series' data
   (bench.growth): a conversation and a chat of each --growth size, and 100
   small conversations for RecentMessages; made once, reused afterwards.
2. Starts gunicorn (production settings with bench.settings on top, so the
   floors are mounted; --workers x --threads) on this database, and the load client in processes of its own.
3. Each RPC: --warmup requests, then --requests at --concurrency; then the
   same for its floor (bench/floors.py). With --rounds, again, the order of
   RPC and floor swapped each round. Prints requests/s, p50 and p99 latency,
   server CPU per request, and the ratio RPC / floor.
4. The growth series: ListMessages and Chats ListMessages, the first page and
   a page near the oldest message, at each size; RecentMessages over 100
   conversations against one ListMessages.
5. Writes results/<vendor>-<time>.json/.csv and latest-<vendor>.json/.csv
   (the plot, bench/plot.py, reads the latest ones).

Use a database of its own: it seeds it and writes to it.
"""

import datetime
import logging
import os
import sys
import time
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.test.utils import override_settings
from django.urls import resolve

from bench import capture, driver, floors, growth, report
from bench.management.commands.seed import NAMESPACE_PREFIX
from bench.management.commands.seed import Command as SeedCommand
from bench.workload import DESCRIPTIONS, READS, RPCS, TARGETS, Workload, encode
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage
from tests.support.server import Server, database_url

DEFAULT_GROWTH = "1000,10000,100000,1000000"
APPLICATION_NAME = "convo-bench-server"  # how the server's PostgreSQL connections are found for their CPU time


def sizes(text):
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise CommandError(f"--growth takes sizes separated by commas, not {text!r}") from None
    if any(v < 1 for v in values):
        raise CommandError("--growth sizes must be at least 1.")
    return [v for v in values if v]


class Command(BaseCommand):
    help = "Benchmark every RPC over HTTP under gunicorn against its raw-SQL floor, and ListMessages as data grows."

    def add_arguments(self, parser):
        data = parser.add_argument_group("data (seeded once, then reused)")
        data.add_argument("--namespaces", type=int, default=5)
        data.add_argument("--conversations", type=int, default=2000)
        data.add_argument("--chats", type=int, default=1000)
        data.add_argument(
            "--messages", type=int, default=1_000_000, help="Streams and Chats messages together (80 %% / 20 %%)."
        )
        data.add_argument("--no-seed", action="store_true", help="Never seed: use the data that is there.")
        data.add_argument(
            "--growth",
            default=DEFAULT_GROWTH,
            help=f"Messages per conversation of the growth series, comma-separated (default {DEFAULT_GROWTH}); "
            "'' leaves the series out.",
        )
        data.add_argument("--batch", type=int, default=20_000, help="Rows per transaction when seeding the series.")
        load = parser.add_argument_group("load")
        load.add_argument("--concurrency", type=int, default=8, help="Requests in flight (connections).")
        load.add_argument("--requests", type=int, default=2000, help="Measured requests per RPC and per floor.")
        load.add_argument("--warmup", type=int, default=100, help="Requests before each measurement.")
        load.add_argument("--rounds", type=int, default=1, help="Measure each RPC and floor this many times.")
        load.add_argument("--client-processes", type=int, default=1)
        load.add_argument(
            "--connections-per-slot",
            type=int,
            default=4,
            help="Keep-alive connections each request in flight rotates over (spreads it over the workers).",
        )
        load.add_argument(
            "--growth-requests", type=int, default=500, help="Per size and page of the series, in each round."
        )
        load.add_argument("--growth-concurrency", type=int, default=2, help="Requests in flight in the series.")
        load.add_argument(
            "--growth-rounds",
            type=int,
            default=3,
            help="Measure every size in turn this many times (the median round counts), so that a machine "
            "getting busier or quieter does not favour one size.",
        )
        load.add_argument("--recent-conversations", type=int, default=100)
        load.add_argument("--recent-limit", type=int, default=1, help="RecentMessages' limit_per_conversation.")
        load.add_argument("--only", action="append", default=[], help="Only the RPCs whose name contains this.")
        load.add_argument("--no-floors", action="store_true", help="The RPCs alone.")
        load.add_argument("--no-rpcs", action="store_true", help="Only the growth series.")
        server = parser.add_argument_group("server")
        server.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn processes.")
        server.add_argument("--threads", type=int, default=4, help="gunicorn threads per process.")
        out = parser.add_argument_group("output")
        out.add_argument("--results", default=str(Path(settings.BASE_DIR) / "bench" / "results"))
        out.add_argument("--label", default="", help="A note kept with the results, e.g. 'quiet machine'.")

    # ------------------------------------------------------------ the run

    def handle(self, *args, **o):
        self.o = o
        self.say = self.stderr.write if o["verbosity"] > 0 else (lambda *a, **k: None)
        self.check_arguments()
        started_at = datetime.datetime.now(datetime.UTC)
        load_before = report.load_average()
        if connection.vendor == "postgresql":
            # This command's own session only (seeding, VACUUM, remaking a big
            # series): no statement or lock timeout. The server keeps its own.
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
                cursor.execute("SET lock_timeout = 0")
        self.ensure_data()
        series = None
        if self.growth_sizes:
            series = growth.ensure(
                self.growth_sizes,
                recent_conversations=o["recent_conversations"],
                batch=o["batch"],
                log=self.say,
                progress=o["verbosity"] > 0,
            )
        rpcs = [] if o["no_rpcs"] else [r for r in RPCS if not o["only"] or any(s in r for s in o["only"])]
        workload = Workload()
        per_phase = o["requests"] + o["warmup"]
        deletes = per_phase * o["rounds"] * 2 + 5 if "Streams/DeleteConversation" in rpcs else 0
        try:
            workload.prepare(deletes)
        except LookupError as error:
            raise CommandError(str(error)) from None
        growth_key = workload.key_for(series.namespace) if series else None
        sql_counts = self.count_statements(workload, rpcs, series, growth_key)
        results = {"meta": self.meta(started_at, load_before)}
        connections.close_all()  # before forking the client processes
        log_path = Path(o["results"]) / f"gunicorn-{connection.vendor}.log"
        server = Server(
            database_url(connection.settings_dict, application_name=APPLICATION_NAME),
            workers=o["workers"],
            threads=o["threads"],
            timeout=60,
            keep_alive=30,
            log_path=log_path,
            env={"DJANGO_SETTINGS_MODULE": "bench.settings"},  # the floor views mounted
        )
        try:
            prime = driver.http_request(server.host, server.port, "/" + floors.URL_PREFIX + "noop", b"{}")
            client = driver.Client(
                server.host,
                server.port,
                processes=o["client_processes"],
                connections_per_slot=o["connections_per_slot"],
                prime=prime,
            )
            with client, server:
                self.client, self.server = client, server
                self.say(f"gunicorn on {server.host}:{server.port}, {o['workers']} x {o['threads']}; log {log_path}")
                if rpcs:
                    results["baseline"] = self.measure("/bench-floor/noop", [(growth_key or workload.scratch_key, {})])
                    self.progress("(noop view)", results["baseline"])
                    results["rpcs"] = self.run_rpcs(workload, rpcs, sql_counts)
                if series:
                    results.update(self.run_growth(series, growth_key, sql_counts))
        finally:
            workload.forget_keys()
        results["meta"]["load_after"] = report.load_average()
        results["meta"]["seconds"] = round(time.monotonic() - self.t0)
        self.stdout.write("\n" + report.text(results))
        stamp = started_at.strftime("%Y%m%d-%H%M%S")
        written = report.write(results, o["results"], stamp)
        self.stdout.write("\nResults: " + ", ".join(str(p) for p in written))
        errors = sum(
            e["rpc_phase"]["errors"] + (e.get("floor_phase") or {}).get("errors", 0) for e in results.get("rpcs", [])
        )
        if errors:
            raise CommandError(f"{errors} requests failed: see the errors column and {log_path}.")

    def check_arguments(self):
        o = self.o
        self.t0 = time.monotonic()
        if connection.vendor not in ("sqlite", "postgresql"):
            raise CommandError(f"manage.py bench runs on SQLite and PostgreSQL, not {connection.vendor}.")
        positive = [
            "concurrency",
            "requests",
            "rounds",
            "client_processes",
            "connections_per_slot",
            "workers",
            "threads",
        ]
        for name in [*positive, "growth_requests", "growth_concurrency", "growth_rounds"]:
            if o[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if o["warmup"] < 0:
            raise CommandError("--warmup must not be negative.")
        if not 1 <= o["recent_conversations"] <= 100 or not 1 <= o["recent_limit"] <= 1000:
            raise CommandError("--recent-conversations is 1 to 100, --recent-limit 1 to 1000.")
        self.growth_sizes = sizes(o["growth"])
        self.growth_concurrency = o["growth_concurrency"]
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database is not migrated: run manage.py migrate first.")

    def ensure_data(self):
        o = self.o
        if Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX).exists():
            self.say("Using the data seeded before (seed arguments ignored).")
            return
        if o["no_seed"]:
            return
        self.say(f"Seeding {o['messages']:,} messages (manage.py seed)...")
        call_command(
            SeedCommand(),
            namespaces=o["namespaces"],
            conversations=o["conversations"],
            chats=o["chats"],
            messages=o["messages"],
            stdout=self.stderr if o["verbosity"] > 0 else open(os.devnull, "w"),  # noqa: SIM115
            stderr=self.stderr,
            verbosity=o["verbosity"],
        )

    def meta(self, started_at, load_before):
        o = self.o
        version = report.database_version()
        return {
            "started": started_at.isoformat(timespec="seconds"),
            "label": o["label"],
            "command": " ".join(["manage.py", *sys.argv[2:]]) if sys.argv[1:2] == ["bench"] else "manage.py bench",
            "machine": report.machine(),
            "django": django.get_version(),
            "database": {
                "vendor": connection.vendor,
                "version": version,
                "name": str(connection.settings_dict["NAME"]),
            },
            "workers": o["workers"],
            "threads": o["threads"],
            "concurrency": o["concurrency"],
            "requests": o["requests"],
            "warmup": o["warmup"],
            "rounds": o["rounds"],
            "client_processes": o["client_processes"],
            "connections_per_slot": o["connections_per_slot"],
            "load_before": load_before,
            "data": {
                "seeded": counts(Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX)),
                "growth series": counts(Namespace.objects.filter(name=growth.NAMESPACE)),
            },
            "descriptions": DESCRIPTIONS,
        }

    # ------------------------------------------------------------ SQL per request

    def count_statements(self, workload, rpcs, series, growth_key):
        """Statements per request of each RPC (steady state: the API key
        cached), run in this process through the view itself."""
        counts = {}
        factory = RequestFactory()
        requests = [(rpc, *workload.bodies(rpc, 1)[0]) for rpc in rpcs]
        if series:
            ids = [str(i) for i in series.recent_ids[: self.o["recent_conversations"]]]
            body = {"conversation_ids": ids, "limit_per_conversation": self.o["recent_limit"]}
            requests.append(("recent", growth_key, body))
        quiet = logging.getLogger("convoproject.requests")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            with override_settings(RATE_LIMIT_PER_MINUTE=0):
                for name, key, body in requests:
                    path = "/protobuf/" + ("Streams/RecentMessages" if name == "recent" else name)
                    request = factory.post(path, encode(body), content_type="application/json")
                    request.META["HTTP_AUTHORIZATION"] = f"Bearer {key}"
                    view = resolve(path).func
                    with capture.capture() as captured:
                        response = view(request)
                    counts[name] = len(captured) if response.status_code == 200 else None
        finally:
            quiet.setLevel(level)
        return counts

    # ------------------------------------------------------------ phases

    def measure(self, path, bodies, total=None, concurrency=None):
        """Warm up, then measure one phase; the phase as a dict."""
        o = self.o
        total = total or o["requests"]
        concurrency = concurrency or o["concurrency"]
        host, port = self.server.host, self.server.port
        requests = [
            driver.http_request(host, port, path, encode(body), [("Authorization", f"Bearer {key}")])
            for key, body in bodies
        ]
        warm = o["warmup"]
        if warm:
            # The last `warm` bodies when they are all different (creates, deletes), else any.
            warm_requests = requests[total:] if len(requests) >= total + warm else requests
            self.client.run(warm_requests, warm, concurrency)
            measured = requests[:total] if len(requests) >= total + warm else requests
        else:
            measured = requests
        before = self.server.cpu_sample()
        result = self.client.run(measured, total, concurrency)
        after = self.server.cpu_sample()
        return report.phase_dict(result, Server.cpu_between(before, after))

    def progress(self, label, phase, floor=None):
        text = (
            f"  {label:<30} {phase['rps']:>8,.0f} req/s  p50 {phase['p50_ms']:7.2f} ms  p99 {phase['p99_ms']:7.2f} ms"
        )
        if phase["errors"]:
            text += f"  {phase['errors']} errors: {phase['first_error'][:120]}"
        self.say(text)

    def run_rpcs(self, workload, rpcs, sql_counts):
        o = self.o
        measured = {rpc: {"rpc": [], "floor": []} for rpc in rpcs}
        per_phase = o["requests"] + o["warmup"]
        for round_number in range(o["rounds"]):
            for rpc in rpcs:
                kinds = ["rpc"] if o["no_floors"] or rpc not in floors.FLOORS else ["rpc", "floor"]
                if round_number % 2:
                    kinds.reverse()  # drift over a run hurts both sides alike
                for kind in kinds:
                    prefix = "/protobuf/" if kind == "rpc" else "/" + floors.URL_PREFIX
                    phase = self.measure(prefix + rpc, workload.bodies(rpc, per_phase))
                    measured[rpc][kind].append(phase)
                    self.progress(("" if kind == "rpc" else "floor ") + rpc, phase)
        out = []
        for rpc in rpcs:
            entry = {
                "rpc": rpc,
                "kind": "read" if rpc in READS else "write",
                "description": DESCRIPTIONS[rpc],
                "sql_statements": sql_counts.get(rpc),
                "rpc_phase": combine(measured[rpc]["rpc"]),
                "target": TARGETS[rpc],
            }
            if measured[rpc]["floor"]:
                entry["floor_phase"] = combine(measured[rpc]["floor"])
                floor_rps = entry["floor_phase"]["rps"]
                entry["ratio"] = round(entry["rpc_phase"]["rps"] / floor_rps, 3) if floor_rps else None
            out.append(entry)
        return out

    def run_growth(self, series, key, sql_counts):
        o = self.o
        total, concurrency, rounds = o["growth_requests"], self.growth_concurrency, o["growth_rounds"]
        variants = {
            "Streams first": lambda p: ("Streams/ListMessages", {"conversation_id": str(p.id)}),
            "Streams deep": lambda p: ("Streams/ListMessages", {"conversation_id": str(p.id), "sent_before": ts(p)}),
            "Chats first": lambda p: ("Chats/ListMessages", {"chat_id": str(p.id)}),
            "Chats deep": lambda p: ("Chats/ListMessages", {"chat_id": str(p.id), "sent_before": ts(p)}),
        }
        ids = [str(i) for i in series.recent_ids[: o["recent_conversations"]]]
        recent_body = {"conversation_ids": ids, "limit_per_conversation": o["recent_limit"]}
        measured = {size: {v: [] for v in variants} for size in series.conversations}
        recent, recent_floor = [], []
        self.say(f"Growth series: {rounds} round(s) of {total:,} requests at concurrency {concurrency} per point")
        for _ in range(rounds):
            for size in sorted(series.conversations):
                for variant, make in variants.items():
                    parent = series.conversations[size] if variant.startswith("Streams") else series.chats[size]
                    rpc, body = make(parent)
                    phase = self.measure("/protobuf/" + rpc, [(key, body)], total, concurrency)
                    measured[size][variant].append(phase)
                    self.progress(f"{variant} {size:,}", phase)
            phase = self.measure("/protobuf/Streams/RecentMessages", [(key, recent_body)], total, concurrency)
            recent.append(phase)
            self.progress(f"RecentMessages x {len(ids)}", phase)
            if not o["no_floors"]:
                path = "/" + floors.URL_PREFIX + "Streams/RecentMessages"
                recent_floor.append(self.measure(path, [(key, recent_body)], total, concurrency))
                self.progress(f"floor RecentMessages x {len(ids)}", recent_floor[-1])
        rows = [{"size": size, **{v: combine(measured[size][v]) for v in variants}} for size in sorted(measured)]
        out = {
            "growth": {
                "concurrency": concurrency,
                "requests": total * rounds,
                "rounds": rounds,
                "variants": list(variants),
                "sizes": rows,
                "deep_page": f"sent_before = the {growth.DEEP_OFFSET + 1}th oldest message's sent_at",
            }
        }
        if len(rows) > 1:
            first, last = rows[0], rows[-1]
            out["growth"]["flat"] = {
                "smallest": first["size"],
                "largest": last["size"],
                "ratios": {
                    v: round(last[v]["p50_ms"] / first[v]["p50_ms"], 3) if first[v]["p50_ms"] else None
                    for v in variants
                },
            }
        phase = combine(recent)
        reference = rows[0]["Streams first"]
        out["recent"] = {
            "conversations": len(ids),
            "limit": o["recent_limit"],
            "sql_statements": sql_counts.get("recent"),
            "phase": phase,
            "floor_phase": combine(recent_floor) if recent_floor else None,
            "reference": f"first page of the {rows[0]['size']:,}-message conversation",
            "reference_p50_ms": reference["p50_ms"],
            "ratio": round(phase["p50_ms"] / reference["p50_ms"], 3) if reference["p50_ms"] else None,
        }
        return out


def counts(namespaces):
    return {
        "namespaces": namespaces.count(),
        "conversations": Conversation.objects.filter(namespace__in=namespaces).count(),
        "chats": Chat.objects.filter(namespace__in=namespaces).count(),
        "streams messages": StreamMessage.objects.filter(namespace__in=namespaces).count(),
        "chats messages": ChatMessage.objects.filter(namespace__in=namespaces).count(),
    }


def ts(parent):
    return parent.deep_before.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def combine(phases):
    """Rounds of one phase as one: throughput over all of them, latency percentiles of the median round."""
    if len(phases) == 1:
        return phases[0]
    ordered = sorted(phases, key=lambda p: p["p50_ms"])
    middle = dict(ordered[len(ordered) // 2])
    total_requests = sum(p["requests"] for p in phases)
    total_seconds = sum(p["requests"] / p["rps"] for p in phases if p["rps"])
    middle["requests"] = total_requests
    middle["errors"] = sum(p["errors"] for p in phases)
    middle["rps"] = round(total_requests / total_seconds, 1) if total_seconds else 0.0
    middle["rounds"] = [{k: p[k] for k in ("rps", "p50_ms", "p99_ms")} for p in phases]
    return middle
