"""`manage.py bench_live` (bench/live.py, bench/management/commands/bench_live.py).

1. The clients against a stand-in of /events made here (chunked SSE with ids
   and replay from Last-Event-ID, CreateMessage answering at once): every
   message reaches every subscriber of its conversation, the resuming ones
   included, and the analysis counts it so; a stand-in that drops messages,
   repeats them or replays badly is caught.
2. A tiny run of the whole command against the real service (5 subscribers,
   2 conversations, 2 seconds): 0 lost, and the counts add up.
"""

import asyncio
import collections
import importlib.util
import inspect
import json
import multiprocessing
import socket
import threading
import time
import urllib.parse
import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from bench import live
from bench.management.commands.bench_live import Command as BenchLiveCommand
from bench.management.commands.bench_live import analyse
from tests.support.server import Server

# ---------------------------------------------------------------- a stand-in of /events


class StandIn:
    """A tiny HTTP/1.1 server on asyncio in a thread: POST
    /protobuf/Streams/CreateMessage and GET /events, as section 9 has them,
    but for `lose` (every lose-th event of a stream is not sent), `repeat`
    (every repeat-th sent twice) and `replay` (False: a resumed stream starts
    from now)."""

    def __init__(self, lose=0, repeat=0, replay=True, end_after=0):
        self.lose, self.repeat, self.replay, self.end_after = lose, repeat, replay, end_after
        self.history = []  # (event id, conversation id, data)
        self.queues = []  # (conversation ids, asyncio.Queue)
        self.loop = asyncio.new_event_loop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def shutdown(self):
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self.serve, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    async def serve(self, reader, writer):
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                request_line, *lines = head.split("\r\n")
                method, target, _ = request_line.split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                if method == "POST":
                    answer = json.dumps(self.create(json.loads(body))).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                    writer.write(f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
                    await writer.drain()
                    continue
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                await self.stream(writer, set(query["conversation_id"]), headers.get("last-event-id"))
                return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def create(self, body):
        message = {
            "id": str(uuid.uuid4()),
            "author_id": body["author_id"],
            "conversation_id": body["conversation_id"],
            "text": body["text"],
            "sent_at": f"{time.time():.6f}",
        }
        event = (str(len(self.history) + 1), body["conversation_id"], json.dumps({"message": message}))
        self.history.append(event)
        for ids, queue in self.queues:
            if event[1] in ids:
                queue.put_nowait(event)
        return {"message": message}

    async def stream(self, writer, ids, last_event_id):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        queue = asyncio.Queue()
        self.queues.append((ids, queue))
        if last_event_id and self.replay:
            for event in self.history[int(last_event_id) :]:
                if event[1] in ids:
                    queue.put_nowait(event)

        def chunk(text):
            data = text.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        chunk("retry: 1000\n: hello\n\n")
        sent = 0
        try:
            while True:
                event_id, _, data = await queue.get()
                sent += 1
                if self.lose and sent % self.lose == 0:
                    continue
                for _ in range(2 if self.repeat and sent % self.repeat == 0 else 1):
                    chunk(f"id: {event_id}\nevent: message\ndata: {data}\n\n")
                await writer.drain()
                if self.end_after and sent % self.end_after == 0:
                    writer.write(b"0\r\n\r\n")  # the server ends the stream; the client resumes
                    return
        finally:
            self.queues.remove((ids, queue))


def run_clients(server, subscribers=6, conversations=("c1", "c2", "c3"), rate=200.0, seconds=1.0, resume=2):
    """Subscribers and writers against `server` (in this process's threads
    and a forked writer), then the command's analysis."""
    context = multiprocessing.get_context("fork")
    plans = [
        (s, "key", [conversations[s % len(conversations)]], (0.3 + 0.2 * s) * seconds if s < resume else None, 0.2)
        for s in range(subscribers)
    ]
    received, opened = multiprocessing.RawValue("q", 0), multiprocessing.RawValue("q", 0)
    spipe, schild = context.Pipe()
    sproc = context.Process(target=live.subscribe, args=(schild, "127.0.0.1", server.port, plans, received, opened, 4))
    sproc.start()
    assert spipe.poll(10)
    answer = spipe.recv()
    assert answer[:3] == ("open", subscribers, []), answer
    wpipe, wchild = context.Pipe()
    wproc = context.Process(
        target=live.write,
        args=(wchild, "127.0.0.1", server.port, "key", list(conversations), rate, seconds, 3, None),
    )
    wproc.start()
    t0 = time.monotonic() + 0.2
    spipe.send(("start", t0))
    wpipe.send(("start", t0))
    assert wpipe.poll(30)
    kind, records, _ = wpipe.recv()
    assert kind == "done"
    subscribers_of = collections.Counter(c for p in plans for c in p[2])
    expected = sum(subscribers_of[r[1]] for r in records if r[5] == 200)
    deadline = time.monotonic() + 5
    while received.value < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    spipe.send(("stop",))
    assert spipe.poll(30)
    kind, results, _ = spipe.recv()
    assert kind == "done"
    sproc.join(10)
    wproc.join(10)
    return records, results, analyse(subscribers, records, results, subscribers_of)


def test_the_clients_against_a_faithful_stand_in_lose_nothing():
    with StandIn() as server:
        records, results, analysis = run_clients(server)
    assert len(records) == 200 and all(r[5] == 200 for r in records)
    # 6 subscribers over 3 conversations: each message goes to 2 of them.
    assert analysis["expected"] == 400 and analysis["written"] == 200
    assert analysis["lost"] == 0 and analysis["repeated"] == 0 and analysis["out_of_order"] == 0
    assert analysis["unexpected"] == 0 and analysis["problems"] == []
    assert analysis["resume"]["subscribers"] == 2 and analysis["resume"]["ok"] == 2
    assert analysis["resume"]["replayed"] > 0  # written while they were away, and replayed to them
    assert analysis["delivered"] == 400
    # Latency over the 4 that kept their stream: one receipt per message each.
    assert analysis["latency_from_answer_ms"]["n"] == sum(len(r["deliveries"]) for r in results if not r["resumed"])
    assert analysis["latency_from_sent_ms"]["p50"] >= analysis["latency_from_answer_ms"]["p50"]
    assert analysis["latency_from_sent_ms"]["p99"] < 1000
    assert all(r["comments"] >= 1 and r["connections"] == (2 if r["resumed"] else 1) for r in results)


def test_a_stream_the_server_ends_is_resumed_without_loss():
    with StandIn(end_after=15) as server:
        _, results, analysis = run_clients(server, resume=0)
    assert analysis["server_ended_streams"] > 0 and analysis["lost"] == 0 and analysis["repeated"] == 0
    assert analysis["problems"] == [] and all(r["errors"] == [] for r in results)


@pytest.mark.parametrize(
    ("faults", "seen"),
    [({"lose": 7}, "lost"), ({"repeat": 5}, "repeated"), ({"replay": False}, "resumed subscriber")],
)
def test_a_stand_in_that_loses_repeats_or_does_not_replay_is_caught(faults, seen):
    with StandIn(**faults) as server:
        _, _, analysis = run_clients(server)
    if seen == "repeated":
        assert analysis["repeated"] > 0
        assert any("repeated" in p for p in analysis["problems"])  # by a resumed subscriber at least
    else:
        assert analysis["lost"] > 0 and any(seen in p for p in analysis["problems"]), analysis["problems"]


def test_percentiles_are_nearest_rank_in_ms():
    p = live.percentiles([k / 1000 for k in range(1, 101)])
    assert (p["n"], p["p50"], p["p99"], p["max"], p["min"]) == (100, 50.0, 99.0, 100.0, 1.0)
    assert live.percentiles([]) == {"n": 0}


# ---------------------------------------------------------------- the command, on the real service


HAS_EVENTS = importlib.util.find_spec("convoproject.live") is not None
# gunicorn's gthread workers hold an async stream's whole body back (Django consumes it first): the
# harness must boot make serve's ASGI layout for streams to flow.
STREAMS_FLOW = "gthread" not in inspect.getsource(Server.command)


@pytest.mark.skipif(not HAS_EVENTS, reason="GET /events (convoproject/live) is not there yet")
@pytest.mark.skipif(not STREAMS_FLOW, reason="tests/support/server.py boots gthread workers: no stream flows")
@pytest.mark.django_db(transaction=True)
def test_a_tiny_bench_live_run_loses_nothing_and_its_counts_add_up(tmp_path):
    out, err = StringIO(), StringIO()
    call_command(
        BenchLiveCommand(),
        *["--subscribers", "5", "--conversations", "2", "--seconds", "2", "--rate", "10", "--resume", "1"],
        *["--resume-gap", "0.5", "--idle", "0.5", "--workers", "1", "--threads", "16"],
        *["--results", str(tmp_path), "--plot", str(tmp_path / "live.png")],
        stdout=out,
        stderr=err,
    )
    assert "5 subscribers over 2 conversations" in err.getvalue()
    vendor = "postgresql" if "postgresql" in out.getvalue().split("Database:", 1)[1][:20] else "sqlite"
    results = json.loads((tmp_path / f"latest-live-{vendor}.json").read_text())
    (run,) = results["runs"]
    assert run["subscribers"] == 5 and run["opened"] == 5 and run["open_failures"] == 0
    assert run["written"] == 20 and run["write_errors"] == 0
    # 5 subscribers over 2 conversations: 3 on the first, 2 on the second; 10 messages into each.
    assert run["expected"] == 10 * 3 + 10 * 2
    assert run["lost"] == 0 and run["repeated"] == 0 and run["out_of_order"] == 0 and run["unexpected"] == 0
    assert run["delivered"] == run["expected"]
    assert run["resume"] == {**run["resume"], "subscribers": 1, "ok": 1, "lost": 0, "repeated": 0}
    assert run["latency_from_answer_ms"]["n"] == run["expected"] - 10  # but subscriber 0, resumed
    assert run["problems"] == []
    assert run["server"]["cpu_seconds_writing"] > 0 and run["server"]["rss_open_mb"] > 0
    if vendor == "postgresql":
        assert run["server"]["database_connections_max"] >= 1
    assert (tmp_path / "live.png").stat().st_size > 0
