"""Django's PostgreSQL backend with a health check that costs no round trip,
and timestamps read by psycopg's C loader.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first statement
of every request that reuses a connection: a read RPC ran two round trips
instead of one (docs/PERFORMANCE.md). A connection the server has closed or
is closing (a restart, an idle timeout, a proxy) has something to read while
it sits idle between requests: the server's last message, or the end of the
stream. So the check looks at the socket first (one poll, no round trip) and
sends `SELECT 1` only when there is something to read or the connection is
not idle; a quiet, idle, open connection is used as it is. A host that
vanished without a word is noticed by neither check before the statement
itself: the TCP keepalives and tcp_user_timeout of settings.py bound that.

Django reads every timestamptz through its own loader, a Python subclass of
psycopg's pure-Python one (to attach the connection's time zone): about 2.5
us a value, 60 us of a page of 25 messages. On a UTC connection (ours:
USE_TZ, the database's TIME_ZONE unset, so Django sets the session's
TimeZone to UTC) psycopg's own loader, in C when psycopg[binary] is
installed, gives the very same value (aware, datetime.timezone.utc) at a
fifth of the cost; tests/test_health_check.py holds them equal.
"""

import datetime
import select

import psycopg
from django.db.backends.postgresql import base
from psycopg.adapt import Loader
from psycopg.pq import Format, TransactionStatus

TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid


class UTCTimestamptzLoader(Loader):
    """psycopg's default timestamptz loader (C when available), with the
    `timezone` attribute Django's cursors look for."""

    timezone = datetime.UTC
    fast = psycopg.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self._load = self.fast(oid, context).load

    def load(self, data):
        return self._load(data)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.timezone is datetime.UTC:
            connection.adapters.register_loader(TIMESTAMPTZ, UTCTimestamptzLoader)
        return connection

    def close_if_health_check_failed(self):
        if self.health_check_enabled and not self.health_check_done and self._quiet_and_idle():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _quiet_and_idle(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
        return not readable
