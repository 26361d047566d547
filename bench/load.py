"""A bounded load test over HTTP: nothing lost, nothing repeated, order kept.

`manage.py loadtest` and tests/test_load.py run it. `tests.support.server.Server`
boots gunicorn (several gthread workers) on a database; `LoadTest` then
sends a fixed number of RPCs from dozens of client threads, each with its own
keep-alive connection, all on the SAME few conversations and chats of a fresh
namespace:

- writes: Streams CreateMessage and Chats CreateMessage, every text carrying
  a unique token; a share of them with an Idempotency-Key;
- reads: Streams ListMessages and Chats ListMessages (paging back with
  `sent_before`, at random page sizes) and Streams RecentMessages.

Checked while it runs:

- every answer is 200 (a 5xx or any other status is a violation);
- acknowledgement order (CONTRACT 3): a message whose CreateMessage was sent
  after another one's answer came back, in the same conversation or chat, has
  a later sent_at, whichever threads sent them (so also per writer thread);
- every page a reader gets is strictly newest first, below its `sent_before`,
  of its own conversation or chat, and complete: every message acknowledged
  before the read was sent that falls in the page's span is in the page;
- RecentMessages answers its conversations in the order given, each once.

Checked at the end, by paging every conversation and chat back to its first
message with ListMessages (`--page-size` at a time): every acknowledged
message comes back exactly once, with its text, author and sent_at, in
strictly decreasing sent_at, and nothing else comes back (the namespace is
new, so nobody else writes there); every message a reader saw was
acknowledged with the same sent_at.

A dropped keep-alive connection (the server closed it before answering) is
retried once on a new connection, for reads and for writes with an
Idempotency-Key only; retries are counted in the summary. A write without a
key is never retried: its failure is a violation.

Only the standard library on the client side (http.client).
"""

import bisect
import collections
import contextlib
import dataclasses
import http.client
import itertools
import json
import random
import re
import secrets
import sys
import threading
import time
import urllib.parse

from tests.support.server import Server

# The request mix: RPC -> weight.
MIX = {
    "Streams/CreateMessage": 30,
    "Chats/CreateMessage": 15,
    "Streams/ListMessages": 25,
    "Streams/RecentMessages": 10,
    "Chats/ListMessages": 20,
}
READ_PAGE_SIZES = (10, 25, 50, 100)
RECENT_LIMITS = (5, 10, 25)
CONTINUE_PAGING = 0.75  # a reader pages further back rather than starting at the newest again
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")  # CONTRACT 3: sortable as text
# Text of the messages: words, some beyond ASCII, and a tab and a newline.
# fmt: off
WORDS = [
    "ship", "it", "friday", "release", "plan", "review", "merge", "deploy", "rollback", "coffee", "later",
    "ok", "thanks", "café", "naïve", "Zürich", "東京", "🙂", "🚀", "—", "“quoted”", "tab\tand\nnewline",
]
# fmt: on
VIOLATION_EXAMPLES = 5  # kept per kind


# ---------------------------------------------------------------- the client


class ConnectionDropped(Exception):
    pass


class Client:
    """One keep-alive HTTP connection, for one thread."""

    def __init__(self, base_url, key, timeout=60):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"Only http:// base URLs: {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.key, self.timeout = key, timeout
        self.connection = None
        self.retries = 0

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def call(self, rpc, body, headers=None, *, retry=True):
        """(HTTP status, parsed JSON answer or None, seconds)."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **(headers or {})}
        for attempt in range(2):
            reused = self.connection is not None
            if not reused:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.connection.request("POST", f"{self.prefix}/protobuf/{rpc}", payload, headers)
                response = self.connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self.close()
                # A keep-alive connection the server closed meanwhile: once more on a new one.
                if reused and retry and attempt == 0:
                    self.retries += 1
                    continue
                raise ConnectionDropped(f"{rpc}: {type(error).__name__}: {error}") from error
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise ConnectionDropped(f"{rpc}: {type(error).__name__}: {error}") from error
            seconds = time.perf_counter() - started
            if response.will_close:
                self.close()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            return response.status, data, seconds
        raise AssertionError("unreachable")


# ---------------------------------------------------------------- the shared state


class Parent:
    """A conversation or chat that every thread writes to and reads, with what
    was acknowledged in it so far."""

    def __init__(self, kind, id, users=()):
        self.kind, self.id, self.users = kind, id, list(users)
        self.key = "conversation_id" if kind == "conversation" else "chat_id"
        self.service = "Streams" if kind == "conversation" else "Chats"
        self.lock = threading.Lock()
        self.sent = []  # acknowledged sent_at, sorted (unique per the contract)
        self.entries = []  # in step with `sent`: (acknowledgement ticket, message id)
        self.newest_acked = ""  # the newest sent_at acknowledged so far
        self.acked = {}  # message id -> (sent_at, author_id, text)

    def __str__(self):
        return f"{self.kind} {self.id}"


@dataclasses.dataclass
class Stats:
    """One client thread's counts; merged at the end."""

    latencies: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    done: int = 0


@dataclasses.dataclass
class ThreadState:
    number: int
    rng: random.Random
    client: Client
    stats: Stats
    seq: int = 0
    cursors: dict = dataclasses.field(default_factory=dict)  # parent id -> sent_before of the next page
    last_sent: dict = dataclasses.field(default_factory=dict)  # parent id -> this writer's last sent_at


class Violations:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.examples = collections.defaultdict(list)

    def add(self, kind, detail):
        with self.lock:
            self.counts[kind] += 1
            if len(self.examples[kind]) < VIOLATION_EXAMPLES:
                self.examples[kind].append(detail)

    def __bool__(self):
        return bool(self.counts)

    def total(self):
        return sum(self.counts.values())

    def report(self):
        lines = []
        for kind, count in self.counts.most_common():
            lines.append(f"  {kind}: {count:,}")
            lines += [f"    e.g. {example}" for example in self.examples[kind]]
        return "\n".join(lines)


@dataclasses.dataclass
class Result:
    ok: bool
    summary: str
    violations: Violations
    requests: int
    seconds: float
    acknowledged: int
    statuses: collections.Counter
    retries: int


# ---------------------------------------------------------------- the run


class LoadTest:
    def __init__(
        self,
        base_url,
        key,
        *,
        requests=5000,
        threads=40,
        conversations=4,
        chats=3,
        page_size=100,
        idempotent_share=0.5,
        seed=None,
        timeout=60,
        progress=sys.stderr,
        label="",
    ):
        if requests < 1 or threads < 1 or conversations < 1 or chats < 1:
            raise ValueError("requests, threads, conversations and chats must be at least 1")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be from 1 to 1000")
        self.base_url, self.key = base_url, key
        self.total, self.threads = requests, threads
        self.n_conversations, self.n_chats = conversations, chats
        self.page_size, self.idempotent_share = page_size, idempotent_share
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.timeout, self.progress, self.label = timeout, progress, label
        self.run_id = secrets.token_hex(4)
        self.violations = Violations()
        self.issued = itertools.count()  # request tickets: at most `total` are served
        self.tickets = itertools.count()  # orders acknowledgements and reads (atomic under the GIL)
        self.seen = {}  # message id -> (parent, sent_at) of every message a reader saw
        self.conversations, self.chats = [], []
        self.stats = []
        self.retries = 0
        rpcs = list(MIX)
        self.rpcs, self.cum_weights = rpcs, list(itertools.accumulate(MIX[r] for r in rpcs))
        self.operations = {
            "Streams/CreateMessage": lambda s: self.write(s, s.rng.choice(self.conversations)),
            "Chats/CreateMessage": lambda s: self.write(s, s.rng.choice(self.chats)),
            "Streams/ListMessages": lambda s: self.read_page(s, s.rng.choice(self.conversations)),
            "Chats/ListMessages": lambda s: self.read_page(s, s.rng.choice(self.chats)),
            "Streams/RecentMessages": self.read_recent,
        }

    # ------------------------------------------------------------ setup

    def setup(self):
        """The shared conversations and chats, made through the API."""
        client = Client(self.base_url, self.key, self.timeout)
        try:
            for number in range(self.n_conversations):
                body = {"group_id": f"load-{self.run_id}", "topic": f"Load test {self.run_id} #{number}"}
                data = self._setup_call(client, "Streams/CreateConversation", body)
                self.conversations.append(Parent("conversation", data["conversation"]["id"]))
            for number in range(self.n_chats):
                users = [f"load-{self.run_id}-chat{number}-user{k}" for k in range(3)]
                data = self._setup_call(client, "Chats/CreateChat", {"user_ids": users})
                self.chats.append(Parent("chat", data["chat"]["id"], users))
        finally:
            client.close()

    def _setup_call(self, client, rpc, body):
        status, data, _ = client.call(rpc, body)
        if status != 200 or not isinstance(data, dict):
            raise RuntimeError(f"{rpc} answered {status}: {data}")
        return data

    # ------------------------------------------------------------ one request

    def call(self, state, rpc, body, headers=None, *, retry=True):
        """The answer's data if it is a 200 with a JSON object, else None (and a violation)."""
        try:
            status, data, seconds = state.client.call(rpc, body, headers, retry=retry)
        except ConnectionDropped as error:
            state.stats.statuses[(rpc, "connection error")] += 1
            self.violations.add("connection error (no answer)", str(error))
            return None
        finally:
            state.stats.done += 1
        state.stats.statuses[(rpc, status)] += 1
        state.stats.latencies[rpc].append(seconds)
        if status >= 500:
            self.violations.add(f"5xx answer ({status})", f"{rpc} {json.dumps(body)[:200]} -> {data!r:.300}")
            return None
        if status != 200:
            self.violations.add(f"unexpected status {status}", f"{rpc} {json.dumps(body)[:200]} -> {data!r:.300}")
            return None
        if not isinstance(data, dict):
            self.violations.add("answer is not a JSON object", f"{rpc} -> {data!r:.200}")
            return None
        return data

    def write(self, state, parent):
        state.seq += 1
        rng = state.rng
        token = f"load-{self.run_id}-t{state.number}-n{state.seq}"
        text = " ".join([token, *rng.choices(WORDS, k=rng.randint(0, 40))])
        author = rng.choice(parent.users) if parent.users else f"writer-{state.number}"
        body = {"author_id": author, parent.key: parent.id, "text": text}
        keyed = rng.random() < self.idempotent_share
        headers = {"Idempotency-Key": token} if keyed else None
        with parent.lock:
            floor = parent.newest_acked  # every message acknowledged before this write is sent
        data = self.call(state, f"{parent.service}/CreateMessage", body, headers, retry=keyed)
        if data is None:
            return
        message = data.get("message") or {}
        sent_at, message_id = message.get("sent_at"), message.get("id")
        expected = {"author_id": author, parent.key: parent.id, "text": text}
        if (
            not isinstance(sent_at, str)
            or not TIMESTAMP.fullmatch(sent_at)
            or not message_id
            or any(message.get(k) != v for k, v in expected.items())
        ):
            self.violations.add("CreateMessage answer does not echo the message", f"{parent}: {message!r:.300}")
            return
        with parent.lock:
            ticket = next(self.tickets)
            if sent_at <= floor:
                self.violations.add(
                    "acknowledgement order broken",
                    f"{parent}: {message_id} sent after a message with sent_at {floor} was acknowledged, "
                    f"but got sent_at {sent_at}",
                )
            at = bisect.bisect_left(parent.sent, sent_at)
            if at < len(parent.sent) and parent.sent[at] == sent_at:
                self.violations.add(
                    "two messages with one sent_at", f"{parent}: {sent_at}: {parent.entries[at][1]} and {message_id}"
                )
            if message_id in parent.acked:
                self.violations.add("one id acknowledged twice", f"{parent}: {message_id}")
            parent.sent.insert(at, sent_at)
            parent.entries.insert(at, (ticket, message_id))
            parent.acked[message_id] = (sent_at, author, text)
            parent.newest_acked = max(parent.newest_acked, sent_at)
        previous = state.last_sent.get(parent.id)
        if previous is not None and sent_at <= previous:
            self.violations.add(
                "a writer's later message is not later",
                f"{parent}: thread {state.number} got {sent_at} after {previous}",
            )
        state.last_sent[parent.id] = sent_at

    def read(self, state, rpc, body, where=""):
        """(ticket, messages) of a read; messages None if it failed (a violation)."""
        ticket = next(self.tickets)  # taken before the read is sent
        data = self.call(state, rpc, body)
        if data is None:
            return ticket, None
        messages = data.get("messages")
        if not isinstance(messages, list):
            self.violations.add(f"{rpc.split('/')[1]} answer without a messages list", f"{where}{data!r:.200}")
            return ticket, None
        return ticket, messages

    def read_page(self, state, parent):
        rng = state.rng
        before = state.cursors.get(parent.id) if rng.random() < CONTINUE_PAGING else None
        limit = rng.choice(READ_PAGE_SIZES)
        body = {parent.key: parent.id, "limit": limit}
        if before is not None:
            body["sent_before"] = before
        ticket, messages = self.read(state, f"{parent.service}/ListMessages", body, f"{parent}: ")
        if messages is None:
            return
        self.check_page(parent, messages, limit, before, ticket, f"{parent.service}/ListMessages")
        full = len(messages) == limit and messages
        state.cursors[parent.id] = messages[-1].get("sent_at") if full else None

    def read_recent(self, state):
        rng = state.rng
        asked = rng.sample(self.conversations, rng.randint(1, len(self.conversations)))
        limit = rng.choice(RECENT_LIMITS)
        body = {"conversation_ids": [p.id for p in asked], "limit_per_conversation": limit}
        ticket, messages = self.read(state, "Streams/RecentMessages", body)
        if messages is None:
            return
        groups = [
            (conversation_id, list(group))
            for conversation_id, group in itertools.groupby(messages, key=lambda m: m.get("conversation_id"))
        ]
        order = [p.id for p in asked]
        got = [conversation_id for conversation_id, _ in groups]
        if len(set(got)) != len(got) or got != [i for i in order if i in got]:
            self.violations.add("RecentMessages out of the order given", f"asked {order}, got {got}")
            return
        by_id = dict(groups)
        for parent in asked:
            self.check_page(parent, by_id.get(parent.id, []), limit, None, ticket, "Streams/RecentMessages")

    def check_page(self, parent, messages, limit, before, ticket, rpc):
        """A page read while writers write: newest first, strictly below
        `before`, all of `parent`, and holding every message acknowledged
        before the read was sent (`ticket`) that falls within its span."""
        if len(messages) > limit:
            self.violations.add("page longer than its limit", f"{rpc} {parent}: {len(messages)} > {limit}")
        previous, ids = before, set()
        for message in messages:
            sent_at = message.get("sent_at") if isinstance(message, dict) else None
            if not isinstance(sent_at, str) or not TIMESTAMP.fullmatch(sent_at):
                self.violations.add("message without a proper sent_at", f"{rpc} {parent}: {message!r:.200}")
                return
            if message.get(parent.key) != parent.id:
                self.violations.add("message of another parent in a page", f"{rpc} {parent}: {message!r:.200}")
            if previous is not None and not sent_at < previous:
                what = "not below sent_before" if previous is before else "not newest first"
                self.violations.add(
                    f"page out of order ({what})", f"{rpc} {parent}: {sent_at} after {previous} (limit {limit})"
                )
            previous = sent_at
            ids.add(message["id"])
            self.seen[message["id"]] = (parent, sent_at)
        # The span the page covers: from its oldest message (or the very
        # beginning, if the page is not full) up to sent_before.
        lower = messages[-1]["sent_at"] if len(messages) >= limit else None
        with parent.lock:
            start = bisect.bisect_left(parent.sent, lower) if lower is not None else 0
            end = bisect.bisect_left(parent.sent, before) if before is not None else len(parent.sent)
            missing = [
                (parent.sent[i], parent.entries[i][1])
                for i in range(start, end)
                if parent.entries[i][0] < ticket and parent.entries[i][1] not in ids
            ]
        if missing:
            self.violations.add(
                "a read missed an acknowledged message",
                f"{rpc} {parent} limit {limit} sent_before {before}: {len(missing)} missing, e.g. {missing[:3]}",
            )

    # ------------------------------------------------------------ threads

    def worker(self, state):
        try:
            while next(self.issued) < self.total:
                rpc = state.rng.choices(self.rpcs, cum_weights=self.cum_weights)[0]
                self.operations[rpc](state)
        except Exception as error:  # a bug of the client: never silent
            self.violations.add("client thread crashed", f"thread {state.number}: {type(error).__name__}: {error}")
            raise
        finally:
            state.client.close()

    def run(self):
        """Set up, send the requests, verify; the Result."""
        self.setup()
        states = [
            ThreadState(
                number=n,
                rng=random.Random(f"{self.seed}:{n}"),
                client=Client(self.base_url, self.key, self.timeout),
                stats=Stats(),
            )
            for n in range(self.threads)
        ]
        self.stats = [s.stats for s in states]
        threads = [threading.Thread(target=self.worker, args=(s,), name=f"load-{s.number}") for s in states]
        started = time.monotonic()
        stop_progress = threading.Event()
        reporter = threading.Thread(target=self.report_progress, args=(started, stop_progress), daemon=True)
        reporter.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        stop_progress.set()
        reporter.join()
        self.retries = sum(s.client.retries for s in states)
        verification = self.verify()
        return self.result(seconds, verification)

    def report_progress(self, started, stop):
        if self.progress is None:
            return
        tty = self.progress.isatty()
        while True:
            stopped = stop.wait(0.5 if tty else 5)
            done = sum(s.done for s in self.stats)
            elapsed = max(time.monotonic() - started, 1e-9)
            rate = done / elapsed
            eta = (self.total - done) / rate if rate else 0
            line = (
                f"load{self.label}: {done:,}/{self.total:,} requests ({100 * done / self.total:5.1f} %)"
                f"  {rate:,.0f} req/s  elapsed {elapsed:.0f} s  ETA {eta:.0f} s  violations {self.violations.total()}"
            )
            self.progress.write(("\r\033[K" + line + ("\n" if stopped else "")) if tty else line + "\n")
            self.progress.flush()
            if stopped:
                return

    # ------------------------------------------------------------ the end

    def verify(self):
        """Page every parent back to its first message; (requests, seconds)."""
        client = Client(self.base_url, self.key, self.timeout)
        requests, started = 0, time.monotonic()
        try:
            for parent in self.conversations + self.chats:
                requests += self.verify_parent(client, parent)
        finally:
            client.close()
        for message_id, (parent, sent_at) in list(self.seen.items()):
            acked = parent.acked.get(message_id)
            if acked is None:
                self.violations.add("a reader saw a message never acknowledged", f"{parent}: {message_id} {sent_at}")
            elif acked[0] != sent_at:
                self.violations.add(
                    "a reader saw another sent_at", f"{parent}: {message_id}: read {sent_at}, acknowledged {acked[0]}"
                )
        return requests, time.monotonic() - started

    def verify_parent(self, client, parent):
        rpc = f"{parent.service}/ListMessages"
        found, before, previous, requests = {}, None, None, 0
        while True:
            body = {parent.key: parent.id, "limit": self.page_size}
            if before is not None:
                body["sent_before"] = before
            try:
                status, data, _ = client.call(rpc, body)
            except ConnectionDropped as error:
                self.violations.add("verification: connection error", str(error))
                return requests
            requests += 1
            messages = data.get("messages") if isinstance(data, dict) else None
            if status != 200 or not isinstance(messages, list):
                self.violations.add("verification: ListMessages failed", f"{parent}: {status} {data!r:.200}")
                return requests
            for message in messages:
                sent_at = message.get("sent_at")
                if previous is not None and not sent_at < previous:
                    self.violations.add(
                        "verification: not strictly newest first", f"{parent}: {sent_at} after {previous}"
                    )
                previous = sent_at
                if message["id"] in found:
                    self.violations.add("verification: message returned twice", f"{parent}: {message['id']} {sent_at}")
                found[message["id"]] = message
            if len(messages) < self.page_size:
                break
            before = messages[-1]["sent_at"]
        missing = [i for i in parent.acked if i not in found]
        extra = [i for i in found if i not in parent.acked]
        if missing:
            self.violations.add(
                "verification: acknowledged message missing",
                f"{parent}: {len(missing)} of {len(parent.acked)}, e.g. "
                + ", ".join(f"{i} ({parent.acked[i][0]})" for i in missing[:3]),
            )
        if extra:
            self.violations.add(
                "verification: message nobody acknowledged",
                f"{parent}: {len(extra)}, e.g. " + ", ".join(f"{found[i]!r:.200}" for i in extra[:2]),
            )
        for message_id, (sent_at, author, text) in parent.acked.items():
            message = found.get(message_id)
            if message is not None and (message["sent_at"], message["author_id"], message["text"]) != (
                sent_at,
                author,
                text,
            ):
                self.violations.add(
                    "verification: message changed", f"{parent}: {message!r:.200} acknowledged as {sent_at} {author}"
                )
        return requests

    def result(self, seconds, verification):
        latencies, statuses = collections.defaultdict(list), collections.Counter()
        for stats in self.stats:
            for rpc, values in stats.latencies.items():
                latencies[rpc].extend(values)
            statuses.update(stats.statuses)
        requests = sum(statuses.values())
        if requests != self.total:
            self.violations.add("request count", f"sent {requests:,}, meant {self.total:,}")
        acked_streams = sum(len(p.acked) for p in self.conversations)
        acked_chats = sum(len(p.acked) for p in self.chats)
        lines = [
            f"Load test{self.label}: {requests:,} requests from {self.threads} client threads in {seconds:.1f} s"
            f" = {requests / seconds:,.0f} requests/s ({self.base_url}, seed {self.seed})",
            f"  shared: {len(self.conversations)} conversations, {len(self.chats)} chats;"
            f" acknowledged messages: {acked_streams:,} Streams + {acked_chats:,} Chats;"
            f" keep-alive reconnects retried: {self.retries}",
            f"  {'RPC':<24}{'count':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses",
        ]
        for rpc in self.rpcs:
            values = sorted(latencies.get(rpc, []))
            codes = {code: n for (r, code), n in statuses.items() if r == rpc}
            code_text = ", ".join(f"{code}: {n:,}" for code, n in sorted(codes.items(), key=str))
            lines.append(
                f"  {rpc:<24}{len(values):>9,}{percentile(values, 0.5):>9.1f}{percentile(values, 0.99):>9.1f}"
                f"{(values[-1] * 1000 if values else 0):>9.1f}  {code_text}"
            )
        all_values = sorted(v for values in latencies.values() for v in values)
        lines.append(
            f"  {'all':<24}{len(all_values):>9,}{percentile(all_values, 0.5):>9.1f}"
            f"{percentile(all_values, 0.99):>9.1f}{(all_values[-1] * 1000 if all_values else 0):>9.1f}"
        )
        verify_requests, verify_seconds = verification
        lines.append(
            f"  verification: paged {len(self.conversations) + len(self.chats)} conversations and chats"
            f" with limit {self.page_size} ({verify_requests:,} requests, {verify_seconds:.1f} s)"
        )
        if self.violations:
            lines.append(f"FAILED: {self.violations.total():,} violations")
            lines.append(self.violations.report())
        else:
            lines.append(
                "OK: no 5xx, every answer 200; every acknowledged message read back exactly once, unchanged;"
                " sent_at strictly decreasing along every page and increasing in acknowledgement order;"
                " no read missed a message acknowledged before it"
            )
        return Result(
            ok=not self.violations,
            summary="\n".join(lines),
            violations=self.violations,
            requests=requests,
            seconds=seconds,
            acknowledged=acked_streams + acked_chats,
            statuses=statuses,
            retries=self.retries,
        )


def percentile(sorted_values, q):
    """In milliseconds; 0 for no values."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))] * 1000


@contextlib.contextmanager
def target(base_url=None, *, database_url=None, workers=4, threads=4, log_path=None):
    """The base URL to load: `base_url` as is, or a gunicorn booted on
    `database_url` for the duration (then also its Server, else None)."""
    if base_url:
        yield base_url.rstrip("/"), None
        return
    with Server(database_url, workers=workers, threads=threads, log_path=log_path) as server:
        yield server.base_url, server


def run(base_url, key, server=None, **options):
    """Run a LoadTest; with the Server that served it, its log's crash and
    database-error lines are violations too."""
    load = LoadTest(base_url, key, **options)
    result = load.run()
    if server is not None:
        problems = server.log_problems()
        for line in problems:
            load.violations.add("server log: error line", line[:300])
        if problems:
            result.ok = False
            result.summary += f"\nFAILED: {len(problems)} error lines in the server log ({server.log_path}):\n"
            result.summary += "\n".join(f"  {line[:300]}" for line in problems[:10])
    return result
