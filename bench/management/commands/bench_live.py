"""`manage.py bench_live`: delivery of live updates (CONTRACT section 9,
`GET /events`) under load (docs/PERFORMANCE.md "Live updates"; `make bench-live`).

    python manage.py bench_live --settings=bench.settings --subscribers 100,1000 --rate 50 --seconds 30
    python manage.py bench_live --settings=bench.settings --help

For each number of subscribers N in --subscribers, on a server of its own:

1. Boots the service as the tests and `manage.py bench` do
   (tests/support/server.py's Server: the layout of `make serve`), and
   warms it up: a few streams opened and closed, a message written.
2. Idle: the RSS of the server processes, the database connections.
3. Opens N streams (bench/live.py, one client process) over --conversations
   conversations of namespace micro (subscriber s on conversation s mod C, and
   the next ones with --conversations-per-subscriber), every stream's
   response head in before anything is written; the API keys are spread so
   that no key holds more than --streams-per-key of them. Then the server's
   CPU with the streams open and nothing to send, for --idle seconds.
4. Writers (another process) send CreateMessage at --rate messages/s over the
   conversations in turn for --seconds, recording for each message when it was
   sent and when its answer came back (an upper bound of its commit). Some
   subscribers (--resume) drop their stream mid-run and come back
   --resume-gap seconds later with Last-Event-ID.
5. Waits until every expected delivery is in (at most --drain seconds),
   closes the streams, and reports: delivery latency (receipt - RPC answered,
   and receipt - request sent; p50, p99, max) over the subscribers that did
   not drop their stream, messages lost (expected and never received), repeated
   and out of order, the resume check (each resumed subscriber must end with
   exactly the messages of its conversations, in order, none twice), server
   CPU (gunicorn processes and their PostgreSQL backends, /proc) while
   writing and while idle, the RSS of the server processes with the streams
   open minus idle, and the database connections in use (pg_stat_activity).

Results: bench/results/live-<vendor>-<time>.json and latest-live-<vendor>.json;
the plot docs/performance-live.png (bench/plot_live.py) from the latest
results of each database. The command fails (after writing them) when a
message was lost, a resume check failed or a stream could not be opened.
"""

import collections
import contextlib
import datetime
import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor

from bench import live, report
from bench.wrk_data import create_database_if_missing
from convoproject.tenants.keys import new_key_for
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation
from tests.support.server import TICKS, Server, cpu_of, database_url

APPLICATION_NAME = "convo-bench-live"  # how the server's PostgreSQL connections are found (CPU, counts)
NAMESPACE = "micro"
GROUP = "bench-live"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def counts_list(text):
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--subscribers takes numbers separated by commas, not {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise CommandError("--subscribers: at least one number, each at least 1.")
    return values


class Command(BaseCommand):
    help = "Benchmark live updates: N SSE subscribers, messages written at a fixed rate, delivery latency and loss."

    def add_arguments(self, parser):
        load = parser.add_argument_group("load")
        load.add_argument("--subscribers", default="100,1000", help="Runs, one per number of subscribers (100,1000).")
        load.add_argument("--conversations", type=int, default=20, help="Conversations the subscribers spread over.")
        load.add_argument("--conversations-per-subscriber", type=int, default=1)
        load.add_argument("--rate", type=float, default=50.0, help="Messages per second, over all conversations.")
        load.add_argument("--seconds", type=float, default=30.0, help="How long the writers write.")
        load.add_argument(
            "--writer-connections",
            type=int,
            default=16,
            help="Keep-alive connections of the writers (requests in flight at most), so that a slow answer does "
            "not hold the next message back.",
        )
        load.add_argument("--streams-per-key", type=int, default=50, help="Open streams per API key at most.")
        load.add_argument("--open-concurrency", type=int, default=50, help="Streams being opened at once.")
        load.add_argument(
            "--resume",
            type=int,
            default=None,
            help="Subscribers that drop their stream mid-run and resume with Last-Event-ID "
            "(default: 5 %% of them, at least 1).",
        )
        load.add_argument("--resume-gap", type=float, default=1.0, help="Seconds a resuming subscriber stays away.")
        load.add_argument("--idle", type=float, default=3.0, help="Seconds of streams open and nothing sent.")
        load.add_argument("--drain", type=float, default=15.0, help="Seconds to wait for late deliveries at most.")
        server = parser.add_argument_group("server")
        server.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="Server processes.")
        server.add_argument("--threads", type=int, default=4, help="Threads per process (gthread layout).")
        out = parser.add_argument_group("output")
        out.add_argument("--results", default=str(Path(settings.BASE_DIR) / "bench" / "results"))
        out.add_argument(
            "--plot",
            default=str(Path(settings.BASE_DIR) / "docs" / "performance-live.png"),
            help="Where the plot goes ('' for none).",
        )
        out.add_argument("--label", default="", help="A note kept with the results, e.g. 'quiet machine'.")
        out.add_argument(
            "--setup-database",
            action="store_true",
            help="First create the PostgreSQL database of DATABASE_URL if it is missing, and migrate it.",
        )

    # ------------------------------------------------------------ the run

    def handle(self, *args, **o):
        self.o = o
        self.say = self.stderr.write if o["verbosity"] > 0 else (lambda *a, **k: None)
        sizes = counts_list(o["subscribers"])
        for name in ("conversations", "conversations_per_subscriber", "writer_connections", "streams_per_key"):
            if o[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if o["rate"] <= 0 or o["seconds"] <= 0:
            raise CommandError("--rate and --seconds must be positive.")
        if o["conversations_per_subscriber"] > o["conversations"]:
            raise CommandError("--conversations-per-subscriber is at most --conversations.")
        if o["setup_database"]:
            self.setup_database()
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database is not migrated: run manage.py migrate first (or --setup-database).")
        started_at = datetime.datetime.now(datetime.UTC)
        results = {"meta": self.meta(started_at), "runs": []}
        namespace, _ = Namespace.objects.get_or_create(name=NAMESPACE)
        self.key_ids = []
        try:
            conversations = [
                str(c.pk)
                for c in Conversation.objects.bulk_create(
                    [
                        Conversation(namespace=namespace, group_id=GROUP, topic=f"live {started_at:%H%M%S} {k}")
                        for k in range(o["conversations"])
                    ]
                )
            ]
            largest = max(sizes)
            keys = [self.new_key(namespace) for _ in range(-(-largest // o["streams_per_key"]) + 1)]
            for n in sizes:
                results["runs"].append(self.run(n, conversations, keys))
        finally:
            ApiKey.objects.filter(pk__in=self.key_ids).delete()
        results["meta"]["load_after"] = report.load_average()
        self.stdout.write("\n" + text(results))
        stamp = started_at.strftime("%Y%m%d-%H%M%S")
        written = write(results, o["results"], stamp)
        if o["plot"]:
            from bench import plot_live

            written.append(plot_live.plot(plot_live.load(o["results"]), Path(o["plot"])))
        self.stdout.write("\nResults: " + ", ".join(str(p) for p in written))
        problems = [p for run in results["runs"] for p in run["problems"]]
        if problems:
            raise CommandError("The run had problems:\n  " + "\n  ".join(problems))

    def setup_database(self):
        """Create the PostgreSQL database if missing (through the server's
        maintenance database `postgres`), then migrate."""
        create_database_if_missing(log=self.say)
        call_command("migrate", interactive=False, verbosity=0)

    def new_key(self, namespace):
        api_key, raw = new_key_for(namespace)
        self.key_ids.append(api_key.pk)
        return raw

    def meta(self, started_at):
        o = self.o
        version = report.database_version()
        return {
            "started": started_at.isoformat(timespec="seconds"),
            "label": o["label"],
            "command": " ".join(["manage.py", *sys.argv[1:]])
            if sys.argv[1:2] == ["bench_live"]
            else "manage.py bench_live",
            "machine": report.machine(),
            "django": django.get_version(),
            "database": {
                "vendor": connection.vendor,
                "version": version,
                "name": str(connection.settings_dict["NAME"]),
            },
            "load_before": report.load_average(),
            **{
                k: o[k]
                for k in (
                    "conversations",
                    "conversations_per_subscriber",
                    "rate",
                    "seconds",
                    "writer_connections",
                    "streams_per_key",
                    "resume_gap",
                    "idle",
                    "workers",
                    "threads",
                )
            },
        }

    # ------------------------------------------------------------ one run

    def run(self, n, conversations, keys):
        o = self.o
        per = o["conversations_per_subscriber"]
        resume = o["resume"] if o["resume"] is not None else max(1, n // 20)
        resume = min(resume, n)
        plans = []
        # The resuming subscribers: spread over the subscribers, their drops over the middle of the run.
        resuming = {round(k * n / resume) for k in range(resume)} if resume else set()
        for s in range(n):
            ids = [conversations[(s + j) % len(conversations)] for j in range(per)]
            at = None
            if s in resuming:
                at = o["seconds"] * (0.3 + 0.4 * (sorted(resuming).index(s) / max(1, len(resuming) - 1)))
            plans.append((s, keys[s // o["streams_per_key"]], ids, at, o["resume_gap"]))
        subscribers_of = collections.Counter(c for plan in plans for c in plan[2])
        connections.close_all()  # before forking the client processes
        log_path = Path(o["results"]) / f"server-live-{connection.vendor}.log"
        server = Server(
            database_url(connection.settings_dict, application_name=APPLICATION_NAME),
            workers=o["workers"],
            threads=o["threads"],
            timeout=60,
            keep_alive=30,
            log_path=log_path,
            env={"DJANGO_SETTINGS_MODULE": "bench.settings"},
        )
        self.say(f"\n{n:,} subscribers over {len(conversations)} conversations, {resume} resuming")
        with server:
            self.say(f"  server on {server.host}:{server.port} ({' '.join(server.command()[2:4])}), log {log_path}")
            warm = self.warm_up(server, conversations, keys)
            idle = {"rss_mb": self.rss_mb(server), "database_connections": self.database_connections()}
            self.say(f"  idle: server RSS {idle['rss_mb']:.1f} MB, database connections {idle['database_connections']}")
            result = self.measure(server, n, plans, conversations, keys, subscribers_of, idle)
            result["warm_up"] = warm
            result["log_problems"] = server.log_problems()[:20]
        return result

    def warm_up(self, server, conversations, keys):
        """A few streams opened and closed, and one message each way: every
        module loaded, so that idle RSS is the server's, not its first stream's."""
        context = multiprocessing.get_context("fork")
        plans = [(k, keys[0], [conversations[k % len(conversations)]], None, 0.0) for k in range(4)]
        pipe, child = context.Pipe()
        process = context.Process(
            target=live.subscribe, args=(child, server.host, server.port, plans, None, None, 4), daemon=True
        )
        process.start()
        child.close()
        try:
            answer = recv(pipe, 30, "the warm-up streams")
            if answer[0] != "open" or answer[1] != len(plans):
                raise CommandError(f"Could not open the warm-up streams: {answer}")
            wpipe, wchild = context.Pipe()
            writer = context.Process(
                target=live.write,
                args=(wchild, server.host, server.port, keys[-1], conversations[:4], 20.0, 0.2, 2, None),
                daemon=True,
            )
            writer.start()
            wchild.close()
            wpipe.send(("start", time.monotonic()))
            answer = recv(wpipe, 30, "the warm-up writer")
            writer.join(5)
            time.sleep(0.5)
            pipe.send(("stop",))
            done = recv(pipe, 30, "the warm-up streams")
        finally:
            process.join(5)
            if process.is_alive():
                process.terminate()
        statuses = collections.Counter(r[5] for r in answer[1]) if answer[0] == "done" else {}
        got = sum(len(s["deliveries"]) for s in done[1]) if done[0] == "done" else 0
        time.sleep(1.0)
        return {"written": dict(statuses), "received": got}

    def measure(self, server, n, plans, conversations, keys, subscribers_of, idle):
        o = self.o
        context = multiprocessing.get_context("fork")
        received, opened, written = (context.RawValue("q", 0) for _ in range(3))
        spipe, schild = context.Pipe()
        subscriber_process = context.Process(
            target=live.subscribe,
            args=(schild, server.host, server.port, plans, received, opened, o["open_concurrency"]),
            daemon=True,
        )
        wpipe, wchild = context.Pipe()
        writer_key = keys[-1]
        writer_process = context.Process(
            target=live.write,
            args=(
                wchild,
                server.host,
                server.port,
                writer_key,
                conversations,
                o["rate"],
                o["seconds"],
                o["writer_connections"],
                written,
            ),
            daemon=True,
        )
        sampler = Sampler(self, server)
        try:
            subscriber_process.start()
            schild.close()
            began = time.monotonic()
            while not spipe.poll(1.0):
                self.say(f"  opening streams: {opened.value:,}/{n:,} open, {time.monotonic() - began:.0f} s")
                if not subscriber_process.is_alive():
                    raise CommandError("The subscriber process died.")
                if time.monotonic() - began > 120 + n / 10:
                    raise CommandError(f"The streams did not open within {time.monotonic() - began:.0f} s.")
            answer = spipe.recv()
            if answer[0] != "open":
                raise CommandError(f"The subscribers failed: {answer}")
            _, open_count, open_errors, open_seconds = answer
            self.say(
                f"  {open_count:,}/{n:,} streams open in {open_seconds:.1f} s"
                + (f"; {len(open_errors)} failed, the first: {open_errors[0]}" if open_errors else "")
            )
            time.sleep(1.0)  # let the workers settle
            sampler.start()
            cpu_before_idle = server.cpu_sample()
            time.sleep(o["idle"])
            cpu_idle = Server.cpu_between(cpu_before_idle, server.cpu_sample())
            open_rss = self.rss_mb(server)
            open_database = self.database_connections()
            self.say(
                f"  {open_count:,} streams open: server RSS {open_rss:.1f} MB (+{open_rss - idle['rss_mb']:.1f}), "
                f"CPU {100 * cpu_idle / o['idle']:.1f} % of a core, database connections {open_database}"
            )
            writer_process.start()
            wchild.close()
            t0 = time.monotonic() + 0.5
            cpu_before = server.cpu_sample()
            split_before = cpu_split(server)
            spipe.send(("start", t0))
            wpipe.send(("start", t0))
            total = max(1, round(o["rate"] * o["seconds"]))
            per_message = sum(subscribers_of.values()) / len(conversations)
            last = 0.0
            while not wpipe.poll(0.2):
                if not writer_process.is_alive():
                    raise CommandError("The writer process died.")
                now = time.monotonic()
                if now - last >= 1.0:
                    last = now
                    self.say(
                        f"  t {max(0.0, now - t0):4.0f}/{o['seconds']:.0f} s: {written.value:,}/{total:,} written, "
                        f"{received.value:,}/~{round(written.value * per_message):,} delivered, "
                        f"{opened.value:,} streams open"
                    )
            answer = wpipe.recv()
            if answer[0] != "done":
                raise CommandError(f"The writers failed: {answer}")
            _, records, writer_cpu = answer
            ok = [r for r in records if r[5] == 200]
            expected = sum(subscribers_of[r[1]] for r in ok)
            deadline = time.monotonic() + o["drain"]
            while received.value < expected and time.monotonic() < deadline:
                time.sleep(0.1)
            drained = time.monotonic()
            cpu_busy = Server.cpu_between(cpu_before, server.cpu_sample())
            split = {k: round(v - split_before.get(k, 0.0), 2) for k, v in cpu_split(server).items()}
            busy_seconds = drained - t0
            self.say(
                f"  written {len(ok):,}/{total:,}; delivered {received.value:,}/{expected:,} "
                f"{drained - records[-1][4]:.1f} s after the last answer"
            )
            sampler.stop()
            spipe.send(("stop",))
            answer = recv(spipe, 60, "the subscribers' results")
            if answer[0] != "done":
                raise CommandError(f"The subscribers failed: {answer}")
            _, subscribers, subscriber_cpu = answer
        finally:
            sampler.stop()
            for process in (subscriber_process, writer_process):
                if process.pid is not None:
                    process.join(10)
                    if process.is_alive():
                        process.terminate()
        result = analyse(n, records, subscribers, subscribers_of)
        result.update(
            subscribers=n,
            opened=open_count,
            open_seconds=round(open_seconds, 2),
            open_errors=open_errors[:10],
            open_failures=len(open_errors),
            resuming=sum(1 for p in plans if p[3] is not None),
            server={
                "cpu_seconds_writing": round(cpu_busy, 2),
                "cpu_percent_writing": round(100 * cpu_busy / busy_seconds, 1),
                "cpu_us_per_message": round(1e6 * cpu_busy / len(ok)) if ok else None,
                "cpu_us_per_delivery": round(1e6 * cpu_busy / result["delivered"]) if result["delivered"] else None,
                "cpu_seconds_by_part": split,
                "cpu_percent_idle_streams": round(100 * cpu_idle / o["idle"], 1),
                "rss_idle_mb": round(idle["rss_mb"], 1),
                "rss_open_mb": round(open_rss, 1),
                "rss_max_mb": round(max(sampler.rss, default=open_rss), 1),
                "rss_per_1000_streams_mb": round((open_rss - idle["rss_mb"]) * 1000 / max(1, open_count), 1),
                "database_connections_idle": idle["database_connections"],
                "database_connections_open": open_database,
                "database_connections_max": max(
                    (s["total"] for s in sampler.database if s), default=(open_database or {}).get("total")
                )
                if connection.vendor == "postgresql"
                else None,
            },
            client={
                "subscriber_cpu_percent": round(100 * subscriber_cpu / busy_seconds, 1),
                "writer_cpu_percent": round(100 * writer_cpu / busy_seconds, 1),
            },
        )
        if open_errors:
            result["problems"].append(f"{n} subscribers: {len(open_errors)} streams did not open: {open_errors[0]}")
        self.say(
            "  " + run_line(result) + f"; server CPU {result['server']['cpu_percent_writing']} % of a core, "
            f"subscriber client {result['client']['subscriber_cpu_percent']} %"
        )
        return result

    # ------------------------------------------------------------ server figures

    def rss_mb(self, server):
        """RSS of the server's processes (master and workers), MB."""
        pids = [server.process.pid, *server.worker_pids()]
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        return total / 1e6

    def database_connections(self):
        """Connections to this database but this command's: {total, by state, of the server}."""
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(state, ''), application_name, count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1, 2"
            )
            rows = cursor.fetchall()
        states = collections.Counter()
        for state, _, count in rows:
            states[state or "?"] += count
        server = sum(count for _, name, count in rows if name == APPLICATION_NAME)
        return {"total": sum(states.values()), "server": server, "states": dict(states)}


def cpu_split(server):
    """CPU seconds so far of the workers' main threads (the event loop: the
    streams, the hub, Django's ASGI handler), of their other threads (the RPCs
    and the hub's database threads), and of the PostgreSQL backends."""
    split = {"worker event loops": 0.0, "worker other threads": 0.0, "database backends": 0.0}
    for pid in server.worker_pids():
        total, loop = cpu_of(pid), task_cpu(pid, pid)
        if total >= 0 and loop >= 0:
            split["worker event loops"] += loop
            split["worker other threads"] += total - loop
    for pid in server.database_pids():
        if (seconds := cpu_of(pid)) >= 0:
            split["database backends"] += seconds
    return split


def task_cpu(pid, tid):
    try:
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return -1.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class Sampler:
    """Every 0.5 s, in a thread: the server's RSS and the database connections."""

    def __init__(self, command, server):
        self.command, self.server = command, server
        self.rss, self.database = [], []
        self.stopping = threading.Event()
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        try:
            while not self.stopping.wait(0.5):
                self.rss.append(self.command.rss_mb(self.server))
                try:
                    self.database.append(self.command.database_connections())
                except DatabaseError:  # e.g. no connection slot left: that sample is missed
                    connection.close()
        finally:
            connection.close()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None


def recv(pipe, seconds, what):
    if not pipe.poll(seconds):
        raise CommandError(f"No answer from {what} within {seconds} s.")
    return pipe.recv()


# ---------------------------------------------------------------- analysis


def analyse(n, records, subscribers, subscribers_of):
    """Latency, loss, repeats, order and the resume check from the writers'
    records and what each subscriber received."""
    messages = {r[6]: r for r in records if r[5] == 200}
    by_conversation = collections.defaultdict(list)
    for r in sorted(messages.values(), key=lambda r: r[7]):
        by_conversation[r[1]].append(r[6])
    from_answer, from_sent, first_last = [], [], {}
    lost = repeated = unexpected = out_of_order = delivered = 0
    resume = {"subscribers": 0, "ok": 0, "lost": 0, "repeated": 0, "out_of_order": 0, "reset": 0, "replayed": 0}
    problems, errors = [], []
    events = collections.Counter()
    comments = server_ended = 0
    for sub in subscribers:
        got = sub["deliveries"]
        delivered += len(got)
        events.update(sub["events"])
        comments += sub["comments"]
        server_ended += sub["server_ended"]
        errors += [f"subscriber {sub['index']}: {e}" for e in sub["errors"]]
        expected = [m for c in sub["conversation_ids"] for m in by_conversation[c]]
        counts = collections.Counter(d[0] for d in got)
        missing = [m for m in expected if m not in counts]
        extra = sum(1 for m in counts if m not in messages)
        twice = sum(k - 1 for k in counts.values())
        disorder = 0
        newest = {}
        seen = set()
        for message_id, conversation_id, sent_at, _ in got:
            if message_id in seen:
                continue
            seen.add(message_id)
            if sent_at is not None and newest.get(conversation_id, "") > sent_at:
                disorder += 1
            newest[conversation_id] = max(newest.get(conversation_id, ""), sent_at or "")
        lost += len(missing)
        unexpected += extra
        out_of_order += disorder
        repeated += twice
        if sub["resumed"]:
            resume["subscribers"] += 1
            resume["lost"] += len(missing)
            resume["repeated"] += twice
            resume["out_of_order"] += disorder
            resume["reset"] += sub["events"].get("reset", 0)
            if sub["resumed_at"]:
                dropped, back = sub["resumed_at"][0]
                resume["replayed"] += sum(1 for m in expected if dropped <= messages[m][4] <= back)
            exact = [d[0] for d in got] == [m for m in sorted(expected, key=lambda m: messages[m][7])]
            if not missing and not twice and not disorder and not extra and sub["resumed_at"]:
                resume["ok"] += 1
            elif len(problems) < 10:
                problems.append(
                    f"{n} subscribers: resumed subscriber {sub['index']}: {len(missing)} missing, {twice} repeated, "
                    f"{disorder} out of order, {extra} unknown, resumed {len(sub['resumed_at'])} time(s), "
                    f"events {sub['events']}, exact {exact}"
                )
            continue
        mine = set()
        for message_id, _, _, at in got:
            record = messages.get(message_id)
            if record is None or message_id in mine:
                continue
            mine.add(message_id)
            from_answer.append(at - record[4])
            from_sent.append(at - record[3])
            first, last = first_last.get(message_id, (at, at))
            first_last[message_id] = (min(first, at), max(last, at))
    expected_total = sum(subscribers_of[r[1]] for r in messages.values())
    write_errors = [r for r in records if r[5] != 200]
    if lost:
        problems.insert(0, f"{n} subscribers: {lost:,} of {expected_total:,} expected deliveries lost")
    if write_errors:
        problems.append(f"{n} subscribers: {len(write_errors)} CreateMessage failed, the first: {write_errors[0][8]}")
    lateness = [r[3] - r[2] for r in records]
    rpc = [r[4] - r[3] for r in records if r[5] == 200]
    span = max(r[4] for r in records) - min(r[2] for r in records) if records else 0.0
    return {
        "written": len(messages),
        "written_per_second": round(len(records) / span, 1) if span else None,
        "write_errors": len(write_errors),
        "first_write_error": write_errors[0][8] if write_errors else "",
        "rpc_ms": live.percentiles(rpc),
        "writer_late_ms_max": round(1000 * max(lateness, default=0.0), 1),
        "expected": expected_total,
        "delivered": delivered,
        "lost": lost,
        "repeated": repeated,
        "unexpected": unexpected,
        "out_of_order": out_of_order,
        "latency_from_answer_ms": live.percentiles(from_answer),
        "latency_from_sent_ms": live.percentiles(from_sent),
        # Per message: its first receipt by any subscriber (the path to the server's streams), and the time
        # from its first receipt to its last (handing it to every stream of its conversation).
        "first_receipt_ms": live.percentiles([first - messages[m][4] for m, (first, _) in first_last.items()]),
        "fan_out_ms": live.percentiles([last - first for first, last in first_last.values()]),
        "resume": resume,
        "events": dict(events),
        "comments": comments,
        "server_ended_streams": server_ended,
        "stream_errors": len(errors),
        "first_stream_errors": errors[:5],
        "problems": problems,
    }


# ---------------------------------------------------------------- output


def run_line(run):
    a = run["latency_from_answer_ms"]
    s = run["latency_from_sent_ms"]
    r = run["resume"]
    latency = (
        f"latency p50 {a['p50']:.1f} p99 {a['p99']:.1f} max {a['max']:.1f} ms (from sent: p50 {s['p50']:.1f} "
        f"p99 {s['p99']:.1f} max {s['max']:.1f})"
        if a["n"]
        else "no latency measured"
    )
    return (
        f"{run['delivered']:,}/{run['expected']:,} delivered, {run['lost']:,} lost, {run['repeated']:,} repeated; "
        f"{latency}; resume {r['ok']}/{r['subscribers']} exact"
    )


def text(results):
    meta = results["meta"]
    m, db = meta["machine"], meta["database"]
    lines = [
        f"Machine:   {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['system']}, Python {m['python']}",
        f"Database:  {db['vendor']} {db['version']} ({db['name']})",
        f"Load:      {meta['rate']:g} messages/s for {meta['seconds']:g} s over {meta['conversations']} conversations "
        f"({meta['writer_connections']} writer connections); load avg {meta['load_before']} before, "
        f"{meta['load_after']} after" + (f"   [{meta['label']}]" if meta.get("label") else ""),
        "",
        "Latency: receipt - CreateMessage answered (and - request sent), ms, over the subscribers that kept their "
        "stream.",
    ]
    rows = []
    for run in results["runs"]:
        a, s, srv = run["latency_from_answer_ms"], run["latency_from_sent_ms"], run["server"]
        conn = srv["database_connections_max"]
        rows.append(
            [
                f"{run['subscribers']:,}",
                report.fmt(run["written_per_second"], ",.0f"),
                report.fmt(run["rpc_ms"].get("p50"), ".1f"),
                f"{run['delivered']:,}/{run['expected']:,}",
                f"{run['lost']:,}",
                f"{run['repeated']:,}",
                *(report.fmt(a.get(k), ".1f") for k in ("p50", "p99", "max")),
                *(report.fmt(s.get(k), ".1f") for k in ("p50", "p99")),
                f"{run['resume']['ok']}/{run['resume']['subscribers']}",
                report.fmt(srv["cpu_percent_writing"], ".0f"),
                report.fmt(srv["cpu_us_per_delivery"], ",.0f"),
                report.fmt(srv["cpu_percent_idle_streams"], ".1f"),
                report.fmt(srv["rss_per_1000_streams_mb"], ",.1f"),
                "-" if conn is None else str(conn),
                report.fmt(run["client"]["subscriber_cpu_percent"], ".0f"),
            ]
        )
    header = ["subs", "msg/s", "RPC p50", "delivered", "lost", "rep.", "p50", "p99", "max", "sent p50", "sent p99"]
    header += ["resume"]
    header += ["CPU %", "CPU us/dlv", "idle CPU %", "MB/1k streams", "db conns", "client %"]
    lines.append(report.table(rows, header, "lrrrrrrrrrrrrrrrrr"))
    lines.append(
        "msg/s: CreateMessage sent per second (all answered: the writers fall behind --rate when the server is slow); "
        "RPC p50: its latency, ms;\n"
        "CPU %: server (processes + PostgreSQL backends) while writing, of one core; CPU us/dlv: per delivery; idle "
        "CPU %: streams open, nothing sent;\nMB/1k streams: server RSS with the streams open minus idle, per 1,000 "
        "streams; db conns: most connections to the database seen while the streams were open; client %: the "
        "subscriber process's CPU."
    )
    lines.append("Where the time goes (ms; CPU seconds while writing):")
    for run in results["runs"]:
        first, spread, rpc = run["first_receipt_ms"], run["fan_out_ms"], run["rpc_ms"]
        split = ", ".join(f"{k} {v:.1f}" for k, v in run["server"]["cpu_seconds_by_part"].items())
        lines.append(
            f"  {run['subscribers']:,}: CreateMessage p50 {report.fmt(rpc.get('p50'), '.1f')} "
            f"p99 {report.fmt(rpc.get('p99'), '.1f')}; a message's first receipt after its answer p50 "
            f"{report.fmt(first.get('p50'), '.1f')} p99 {report.fmt(first.get('p99'), '.1f')}; first to last "
            f"receipt p50 {report.fmt(spread.get('p50'), '.1f')} p99 {report.fmt(spread.get('p99'), '.1f')}; {split}"
        )
    for run in results["runs"]:
        for problem in run["problems"] + run["log_problems"][:3]:
            lines.append(f"! {problem}")
    return "\n".join(lines)


def write(results, directory, stamp):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vendor = results["meta"]["database"]["vendor"]
    written = []
    for name in (f"live-{vendor}-{stamp}", f"latest-live-{vendor}"):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        written.append(path)
    return written
