"""Faults: the database stops, hangs, or is slow, and the service answers a 503
envelope quickly, never a 500 or a hang, and recovers by itself.

- The timeouts of settings.database_from_env (DB_CONNECT_TIMEOUT_S,
  DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS) reach PostgreSQL, and a
  statement or lock wait they cancel answers 503 (in-process, on the test
  database).
- The real thing, end to end: gunicorn (2 workers, gthread) on a PRIVATE
  PostgreSQL cluster that the test starts, stops (immediate, so that the
  workers' persistent connections break), replaces with a server that
  accepts TCP but never answers (connect_timeout), and starts again; and a
  worker SIGKILLed in the middle of a write transaction.

Everything that needs PostgreSQL runs in the PostgreSQL run of the suite
(DATABASE_URL=postgres://...), so that CI does it once; under SQLite it is
skipped. The private cluster never touches the shared one on 5432.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from convoproject.rpc.models import IdempotentResponse
from convoproject.settings import database_from_env
from streams.models import Message
from tests.support.rpc import Rpc, assert_envelope
from tests.support.server import ROOT, Server, free_port

ANSWERS = IdempotentResponse._meta.db_table  # where a claimed Idempotency-Key is written

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
SKIP_REASON = "runs in the PostgreSQL run of the suite (DATABASE_URL=postgres://...)"


def postgres_run(test):
    return pytest.mark.postgres_only(pytest.mark.skipif(not ON_POSTGRES, reason=SKIP_REASON)(test))


MANAGE = [sys.executable, str(ROOT / "manage.py")]
TIMEOUT_VARIABLES = ("DB_CONNECT_TIMEOUT_S", "DB_STATEMENT_TIMEOUT_MS", "DB_LOCK_TIMEOUT_MS", "DB_PREPARE_THRESHOLD")
PREPARED = {"server_side_binding": True, "prepare_threshold": 5}  # settings.add_postgresql_prepared_statements


# ---------------------------------------------------------------- the settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in TIMEOUT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_postgresql_gets_bounded_connect_statement_and_lock_timeouts(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://convo@db.internal:5432/convo")
    assert database_from_env()["OPTIONS"] == {
        "connect_timeout": 5,
        "options": "-c statement_timeout=10000 -c lock_timeout=5000",
        **PREPARED,
    }


def test_the_timeouts_come_from_the_environment_and_0_sends_none(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://convo@db.internal:5432/convo")
    clean_env.setenv("DB_CONNECT_TIMEOUT_S", "3")
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", "2500")
    clean_env.setenv("DB_LOCK_TIMEOUT_MS", "0")
    assert database_from_env()["OPTIONS"] == {"connect_timeout": 3, "options": "-c statement_timeout=2500", **PREPARED}
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", "0")
    assert database_from_env()["OPTIONS"] == {"connect_timeout": 3, **PREPARED}


def test_prepared_statements_come_from_the_environment_and_0_binds_client_side(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://convo@db.internal:5432/convo")
    clean_env.setenv("DB_PREPARE_THRESHOLD", "2")
    options = database_from_env()["OPTIONS"]
    assert (options["server_side_binding"], options["prepare_threshold"]) == (True, 2)
    clean_env.setenv("DB_PREPARE_THRESHOLD", "0")
    options = database_from_env()["OPTIONS"]
    assert "server_side_binding" not in options and "prepare_threshold" not in options


@pytest.mark.django_db
def test_the_connections_prepare_what_they_run_often():
    """The connections the app opens bind server-side and prepare a
    statement once it has run prepare_threshold times (psycopg)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == connection.settings_dict["OPTIONS"]["prepare_threshold"]
    with connection.cursor() as cursor:
        for _ in range(connection.connection.prepare_threshold + 1):
            cursor.execute("SELECT %s::int + 1", [1])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] >= 1


def test_options_in_the_database_url_are_kept_and_win(clean_env):
    clean_env.setenv(
        "DATABASE_URL",
        "postgres://convo@db/convo?connect_timeout=9&options=-c%20search_path%3Dconvo%20-c%20statement_timeout%3D3s",
    )
    options = database_from_env()["OPTIONS"]
    assert int(options["connect_timeout"]) == 9
    assert options["options"] == "-c search_path=convo -c statement_timeout=3s -c lock_timeout=5000"


@pytest.mark.parametrize("value", ["ten", "-1", "1.5"])
def test_a_bad_timeout_is_refused_clearly(clean_env, value):
    clean_env.setenv("DATABASE_URL", "postgres://convo@db/convo")
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", value)
    with pytest.raises(ImproperlyConfigured, match="DB_STATEMENT_TIMEOUT_MS must be a whole number"):
        database_from_env()


def test_sqlite_gets_no_postgresql_options(clean_env):
    clean_env.setenv("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", "100")
    assert "options" not in database_from_env()["OPTIONS"]


# ------------------------------------------- the timeouts, on the test database


@pytest.fixture
def reconnect_with(clean_env):
    """reconnect_with(DB_LOCK_TIMEOUT_MS="300"): this thread's connection is
    reopened with the OPTIONS that database_from_env() makes of these
    variables (the same path as a server's start). Restored afterwards."""
    original = connection.settings_dict["OPTIONS"]

    def reconnect(**variables):
        for name, value in variables.items():
            clean_env.setenv(name, value)
        clean_env.setenv("DATABASE_URL", "postgres://u@h/d")  # only the OPTIONS are used
        connection.close()
        connection.settings_dict["OPTIONS"] = database_from_env()["OPTIONS"]

    yield reconnect
    connection.close()
    connection.settings_dict["OPTIONS"] = original


def server_setting(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@postgres_run
@pytest.mark.django_db(transaction=True)
def test_a_connection_runs_with_the_default_timeouts(reconnect_with):
    reconnect_with()
    assert server_setting("statement_timeout") == "10s"
    assert server_setting("lock_timeout") == "5s"


def other_connection():
    """A second connection to the test database, as another request would have."""
    import psycopg

    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        connect_timeout=5,
    )


def timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


@postgres_run
@pytest.mark.django_db(transaction=True)
def test_a_statement_cancelled_by_statement_timeout_answers_503_and_the_connection_goes_on(reconnect_with, micro_key):
    reconnect_with(DB_STATEMENT_TIMEOUT_MS="300")
    api = Rpc(Client(raise_request_exception=False), key=micro_key)
    conversation = api.conversation()

    def slow(execute, sql, params, many, context):
        if sql.startswith("SELECT") and "streams_conversation" in sql:
            execute("SELECT pg_sleep(5)", None, False, context)  # a real slow statement, on the server
        return execute(sql, params, many, context)

    with connection.execute_wrapper(slow):
        response, elapsed = timed(lambda: api.post("Streams/ReadConversation", {"id": conversation["id"]}))
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert elapsed < 2.5, f"cancelled after {elapsed:.2f} s, the timeout is 0.3 s"
    # The cancel only ended that statement: the same connection answers the next call.
    assert api.ok("Streams/ReadConversation", {"id": conversation["id"]})["conversation"] == conversation


@postgres_run
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({"DB_LOCK_TIMEOUT_MS": "300"}, id="lock_timeout"),
        pytest.param({"DB_LOCK_TIMEOUT_MS": "0", "DB_STATEMENT_TIMEOUT_MS": "300"}, id="statement_timeout"),
    ],
)
def test_a_lock_wait_past_the_timeout_answers_503_and_writes_nothing(reconnect_with, micro_key, variables):
    reconnect_with(**variables)
    api = Rpc(Client(raise_request_exception=False), key=micro_key)
    conversation = api.conversation()
    api.message(conversation["id"], "before")
    body = {"conversation_id": conversation["id"], "author_id": "alice", "text": "during"}
    with other_connection() as holder:
        # Another transaction holds the conversation's row lock, as a long admin delete would.
        holder.execute("SELECT id FROM streams_conversation WHERE id = %s FOR UPDATE", [conversation["id"]])
        response, elapsed = timed(lambda: api.post("Streams/CreateMessage", body, headers={"Idempotency-Key": "k"}))
        holder.rollback()
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert elapsed < 2.5, f"gave up after {elapsed:.2f} s, the timeout is 0.3 s"
    assert list(Message.objects.values_list("text", flat=True)) == ["before"]
    # The lock is free again: the retry with the same key goes through, once.
    api.ok("Streams/CreateMessage", body, headers={"Idempotency-Key": "k"})
    assert sorted(Message.objects.values_list("text", flat=True)) == ["before", "during"]


# ------------------------------------------ the real thing: a private cluster


def postgres_bin_dir():
    """The directory of initdb/pg_ctl: on PATH, else the newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    versions = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl") if p.parent.parent.name.isdigit()]
    versions.sort(key=lambda bin_dir: int(bin_dir.parent.name))
    return versions[-1] if versions else None


class PrivateCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port
    of 127.0.0.1, trust authentication, no fsync. initdb and postgres refuse
    to run as root: as root they run as the OS user postgres."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="convo-faults-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.running = False

    def url(self, database):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool, *args):
        command = [str(self.bin_dir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, cwd=self.dir, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        assert result.returncode == 0, f"{tool} failed:\n{result.stdout}\n{result.stderr}\n{self.log()}"

    def init(self):
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-N")

    def start(self):
        server_options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.dir}",
            "-c fsync=off",
            "-c full_page_writes=off",
            # Not synchronous_commit=off: an immediate stop would lose the last
            # commits, and the test checks that every answered write survives.
            # fsync=off is safe here: the machine does not crash, only postgres.
        ]
        self.running = True
        log = str(self.dir / "postgres.log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "-o", " ".join(server_options), "start")

    def stop(self, mode="immediate"):
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def log(self):
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def connect(self, database="postgres", autocommit=True):
        import psycopg

        return psycopg.connect(self.url(database), autocommit=autocommit, connect_timeout=5)

    def destroy(self):
        if self.running:
            with suppress(Exception):
                self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Service:
    """gunicorn (as `make serve` runs it: gthread, 2 workers of 4 threads) on
    the private cluster's database, and an HTTP client that records every
    status it sees."""

    DATABASE = "convo_faults"

    def __init__(self, cluster):
        self.cluster = cluster
        self.server = Server(
            cluster.url(self.DATABASE),
            workers=2,
            threads=4,
            timeout=30,
            log_path=cluster.dir / "gunicorn.log",
            static_root=cluster.dir / "static",
            boot_timeout=20,
            # The default timeouts are what is tested.
            env={"ALLOWED_HOSTS": "127.0.0.1", **dict.fromkeys(TIMEOUT_VARIABLES)},
        )
        self.base = self.server.base_url
        self.statuses = []

    def manage(self, *args):
        result = subprocess.run(
            [*MANAGE, *args],
            cwd=ROOT,
            env=self.server.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def prepare(self):
        with self.cluster.connect() as admin:
            admin.execute(f"CREATE DATABASE {self.DATABASE}")
        self.manage("migrate", "--noinput", "-v", "0")
        self.key = self.manage("create_api_key", "micro").strip().splitlines()[-1]
        assert self.key.startswith("cvk_")

    def request(self, path, body=None, headers=None, timeout=20):
        """(status, JSON body, seconds) of a GET (body None) or an RPC POST."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        request = urllib.request.Request(self.base + path, data=data, headers=all_headers)
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, content = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        elapsed = time.monotonic() - start
        self.statuses.append(status)
        return status, json.loads(content), elapsed

    def rpc(self, method, body, **kwargs):
        return self.request(f"/protobuf/{method}", body, **kwargs)

    def ok(self, method, body, **kwargs):
        status, answer, _ = self.rpc(method, body, **kwargs)
        assert status == 200, (method, status, answer)
        return answer

    def wait_until_healthy(self, seconds):
        """Seconds until /healthz answered 200 (polled every 0.1 s; 503 waited out)."""
        return self.server.wait_until_healthy(seconds)


@pytest.fixture(scope="module")
def service():
    if not ON_POSTGRES:
        pytest.skip(SKIP_REASON)
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    cluster = PrivateCluster(bin_dir)
    service = Service(cluster)
    try:
        cluster.init()
        cluster.start()
        service.prepare()
        with service.server:
            yield service
    finally:
        cluster.destroy()


@contextmanager
def silent_server(port):
    """Something on `port` that completes TCP handshakes and never says a
    word: a database host that hangs. Connections wait in the backlog."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        yield


def in_parallel(*calls):
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def assert_503(status, answer, what):
    assert status == 503, (what, status, answer)
    assert answer["id"] == "SERVICE_UNAVAILABLE" and answer["code"] == 503, (what, answer)
    assert set(answer) == {"id", "code", "detail", "status"}, (what, answer)


@postgres_run
def test_database_stopped_hanging_and_back_503_quickly_then_recovers_by_itself(service):
    cluster, timings = service.cluster, {}
    # Before: data written through both workers; their connections stay open (CONN_MAX_AGE).
    conversation = service.ok("Streams/CreateConversation", {"group_id": "g", "topic": "before the outage"})
    conversation_id = conversation["conversation"]["id"]
    texts = [f"message {i}" for i in range(6)]
    for text in texts:
        service.ok("Streams/CreateMessage", {"conversation_id": conversation_id, "author_id": "alice", "text": text})
    chat = service.ok("Chats/CreateChat", {"user_ids": ["alice", "bob"]})["chat"]
    service.ok("Chats/CreateMessage", {"chat_id": chat["id"], "author_id": "bob", "text": "hi"})
    with cluster.connect() as watcher:
        open_connections = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [Service.DATABASE],
        ).fetchone()[0]
    assert open_connections >= 1, "the workers should keep their connections between requests"

    reads = [
        ("/healthz", None),
        ("/protobuf/Streams/ReadConversation", {"id": conversation_id}),
        ("/protobuf/Streams/ListMessages", {"conversation_id": conversation_id}),
        ("/protobuf/Chats/ListMessages", {"chat_id": chat["id"]}),
    ]
    writes = [
        ("/protobuf/Streams/CreateMessage", {"conversation_id": conversation_id, "author_id": "a", "text": "lost"}),
        ("/protobuf/Streams/CreateConversation", {"group_id": "g", "topic": "lost"}),
        ("/protobuf/Chats/CreateMessage", {"chat_id": chat["id"], "author_id": "bob", "text": "lost"}),
        ("/protobuf/Streams/DeleteConversation", {"id": conversation_id}),
    ]

    # 1. Stopped (immediate: the open connections break). Every call, on every
    # thread, finds its connection dead or refused and answers 503 at once.
    cluster.stop("immediate")
    stopped_at = time.monotonic()
    elapsed = []
    for _ in range(3):  # enough calls to reach the broken connections of both workers' threads
        for path, body in reads + writes:
            status, answer, seconds = service.request(path, body)
            assert_503(status, answer, path)
            elapsed.append(seconds)
    timings["stopped: slowest 503"] = max(elapsed)
    assert max(elapsed) < 2.0, f"a 503 took {max(elapsed):.2f} s with the database refusing connections"

    # 2. Hanging: the port accepts TCP and never answers. connect_timeout (5 s)
    # bounds each call; calls run in parallel, so they must not queue.
    with silent_server(cluster.port):
        results = in_parallel(*(lambda p=p, b=b: service.request(p, b) for p, b in [reads[0], reads[1], writes[0]]))
    for (path, _), (status, answer, seconds) in zip([reads[0], reads[1], writes[0]], results, strict=True):
        assert_503(status, answer, path)
        assert 4.0 <= seconds < 9.0, f"{path}: 503 after {seconds:.2f} s, connect_timeout is 5 s"
    timings["hanging: 503 after"] = max(seconds for _, _, seconds in results)

    # 3. Back: no restart of gunicorn; the next requests simply connect again.
    cluster.start()
    timings["restarted after"] = time.monotonic() - stopped_at
    timings["healthy again after"] = service.wait_until_healthy(15)
    for _ in range(8):  # every thread of both workers has reconnected
        status, answer, _ = service.rpc("Streams/ListMessages", {"conversation_id": conversation_id})
        assert status == 200, answer
        assert [m["text"] for m in answer["messages"]] == texts[::-1]  # all there, none of the "lost"
    read = service.ok("Streams/ReadConversation", {"id": conversation_id})
    assert read["conversation"] == conversation["conversation"]
    assert [m["text"] for m in service.ok("Chats/ListMessages", {"chat_id": chat["id"]})["messages"]] == ["hi"]
    service.ok("Streams/CreateMessage", {"conversation_id": conversation_id, "author_id": "alice", "text": "after"})
    answer = service.ok("Streams/ListMessages", {"conversation_id": conversation_id})
    assert [m["text"] for m in answer["messages"]] == ["after", *texts[::-1]]
    conversations = service.ok("Streams/ListConversations", {"group_id": "g"})["conversations"]
    assert [c["topic"] for c in conversations] == ["before the outage"]

    assert 500 not in service.statuses and 502 not in service.statuses
    log = service.server.log_text()
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log[-3000:]
    assert service.server.process.poll() is None
    print(f"\nfault timings: { {name: round(value, 3) for name, value in timings.items()} }")


@postgres_run
def test_a_worker_killed_in_the_middle_of_a_write_leaves_nothing_half_written(service):
    cluster = service.cluster
    conversation_id = service.ok("Streams/CreateConversation", {"group_id": "kill", "topic": "t"})["conversation"]["id"]
    body = {"conversation_id": conversation_id, "author_id": "alice", "text": "interrupted"}
    headers = {"Idempotency-Key": "killed-mid-write"}

    with cluster.connect(Service.DATABASE) as watcher, cluster.connect(Service.DATABASE, autocommit=False) as holder:
        # Hold the conversation's row lock: CreateMessage claims its Idempotency-Key
        # (an INSERT, not yet committed) and then waits for this lock.
        holder.execute("SELECT id FROM streams_conversation WHERE id = %s FOR UPDATE", [conversation_id])
        outcome = []
        request = threading.Thread(
            target=lambda: outcome.append(_try(service.rpc, "Streams/CreateMessage", body, headers=headers))
        )
        request.start()
        deadline = time.monotonic() + 4  # well before lock_timeout (5 s) would end the wait
        while True:
            waiting = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                [Service.DATABASE],
            ).fetchall()
            if waiting:
                break
            assert time.monotonic() < deadline, "the request never reached the lock"
            time.sleep(0.02)
        (backend,) = waiting[0]
        written = watcher.execute(
            "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.pid = %s AND c.relname = %s",
            [backend, ANSWERS],
        ).fetchall()
        assert ("RowExclusiveLock",) in written, "the transaction has written its Idempotency-Key row"

        for pid in service.server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        request.join(15)
        assert outcome and isinstance(outcome[0], OSError), f"the request should have lost its server: {outcome}"
        holder.rollback()  # the lock is free: the dead worker's transaction could go on, but nobody commits it

        deadline = time.monotonic() + 10
        while watcher.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]).fetchone():
            assert time.monotonic() < deadline, "the killed worker's backend did not end"
            time.sleep(0.05)
        assert watcher.execute(f"SELECT count(*) FROM {ANSWERS}").fetchone()[0] == 0
        messages = watcher.execute("SELECT count(*) FROM streams_message WHERE conversation_id = %s", [conversation_id])
        assert messages.fetchone()[0] == 0

    # gunicorn replaced its workers; the client's retry with the same key goes through once.
    service.wait_until_healthy(20)
    first = service.ok("Streams/CreateMessage", body, headers=headers)
    assert service.ok("Streams/CreateMessage", body, headers=headers) == first
    messages = service.ok("Streams/ListMessages", {"conversation_id": conversation_id})["messages"]
    assert [m["text"] for m in messages] == ["interrupted"]


def _try(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except OSError as error:  # the connection closed without an answer
        return error
