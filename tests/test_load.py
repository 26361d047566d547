"""Load, nothing lost: gunicorn with several workers on the test database,
dozens of client threads writing to and reading the same conversations and
chats over HTTP, a fixed number of requests (bench/load.py, which
`manage.py loadtest` runs at any size; `make loadtest` is the larger run).

It ends with no 5xx (every answer a 200), every acknowledged message read
back exactly once by paging, and the ordering guarantee intact: sent_at
strictly decreasing along every page, and increasing in acknowledgement
order; no read during the run missed a message acknowledged before it.

The server's processes open their own connections to the test database, so
the data must be committed: `django_db(transaction=True)`. On SQLite the test
database is a file (settings.py), which gunicorn opens too; its writers take
turns (transaction_mode IMMEDIATE), which the run must survive as well.
"""

import sys

import pytest
from django.db import connection

from bench import load
from convoproject.tenants.keys import create_api_key
from tests.support.server import Server, database_url

# The CI size: about 10 s of load on 2 cores, under 20 s in all.
WORKERS = 4  # gunicorn workers (gthread)
SERVER_THREADS = 4  # per worker
CLIENT_THREADS = 40
REQUESTS = 4000
CONVERSATIONS = 4
CHATS = 3

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs a POSIX system"),
]


def test_load_loses_nothing_and_keeps_the_order(tmp_path):
    _, key = create_api_key("load-test")
    url = database_url(connection.settings_dict)  # the test database
    with Server(url, workers=WORKERS, threads=SERVER_THREADS, log_path=tmp_path / "gunicorn.log") as server:
        result = load.run(
            server.base_url,
            key,
            server,
            requests=REQUESTS,
            threads=CLIENT_THREADS,
            conversations=CONVERSATIONS,
            chats=CHATS,
            progress=None,
            label=f" ({WORKERS} gunicorn workers on {connection.vendor})",
        )
    print("\n" + result.summary)
    assert result.ok, result.summary
    assert result.requests == REQUESTS
    assert set(status for _, status in result.statuses) == {200}
    # The mix really wrote and read: about 45 % of the requests are writes.
    assert result.acknowledged > REQUESTS // 3, result.summary
    reads = sum(n for (rpc, _), n in result.statuses.items() if "CreateMessage" not in rpc)
    assert reads > REQUESTS // 3, result.summary
