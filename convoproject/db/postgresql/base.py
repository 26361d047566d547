"""Django's PostgreSQL backend with a health check that costs no round trip.

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
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
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
