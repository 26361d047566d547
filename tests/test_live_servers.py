"""CONTRACT 9 across server processes, each booted as `make serve` boots it
(tests/support/server.py): a change made through one app server reaches the
streams of another; an app server killed mid-stream loses its clients, who
resume on the other and lose nothing; open streams hold no connections.

On PostgreSQL the servers meet through LISTEN/NOTIFY; on SQLite (one
machine) through the log, polled."""

import contextlib
import os
import signal
import threading
import time

import pytest
from django.db import connection

from convoproject.tenants.keys import create_api_key
from streams.models import Message
from tests.support.rpc import HttpRpc
from tests.support.server import Server, database_url
from tests.support.sse import SSE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    url = database_url(connection.settings_dict)
    with Server(url, workers=2, threads=4, keep_alive=60) as a, Server(url, workers=2, threads=4, keep_alive=60) as b:
        yield a, b


def test_a_message_made_through_one_server_reaches_a_stream_on_another(two_servers):
    a, b = two_servers
    key = create_api_key("micro")[1]
    rpc_a = HttpRpc(a.base_url, key)
    conversation = rpc_a.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"})["conversation"]
    streams = [SSE(b.base_url, key, conversation_ids=[conversation["id"]]) for _ in range(3)]
    try:
        assert [s.status for s in streams] == [200, 200, 200]
        sent = rpc_a.ok("Streams/CreateMessage", {"conversation_id": conversation["id"], "author_id": "a", "text": "x"})
        started = time.monotonic()
        for stream in streams:
            assert stream.next(timeout=5).data == sent
        assert time.monotonic() - started < 2
    finally:
        for stream in streams:
            stream.close()


def test_clients_of_a_killed_server_resume_on_the_other_and_lose_nothing(two_servers):
    a, b = two_servers
    key = create_api_key("micro")[1]
    rpc = HttpRpc(b.base_url, key)
    conversations = [
        rpc.ok("Streams/CreateConversation", {"group_id": "g", "topic": f"t{i}"})["conversation"]["id"]
        for i in range(2)
    ]
    stop = threading.Event()

    def write():
        writer = HttpRpc(b.base_url, key)
        n = 0
        while not stop.is_set() and n < 400:
            writer.ok(
                "Streams/CreateMessage", {"conversation_id": conversations[n % 2], "author_id": "w", "text": str(n)}
            )
            n += 1
            time.sleep(0.005)

    writers = [threading.Thread(target=write) for _ in range(2)]
    stream = SSE(a.base_url, key, conversation_ids=conversations)
    got, last = [], None
    for writer in writers:
        writer.start()
    try:
        while len(got) < 40:
            event = stream.next(timeout=10)
            got.append(event.data["message"]["id"])
            last = event.id
        os.killpg(a.process.pid, signal.SIGKILL)  # no goodbye: the stream just breaks
        with contextlib.suppress(EOFError, TimeoutError):
            while True:
                event = stream.next(timeout=5)
                got.append(event.data["message"]["id"])
                last = event.id
        stream = SSE(b.base_url, key, conversation_ids=conversations, last_event_id=last)
        assert stream.status == 200
        for writer in writers:
            writer.join(timeout=60)
        expected = set(Message.objects.filter(conversation_id__in=conversations).values_list("id", flat=True))
        with contextlib.suppress(TimeoutError):
            while len(got) < len(expected):
                got.append(stream.next(timeout=10).data["message"]["id"])
        assert len(got) == len(set(got)), "an event came twice"
        assert {str(i) for i in expected} == set(got)
        for conversation in conversations:
            in_order = [
                str(pk)
                for pk in Message.objects.filter(conversation_id=conversation)
                .order_by("sent_at")
                .values_list("pk", flat=True)
            ]
            assert [m for m in got if m in set(in_order)] == in_order
    finally:
        stop.set()
        stream.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="connections counted in pg_stat_activity")
def test_open_streams_hold_no_database_connections():
    url = database_url(connection.settings_dict, application_name="convo-streams-test")
    key = create_api_key("micro")[1]
    with Server(url, workers=2, threads=4, keep_alive=60) as server:
        rpc = HttpRpc(server.base_url, key)
        ids = [
            rpc.ok("Streams/CreateConversation", {"group_id": "g", "topic": f"{i}"})["conversation"]["id"]
            for i in range(20)
        ]

        def connections():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                return cursor.fetchone()[0]

        few = [SSE(server.base_url, key, conversation_ids=[ids[i % 20]]) for i in range(4)]
        time.sleep(1)
        with_few = connections()
        many = [SSE(server.base_url, key, conversation_ids=[ids[i % 20]]) for i in range(150)]
        try:
            assert all(s.status == 200 for s in many)
            time.sleep(1)
            # The hubs' threads and listeners: a handful per process, whatever the number of streams.
            assert connections() <= with_few + 2 * 2
            sent = rpc.ok("Streams/CreateMessage", {"conversation_id": ids[3], "author_id": "a", "text": "x"})
            for stream in many[3::20]:  # the streams of that conversation
                assert stream.next(timeout=5).data == sent
        finally:
            for stream in few + many:
                stream.close()
