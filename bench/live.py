"""The clients of `manage.py bench_live`: Server-Sent Events subscribers and
fixed-rate writers, each in a process of its own (never the server's, never
the command's), on plain asyncio.

Subscribers (`subscribe`, one process): each holds `GET /events` open for
its conversations, as an `asyncio.Protocol` (no task, no stream reader per
connection: 1,000 streams cost one event loop and a callback per read). A
read is stamped once with `time.monotonic()` (CLOCK_MONOTONIC, the same clock
in every process of the machine), de-chunked, cut at blank lines; only a
`message` event's data is parsed as JSON. Each subscriber keeps what it got:
(message id, conversation id, sent_at, receipt time), its last event id, the
other events and comment lines it saw. A stream the server ends is resumed
with `Last-Event-ID`, as `EventSource` does; some subscribers (the resume
plan) also drop their stream on purpose mid-run and resume after a gap.

Writers (`write`, one process): CreateMessage at a fixed rate (open loop:
message i is due at t0 + i / rate, into conversation i mod C), over a few
keep-alive connections; for each message the time the request was due, sent
and answered, and the answer (id, sent_at).

The command talks to both over a pipe: `("start", t0)`, `("stop",)`; they
answer with their results. Live counters (streams open, messages received,
messages written) are shared memory the command reads for its progress line.

This module imports nothing of Django: the processes are forked from the
command before the run and only ever run this code.
"""

import asyncio
import contextlib
import json
import math
import time
import urllib.parse

CONNECT_TIMEOUT = 10.0  # seconds for a stream's response headers
MAX_RESUMES = 20  # a subscriber gives up after the server ended its stream this many times


def events_path(conversation_ids):
    return "/events?" + urllib.parse.urlencode([("conversation_id", c) for c in conversation_ids])


def percentiles(values, points=(50, 75, 90, 95, 99, 99.9)):
    """{"p50": ms, ..., "max": ms, "min": ms, "n": count} of seconds, nearest rank."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    n = len(ordered)
    out = {"n": n}
    for p in points:
        rank = max(0, min(n - 1, math.ceil(round(p / 100 * n, 9)) - 1))
        out[f"p{p:g}"] = round(ordered[rank] * 1000, 2)
    out["max"] = round(ordered[-1] * 1000, 2)
    out["min"] = round(ordered[0] * 1000, 2)
    out["mean"] = round(sum(ordered) / n * 1000, 2)
    return out


# ---------------------------------------------------------------- subscribers


class Subscriber:
    """One client of /events: its conversations, and all it received over
    however many connections it took."""

    def __init__(self, index, key, conversation_ids, resume_at=None, resume_gap=0.0):
        self.index, self.key, self.conversation_ids = index, key, list(conversation_ids)
        self.resume_at, self.resume_gap = resume_at, resume_gap  # seconds after t0, or None
        self.path = events_path(self.conversation_ids)
        self.deliveries = []  # (message id, conversation id, sent_at, receipt monotonic time)
        self.events = {}  # other event types -> count
        self.comments = 0
        self.last_event_id = None
        self.connections = 0  # streams opened (1 + resumes)
        self.server_ended = 0  # streams the server ended
        self.errors = []  # what went wrong, as text
        self.resumed_at = []  # (dropped, reopened) monotonic times of the planned resume
        self.protocol = None
        self.counter = None  # shared counter of messages received (RawValue), or None

    def request(self, host, port):
        head = [f"GET {self.path} HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Bearer {self.key}"]
        head += ["Accept: text/event-stream", "Cache-Control: no-cache"]
        if self.last_event_id is not None:
            head.append(f"Last-Event-ID: {self.last_event_id}")
        return ("\r\n".join(head) + "\r\n\r\n").encode()

    def on_event(self, block, now):
        kind, data = b"message", None
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data = line[5:]
            elif line.startswith(b"id:"):
                self.last_event_id = line[3:].strip().decode()
            elif line.startswith(b"event:"):
                kind = line[6:].strip()
            elif line.startswith(b":"):
                self.comments += 1
        if data is None:
            return
        if kind == b"message":
            message = json.loads(data)["message"]
            self.deliveries.append((message["id"], message.get("conversation_id"), message.get("sent_at"), now))
            if self.counter is not None:
                self.counter.value += 1
        else:
            name = kind.decode()
            self.events[name] = self.events.get(name, 0) + 1

    def result(self):
        return {
            "index": self.index,
            "conversation_ids": self.conversation_ids,
            "deliveries": self.deliveries,
            "events": self.events,
            "comments": self.comments,
            "connections": self.connections,
            "server_ended": self.server_ended,
            "errors": self.errors,
            "resumed": self.resume_at is not None,
            "resumed_at": self.resumed_at,
        }


class _Stream(asyncio.Protocol):
    """One connection of a subscriber: the response head, then the event stream."""

    def __init__(self, subscriber, opened, closed):
        self.subscriber, self.opened, self.closed = subscriber, opened, closed
        self.head = bytearray()  # None once the head is read
        self.status = 0
        self.chunked = False
        self.raw = bytearray()  # not yet de-chunked
        self.chunk_left = 0  # bytes of the current chunk still to come
        self.skip = 0  # bytes of a chunk's CRLF still to skip
        self.text = bytearray()  # de-chunked, not yet a whole event
        self.transport = None
        self.dropping = False  # closed on purpose by the client

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        now = time.monotonic()
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self.fail("a response head over 64 KiB")
                return
            head = bytes(self.head[:end]).lower()
            data = bytes(self.head[end + 4 :])
            self.head = None
            try:
                self.status = int(head[9:12])
            except ValueError:
                self.status = 0
            self.chunked = b"\r\ntransfer-encoding: chunked" in head
            if self.status != 200 or b"text/event-stream" not in head:
                self.fail(f"answered {self.status}: {head[:200].decode('latin-1')!r} {data[:300]!r}")
                return
            if not self.opened.done():
                self.opened.set_result(now)
            if not data:
                return
        if self.chunked:
            data = self.dechunk(data)
        text = self.text
        text += data
        if b"\r" in text:
            text[:] = text.replace(b"\r\n", b"\n")
        while (end := text.find(b"\n\n")) >= 0:
            block = bytes(text[:end])
            del text[: end + 2]
            self.subscriber.on_event(block, now)

    def dechunk(self, data):
        raw = self.raw
        raw += data
        out = bytearray()
        while raw:
            if self.skip:
                n = min(self.skip, len(raw))
                del raw[:n]
                self.skip -= n
            elif self.chunk_left:
                n = min(self.chunk_left, len(raw))
                out += raw[:n]
                del raw[:n]
                self.chunk_left -= n
                if not self.chunk_left:
                    self.skip = 2
            else:
                end = raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(bytes(raw[:end]).split(b";")[0], 16)
                del raw[: end + 2]
                if size == 0:  # the last chunk: the server ended the stream
                    self.transport.close()
                    break
                self.chunk_left = size
        return bytes(out)

    def fail(self, text):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(text))
        else:
            self.subscriber.errors.append(text)
        self.transport.close()

    def drop(self):
        self.dropping = True
        self.transport.close()

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the response head ({exc or 'EOF'})"))
        if not self.closed.done():
            self.closed.set_result(self.dropping)


class Subscribers:
    """All the subscribers of one process, on its event loop."""

    def __init__(self, host, port, subscribers, received=None, opened=None, open_concurrency=50):
        self.host, self.port, self.subscribers = host, port, subscribers
        self.received, self.opened = received, opened  # shared counters (RawValue) or None
        self.open_concurrency = open_concurrency
        self.loop = None
        self.stopping = False
        self.tasks = []

    async def connect(self, subscriber):
        """Open one stream; returns (the protocol, the closed future). Raises ConnectionError."""
        loop = asyncio.get_running_loop()
        opened, closed = loop.create_future(), loop.create_future()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _Stream(subscriber, opened, closed), self.host, self.port),
            CONNECT_TIMEOUT,
        )
        transport.write(subscriber.request(self.host, self.port))
        try:
            await asyncio.wait_for(opened, CONNECT_TIMEOUT)
        except BaseException:
            transport.close()
            raise
        subscriber.connections += 1
        subscriber.protocol = protocol
        return protocol, closed

    async def open_all(self):
        """Every subscriber's first stream, open_concurrency at a time. (opened, errors)."""
        gate = asyncio.Semaphore(self.open_concurrency)
        errors = []

        async def one(subscriber):
            async with gate:
                try:
                    _, closed = await self.connect(subscriber)
                except (TimeoutError, OSError) as error:
                    errors.append(f"subscriber {subscriber.index}: {type(error).__name__}: {error}")
                    return
                if self.opened is not None:
                    self.opened.value += 1
                self.tasks.append(asyncio.ensure_future(self.keep(subscriber, closed)))

        for subscriber in self.subscribers:
            subscriber.counter = self.received
        await asyncio.gather(*(one(s) for s in self.subscribers))
        return len(self.subscribers) - len(errors), errors

    async def keep(self, subscriber, closed):
        """Resume the stream each time the server ends it, until stop."""
        while True:
            dropped = await closed
            if self.stopping or dropped:
                return
            subscriber.server_ended += 1
            if self.opened is not None:
                self.opened.value -= 1
            if subscriber.server_ended > MAX_RESUMES:
                subscriber.errors.append(f"the server ended the stream {subscriber.server_ended} times: gave up")
                return
            await asyncio.sleep(0.05)
            closed = await self.reconnect(subscriber)
            if closed is None:
                return

    async def reconnect(self, subscriber):
        for attempt in range(5):
            try:
                _, closed = await self.connect(subscriber)
            except (TimeoutError, OSError) as error:
                subscriber.errors.append(f"resume: {type(error).__name__}: {error}")
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if self.opened is not None:
                self.opened.value += 1
            return closed
        return None

    async def planned_resume(self, subscriber, t0):
        """Drop the stream at t0 + resume_at, come back resume_gap later with Last-Event-ID."""
        await asyncio.sleep(max(0.0, t0 + subscriber.resume_at - time.monotonic()))
        protocol = subscriber.protocol
        if protocol is None or self.stopping:
            return
        dropped = time.monotonic()
        protocol.drop()
        if self.opened is not None:
            self.opened.value -= 1
        await asyncio.sleep(subscriber.resume_gap)
        closed = await self.reconnect(subscriber)
        subscriber.resumed_at.append((dropped, time.monotonic()))
        if closed is not None:
            self.tasks.append(asyncio.ensure_future(self.keep(subscriber, closed)))

    def start(self, t0):
        for subscriber in self.subscribers:
            if subscriber.resume_at is not None:
                self.tasks.append(asyncio.ensure_future(self.planned_resume(subscriber, t0)))

    async def stop(self):
        self.stopping = True
        for subscriber in self.subscribers:
            if subscriber.protocol is not None and subscriber.protocol.transport is not None:
                subscriber.protocol.drop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def subscribe(pipe, host, port, plans, received, opened, open_concurrency):
    """Entry point of the subscriber process. `plans`: (index, key,
    conversation ids, resume_at or None, resume_gap) per subscriber."""
    try:
        asyncio.run(_subscribe(pipe, host, port, plans, received, opened, open_concurrency))
    except Exception as error:  # reported to the command, which stops
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{type(error).__name__}: {error}"))


async def _subscribe(pipe, host, port, plans, received, opened, open_concurrency):
    loop = asyncio.get_running_loop()
    subscribers = [Subscriber(*plan) for plan in plans]
    group = Subscribers(host, port, subscribers, received, opened, open_concurrency)
    began = time.monotonic()
    count, errors = await group.open_all()
    pipe.send(("open", count, errors, time.monotonic() - began))
    cpu = None
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "start":
            cpu = time.process_time()
            group.start(command[1])
        elif command[0] == "stop":
            break
    await group.stop()
    used = time.process_time() - cpu if cpu is not None else 0.0
    pipe.send(("done", [s.result() for s in subscribers], used))


# ---------------------------------------------------------------- writers


class _Writer:
    """One keep-alive connection that POSTs and reads the answer."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def connect(self):
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def post(self, request):
        """(status, body, sent time)."""
        if self.writer is None:
            await self.connect()
        sent = time.monotonic()
        self.writer.write(request)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(head[at + 17 : head.find(b"\r\n", at + 2)])
            body = await self.reader.readexactly(length)
        elif b"\r\ntransfer-encoding: chunked" in head:
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            body = await self.reader.read()
            self.close()
        if b"\r\nconnection: close" in head:
            self.close()
        return status, body, sent


def write(pipe, host, port, key, conversation_ids, rate, seconds, connections, written):
    """Entry point of the writer process: waits for ("start", t0), writes,
    answers ("done", records, cpu seconds). A record: (i, conversation id,
    due, sent, answered, status, message id, sent_at, error)."""
    try:
        command = pipe.recv()
        if command[0] != "start":
            return
        records, cpu = asyncio.run(
            _write(host, port, key, conversation_ids, rate, seconds, connections, written, command[1])
        )
        pipe.send(("done", records, cpu))
    except Exception as error:
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{type(error).__name__}: {error}"))


async def _write(host, port, key, conversation_ids, rate, seconds, connections, written, t0):
    total = max(1, round(rate * seconds))
    idle = asyncio.Queue()
    for _ in range(connections):
        writer = _Writer(host, port)
        await writer.connect()
        idle.put_nowait(writer)
    records = [None] * total
    head = f"POST /protobuf/Streams/CreateMessage HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"

    async def one(i, writer, due):
        conversation = conversation_ids[i % len(conversation_ids)]
        body = json.dumps({"conversation_id": conversation, "author_id": f"writer{i % 10}", "text": f"live {i}"})
        body = body.encode()
        request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        sent = time.monotonic()
        try:
            status, answer, sent = await writer.post(request)
            answered = time.monotonic()
            if status == 200:
                message = json.loads(answer)["message"]
                records[i] = (i, conversation, due, sent, answered, status, message["id"], message["sent_at"], "")
                if written is not None:
                    written.value += 1
            else:
                error = answer[:300].decode("utf-8", "replace")
                records[i] = (i, conversation, due, sent, answered, status, None, None, error)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            writer.close()
            records[i] = (
                i,
                conversation,
                due,
                sent,
                time.monotonic(),
                0,
                None,
                None,
                f"{type(error).__name__}: {error}",
            )
        finally:
            idle.put_nowait(writer)

    cpu = time.process_time()
    tasks = []
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        writer = await idle.get()
        tasks.append(asyncio.ensure_future(one(i, writer, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return records, time.process_time() - cpu
