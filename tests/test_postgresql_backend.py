"""The PostgreSQL backend (convoproject/db/postgresql): its health check (a
quiet, idle connection is reused without `SELECT 1`; one the server has
closed is found out at the start of the next request and replaced), and its
timestamps, read by psycopg's own loader, equal to Django's."""

import datetime
import time

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tests.support.server import database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend"),
]


@pytest.fixture
def probes(monkeypatch):
    """Counts the round-trip health checks (Django's is_usable: SELECT 1)."""
    calls = []
    wrapper = connections[DEFAULT_DB_ALIAS]  # the backend itself, not django.db.connection's proxy
    real = wrapper.is_usable
    monkeypatch.setattr(wrapper, "is_usable", lambda: calls.append(1) or real())
    monkeypatch.setattr(wrapper, "health_check_enabled", True)
    return calls


def next_request():
    connection.close_if_unusable_or_obsolete()  # what request_finished/started run
    assert connection.health_check_done is False


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_quiet_idle_connection_is_reused_without_a_round_trip(probes):
    pid = backend_pid()
    for _ in range(3):
        next_request()
        assert backend_pid() == pid
    assert probes == []
    assert connection.health_check_done is True


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it(probes):
    pid = backend_pid()
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection._quiet_and_idle() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's goodbye reaches the socket
    next_request()
    assert backend_pid() != pid  # the request ran, on a new connection
    assert probes == [1]  # the socket had something to say: the real check ran and failed


def test_inside_a_transaction_the_round_trip_check_decides(probes):
    backend_pid()
    connection.set_autocommit(False)
    try:
        backend_pid()  # the transaction has begun
        assert connection._quiet_and_idle() is False
        connection.health_check_done = False
        backend_pid()
        assert probes == [1]
    finally:
        connection.rollback()
        connection.set_autocommit(True)


MOMENTS = [
    "2026-11-30 07:00:00.123456+00",
    "2026-11-30 07:00:00+05:30",
    "2026-03-29 01:30:00.5-11",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


@pytest.mark.parametrize("text", MOMENTS)
def test_timestamps_are_read_as_djangos_loader_reads_them(text):
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from convoproject.db.postgresql.base import UTCTimestamptzLoader

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [text])
        ours = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        register_tzloader(datetime.UTC, cursor.cursor)  # Django's own loader, on this cursor only
        cursor.execute("SELECT %s::timestamptz", [text])
        djangos = cursor.fetchone()[0]
    assert connection.connection.adapters.get_loader(1184, 0) is UTCTimestamptzLoader
    assert ours == djangos and ours.tzinfo is djangos.tzinfo is datetime.UTC
    assert ours.isoformat() == djangos.isoformat()
