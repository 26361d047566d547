"""The serving layout (convoproject/asgi.py): gunicorn with uvicorn workers,
as `make serve` boots it, through tests/support/server.py. The RPCs and
/healthz answer from the WSGI side, a streaming path from Django's ASGI
handler, each RPC thread keeps one database connection, each worker runs on
one CPU (the workers spread over the CPUs), and SIGTERM ends the server,
open stream included, well within gunicorn's --graceful-timeout.

The stream here is a test-only async view (PROBE below, mounted at /events by
a settings module of the test's own), which ends when the serving layer calls
convoproject.live.hub.stop_streams: the probe wraps that function. A real
/events stream is ended the same way."""

import http.client
import json
import os
import re
import signal
import sys
import time

import pytest
from django.db import connection

from convoproject.asgi import PIN_VARIABLE, choose_cpu
from convoproject.tenants.keys import create_api_key
from tests.support.server import ROOT, Server, database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs a POSIX system"),
]

GRACEFUL_TIMEOUT = 20  # make serve's --graceful-timeout

PROBE = """
import asyncio

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.urls import path

from convoproject.urls import urlpatterns as product_urlpatterns

from convoproject.live import hub

OPEN = set()
product_stop_streams = hub.stop_streams


def stop_streams():
    for stopped in OPEN:
        stopped.set()
    product_stop_streams()


hub.stop_streams = stop_streams


async def probe(request):
    stopped = asyncio.Event()

    async def events():
        OPEN.add(stopped)
        try:
            yield f"event: hello\\ndata: {{\\"asgi\\": {str(isinstance(request, ASGIRequest)).lower()}}}\\n\\n"
            await stopped.wait()
            yield "event: bye\\ndata: {}\\n\\n"
        finally:
            OPEN.discard(stopped)

    return StreamingHttpResponse(events(), content_type="text/event-stream")


urlpatterns = [path("events", probe), *product_urlpatterns]
"""


@pytest.fixture
def probe_env(tmp_path):
    (tmp_path / "serving_probe_urls.py").write_text(PROBE)
    (tmp_path / "serving_probe_settings.py").write_text(
        "from convoproject.settings import *  # noqa: F403\nROOT_URLCONF = 'serving_probe_urls'\n"
    )
    return {"PYTHONPATH": f"{tmp_path}:{ROOT}", "DJANGO_SETTINGS_MODULE": "serving_probe_settings"}


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def rpc(server, key, name, body):
    status, answer = request(server, "POST", f"/protobuf/Streams/{name}", body, {"Authorization": f"Bearer {key}"})
    assert status == 200, answer
    return json.loads(answer)


def test_make_serve_and_the_test_server_boot_the_same_layout():
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"^serve:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    command = Server("sqlite:///unused").command()
    assert "convoproject.asgi:application" in serve and "convoproject.asgi:application" in command
    assert "--worker-class convoproject.asgi.Worker" in serve
    assert command[command.index("--worker-class") + 1] == "convoproject.asgi.Worker"
    assert f"--graceful-timeout {GRACEFUL_TIMEOUT}" in serve
    assert command[command.index("--graceful-timeout") + 1] == str(GRACEFUL_TIMEOUT)


def test_rpcs_healthz_and_a_stream_then_sigterm_ends_the_stream_and_the_server(tmp_path, probe_env):
    _, key = create_api_key("serving")
    server = Server(database_url(connection.settings_dict), workers=1, threads=2, env=probe_env)
    with server:
        assert request(server, "GET", "/healthz") == (200, b'{"status": "ok"}')
        conversation = rpc(server, key, "CreateConversation", {"group_id": "g", "topic": "t"})["conversation"]
        assert rpc(server, key, "ListMessages", {"conversation_id": conversation["id"]}) == {"messages": []}
        # A body longer than WSGISide reads ahead is read by the request's thread as it goes.
        auth = {"Authorization": f"Bearer {key}"}
        big = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        status, answer = request(server, "POST", "/protobuf/Streams/CreateMessage", big, auth)
        assert (status, json.loads(answer)["id"]) == (413, "PAYLOAD_TOO_LARGE"), answer

        stream = http.client.HTTPConnection(server.host, server.port, timeout=GRACEFUL_TIMEOUT)
        stream.request("GET", "/events")
        response = stream.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.readline() == b"event: hello\n"
        assert response.readline() == b'data: {"asgi": true}\n'  # served by Django's ASGI handler
        assert response.readline() == b"\n"

        # The stream keeps a connection open; SIGTERM still ends it cleanly
        # (its last event, then the end of the chunked body) and the server exits.
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert response.read() == b"event: bye\ndata: {}\n\n"  # no IncompleteRead: the response was finished
        assert server.process.wait(timeout=GRACEFUL_TIMEOUT) == 0
        elapsed = time.monotonic() - start
        stream.close()
        assert elapsed < 5, f"{elapsed:.1f} s to stop"
        assert server.log_problems() == [], server.log_tail()


def test_a_live_stream_gets_an_rpcs_message_and_sigterm_ends_it():
    _, key = create_api_key("serving")
    server = Server(database_url(connection.settings_dict), workers=1, threads=2)
    with server:
        conversation = rpc(server, key, "CreateConversation", {"group_id": "g", "topic": "t"})["conversation"]["id"]
        stream = http.client.HTTPConnection(server.host, server.port, timeout=GRACEFUL_TIMEOUT)
        stream.request("GET", f"/events?conversation_id={conversation}", headers={"Authorization": f"Bearer {key}"})
        response = stream.getresponse()
        assert response.status == 200, response.read()
        assert response.readline().startswith(b"retry: ")
        # The RPC (a pool thread) wakes the stream (the event loop) of its own process.
        rpc(server, key, "CreateMessage", {"conversation_id": conversation, "author_id": "a", "text": "live"})
        while (line := response.readline()) != b"event: message\n":
            assert line, "the stream ended before the message"
        assert b'"text":"live"' in response.readline().replace(b" ", b"")

        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        response.read()  # to the end of the chunked body: no IncompleteRead
        assert server.process.wait(timeout=GRACEFUL_TIMEOUT) == 0
        elapsed = time.monotonic() - start
        stream.close()
        assert elapsed < 5, f"{elapsed:.1f} s to stop"
        assert server.log_problems() == [], server.log_tail()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL backends")
def test_each_rpc_thread_keeps_one_database_connection():
    _, key = create_api_key("serving")
    url = database_url(connection.settings_dict, application_name="convo-serving-test")
    with Server(url, workers=2, threads=2) as server:

        def backends_after(requests):
            for _ in range(requests):
                rpc(server, key, "CreateConversation", {"group_id": "g", "topic": "t"})
            return set(server.database_pids())

        first = backends_after(40)
        # At most one per thread (2 x 2), and the same ones later: kept, not
        # reopened per request. (A thread that served none of the first 40
        # may open its one connection later: more pids, never other ones.)
        assert 1 <= len(first) <= 4
        later = backends_after(40)
        assert first <= later and len(later) <= 4, (first, later)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="libpq's TCP keepalives")
def test_postgresql_connections_have_tcp_keepalives():
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    for setting in ("keepalives=1", "keepalives_idle=10", "keepalives_interval=5", "keepalives_count=3"):
        assert setting in dsn.split(), dsn
    assert "tcp_user_timeout=30000" in dsn.split(), dsn


# ---------------------------------------------------------------- one CPU a worker


def test_workers_started_together_take_the_cpus_in_turn():
    assert [choose_cpu(age, [0, 1], []) for age in range(1, 5)] == [1, 0, 1, 0]
    # Siblings not pinned (every CPU theirs) and CPUs this worker may not use count for nothing.
    assert choose_cpu(2, [2, 3], [{0, 1, 2, 3}, {5}]) == 2


def test_a_replacement_worker_takes_the_cpu_its_predecessor_left():
    # Two siblings on CPU 1, one on CPU 0: whatever its age, the new worker takes 0.
    assert {choose_cpu(age, [0, 1], [{1}, {0}, {1}]) for age in range(1, 9)} == {0}
    # Two of three CPUs taken: the third, however many ask.
    assert choose_cpu(7, [0, 1, 2], [{0}, {2}]) == 1


def cpus_of_threads(pid):
    """The CPU set of each thread of a process."""
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


# The CPUs this process may run on (Linux; none known elsewhere).
CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


@pytest.mark.skipif(len(CPUS) < 2, reason="one CPU (or not Linux): nothing to spread the workers over")
def test_each_worker_runs_on_one_cpu_the_workers_spread_and_a_replacement_fills_the_gap():
    """Every thread of a worker (the event loop's and the RPCs', started
    later) runs on its worker's one CPU; the workers are spread evenly over
    the CPUs this process may use; a killed worker's replacement takes the
    CPU it left."""
    allowed = sorted(CPUS)
    workers = 2 * len(allowed)
    _, key = create_api_key("serving")
    with Server(database_url(connection.settings_dict), workers=workers, threads=2) as server:
        for _ in range(4 * workers):  # each worker's RPC threads started
            rpc(server, key, "CreateConversation", {"group_id": "g", "topic": "t"})

        def cpu_of_each_worker():
            cpus = {}
            for pid in server.worker_pids():
                try:
                    threads = cpus_of_threads(pid)
                except OSError:
                    return None  # a worker (or one of its threads) gone meanwhile: look again
                if any(len(cpu_set) != 1 for cpu_set in threads) or len(set(map(frozenset, threads))) != 1:
                    return None  # still booting
                cpus[pid] = next(iter(threads[0]))
            return cpus if len(cpus) == workers else None

        before = wait_for(cpu_of_each_worker)
        assert sorted(before.values()) == sorted(allowed * 2)
        killed = next(iter(before))
        os.kill(killed, signal.SIGKILL)
        after = wait_for(lambda: (found := cpu_of_each_worker()) and killed not in found and found)
        assert sorted(after.values()) == sorted(allowed * 2)
        (replacement,) = set(after) - set(before)
        assert after[replacement] == before[killed]
        assert f"Worker {replacement} runs on CPU {before[killed]}" in server.log_text()


@pytest.mark.skipif(not CPUS, reason="CPU sets are Linux's")
def test_pin_workers_0_leaves_the_workers_on_every_cpu():
    allowed = CPUS
    with Server(database_url(connection.settings_dict), workers=2, threads=1, env={PIN_VARIABLE: "0"}) as server:
        pids = wait_for(lambda: len(found := server.worker_pids()) == 2 and found)
        assert all(cpu_set == allowed for pid in pids for cpu_set in cpus_of_threads(pid))
        assert "runs on CPU" not in server.log_text()
