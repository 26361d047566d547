"""The HTTP load client of `manage.py bench`: closed-loop, keep-alive, in
processes of their own (never the server's).

A phase sends `total` requests with `concurrency` in flight: slot c sends
requests c, c + C, c + 2C, ... of the phase, each one as soon as the previous
answer is in (closed loop). Request i is `requests[i % len(requests)]`, a
prebuilt HTTP/1.1 request; give at least `total` of them when each must be
different (creates, deletes).

Each slot sends over `connections_per_slot` keep-alive connections in turn.
gunicorn pins a connection to the worker process that accepted it, at random;
two requests in flight on one worker share its GIL and take twice as long. With
one connection per slot, a phase's figures then depend on how its few
connections happened to land (p50 jumped between 2 and 4 ms from one phase
to the next); with several, each request lands on a worker at random and the
phases measure the same thing.

Connections are opened one at a time, each sending one `prime` request
(the bench's no-SQL view) at once: gunicorn's gthread worker lets a new
connection hold a thread for up to 5 s waiting for its first request, so
connections opened ahead and left silent would stall the threads. Once it
has answered a request, an idle connection waits in gthread's poller instead.

The client is plain sockets and a minimal response reader, so that it costs
little CPU on a machine it shares with the server: each phase reports the
client's own CPU time per request, which tells whether it was in the way.
The connections are spread over `processes` client processes (threads in
each), made and connected before the clock starts.

This module imports nothing of Django: the client processes are forked from
the bench command before it starts any work and only ever run this code.
"""

import contextlib
import dataclasses
import multiprocessing
import socket
import threading
import time


def http_request(host, port, path, body, headers=()):
    """A POST request as bytes, ready to send again and again."""
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


@dataclasses.dataclass
class PhaseResult:
    requests: int = 0
    elapsed: float = 0.0  # seconds from the first request sent to the last answer
    latencies: list = dataclasses.field(default_factory=list)  # seconds, one per request
    statuses: dict = dataclasses.field(default_factory=dict)  # status -> count
    first_error: str = ""
    client_cpu: float = 0.0  # seconds of CPU used by the client processes
    reconnects: int = 0

    @property
    def errors(self):
        return sum(n for status, n in self.statuses.items() if status != 200)

    @property
    def rps(self):
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p):
        """The p-th percentile latency in ms (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    def merged(self, other):
        statuses = dict(self.statuses)
        for status, n in other.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
        return PhaseResult(
            self.requests + other.requests,
            self.elapsed + other.elapsed,
            self.latencies + other.latencies,
            statuses,
            self.first_error or other.first_error,
            self.client_cpu + other.client_cpu,
            self.reconnects + other.reconnects,
        )


class Client:
    """The client processes. Use as a context manager."""

    def __init__(self, host, port, processes=1, connections_per_slot=4, prime=None):
        self.host, self.port, self.processes = host, port, processes
        self.per_slot, self.prime = connections_per_slot, prime
        self.pipes, self.workers = [], []

    def __enter__(self):
        context = multiprocessing.get_context("fork")
        for _ in range(self.processes):
            parent_end, child_end = context.Pipe()
            worker = context.Process(target=_serve, args=(child_end, self.host, self.port), daemon=True)
            worker.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.workers.append(worker)
        return self

    def __exit__(self, *exc):
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()

    def run(self, requests, total, concurrency, timeout=60.0):
        """One phase: `total` requests over `concurrency` connections."""
        concurrency = max(1, min(concurrency, total))
        connections = list(range(concurrency))
        shares = [connections[k :: len(self.pipes)] for k in range(len(self.pipes))]
        busy = [(pipe, share) for pipe, share in zip(self.pipes, shares, strict=True) if share]
        for pipe, share in busy:
            pipe.send(("prepare", requests, total, concurrency, share, timeout, self.per_slot, self.prime))
        for pipe, _ in busy:
            answer = pipe.recv()
            if answer != "ready":
                raise RuntimeError(f"bench client failed to connect: {answer}")
        for pipe, _ in busy:
            pipe.send("go")
        parts = [pipe.recv() for pipe, _ in busy]
        for part in parts:
            if isinstance(part, str):
                raise RuntimeError(f"bench client failed: {part}")
        started = min(p["started"] for p in parts)
        ended = max(p["ended"] for p in parts)
        result = PhaseResult(requests=sum(len(p["latencies"]) for p in parts), elapsed=ended - started)
        for part in parts:
            result.latencies += part["latencies"]
            for status, n in part["statuses"].items():
                result.statuses[status] = result.statuses.get(status, 0) + n
            result.first_error = result.first_error or part["first_error"]
            result.client_cpu += part["cpu"]
            result.reconnects += part["reconnects"]
        return result


# ---------------------------------------------------------------- in the client processes


def _serve(pipe, host, port):
    while True:
        job = pipe.recv()
        if job is None:
            return
        try:
            _, requests, total, concurrency, share, timeout, per_slot, prime = job
            pipe.send(_phase(pipe, host, port, requests, total, concurrency, share, timeout, per_slot, prime))
        except Exception as error:  # reported to the bench command, which stops
            pipe.send(f"{type(error).__name__}: {error}")


def _phase(pipe, host, port, requests, total, concurrency, share, timeout, per_slot, prime):
    slots = []
    for c in share:
        connections = []
        for _ in range(per_slot):
            connection = _Connection(host, port, timeout)
            if prime:
                status, body, _ = connection.exchange(prime)
                if status != 200:
                    raise RuntimeError(f"the priming request answered {status}: {body[:200]!r}")
            connections.append(connection)
        slots.append(_Slot(connections, range(c, total, concurrency)))
    pipe.send("ready")
    if pipe.recv() != "go":
        raise RuntimeError("expected go")
    cpu = time.process_time()
    start = threading.Barrier(len(slots) + 1)
    threads = [threading.Thread(target=slot.run, args=(requests, start), daemon=True) for slot in slots]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    ended = time.monotonic()
    statuses, latencies, first_error, reconnects = {}, [], "", 0
    for slot in slots:
        slot.close()
        latencies += slot.latencies
        for status, n in slot.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
        first_error = first_error or slot.first_error
        reconnects += slot.reconnects
    return {
        "started": started,
        "ended": ended,
        "latencies": latencies,
        "statuses": statuses,
        "first_error": first_error,
        "cpu": time.process_time() - cpu,
        "reconnects": reconnects,
    }


class _Slot:
    """One request in flight at a time, sent over its connections in turn."""

    def __init__(self, connections, indices):
        self.connections, self.indices = connections, indices
        self.latencies, self.statuses, self.first_error, self.reconnects = [], {}, "", 0

    def close(self):
        for connection in self.connections:
            connection.close()

    def run(self, requests, start):
        start.wait()
        count, connections = len(requests), self.connections
        clock = time.perf_counter
        latencies, statuses = self.latencies, self.statuses
        for n, i in enumerate(self.indices):
            connection = connections[n % len(connections)]
            request = requests[i % count]
            began = clock()
            try:
                status, body, close = connection.exchange(request)
            except TimeoutError:
                status, body, close = 0, f"no answer within {connection.timeout} s".encode(), True
            except OSError:  # the server closed an idle keep-alive connection: once more on a new one
                self.reconnects += 1
                try:
                    connection.connect()
                    status, body, close = connection.exchange(request)
                except OSError as error:
                    status, body, close = 0, f"{type(error).__name__}: {error}".encode(), True
            latencies.append(clock() - began)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200 and not self.first_error:
                self.first_error = f"{status} {body[:300].decode('utf-8', 'replace')}"
            if close:
                connection.close()  # the next request on it connects again


class _Connection:
    def __init__(self, host, port, timeout):
        self.address, self.timeout = (host, port), timeout
        self.sock = None
        self.buffer = bytearray()
        self.connect()

    def connect(self):
        self.close()
        self.buffer.clear()
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, request):
        if self.sock is None:
            self.connect()
        self.sock.sendall(request)
        return self.read_response()

    def read_response(self):
        buffer, sock = self.buffer, self.sock
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            buffer += chunk
        head = bytes(buffer[:end]).lower()
        del buffer[: end + 4]
        status = int(head[9:12])
        close = b"\r\nconnection: close" in head
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
            while len(buffer) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by the server")
                buffer += chunk
            body = bytes(buffer[:length])
            del buffer[:length]
        elif b"\r\ntransfer-encoding: chunked" in head:
            body = self.read_chunked()
        else:  # no length: the body runs to the end of the connection
            while chunk := sock.recv(65536):
                buffer += chunk
            body, close = bytes(buffer), True
            buffer.clear()
        return status, body, close

    def read_chunked(self):
        body = bytearray()
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                self.buffer += self.sock.recv(65536) or b""
            size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
            del self.buffer[: end + 2]
            while len(self.buffer) < size + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by the server")
                self.buffer += chunk
            body += self.buffer[:size]
            del self.buffer[: size + 2]
            if size == 0:
                return bytes(body)
