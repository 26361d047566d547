import pytest

from convoproject.tenants.keys import create_api_key
from tests.support.rpc import Rpc


@pytest.fixture
def micro_key(db):
    """A raw API key of namespace 'micro'."""
    return create_api_key("micro")[1]


@pytest.fixture
def other_key(db):
    """A raw API key of namespace 'other'."""
    return create_api_key("other")[1]


@pytest.fixture
def api(client, micro_key):
    """RPC client with an API key of namespace 'micro'."""
    return Rpc(client, key=micro_key)


@pytest.fixture
def other(client, other_key):
    """RPC client with an API key of namespace 'other'."""
    return Rpc(client, key=other_key)


@pytest.fixture
def anon(client, db):
    """RPC client without credentials."""
    return Rpc(client)


@pytest.fixture
def assert_queries():
    """`with assert_queries(3): ...` asserts the number of SQL statements run,
    leaving out SAVEPOINT bookkeeping: a test runs inside a transaction, so a
    service's transaction.atomic() becomes a savepoint here and a plain
    BEGIN/COMMIT (not counted) in production."""
    import contextlib

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    @contextlib.contextmanager
    def check(expected):
        with CaptureQueriesContext(connection) as captured:
            yield captured
        statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()[:30]]
        assert len(statements) == expected, f"expected {expected} queries, ran {len(statements)}:\n" + "\n".join(
            statements
        )

    return check


@pytest.fixture
def service(transactional_db, tmp_path):
    """The service as `make serve` runs it (tests/support/server.py), on the
    test database, for the browser tests: pytest-django's live_server is
    WSGI, which holds a /events stream's body back until it ends, and the
    pages subscribe. `service.url` is its address."""
    from types import SimpleNamespace

    from tests.support.server import serving

    with serving(tmp_path, workers=1) as server:
        yield SimpleNamespace(url=server.base_url, server=server)


# The people of the moderation tests (tests/support/staff.py). Some test
# files define a `moderator` of their own (e.g. plain staff), which wins there.


@pytest.fixture
def superuser(db):
    from tests.support.staff import make_superuser

    return make_superuser()


@pytest.fixture
def moderator(db):
    """A staff member of the Moderators group."""
    from tests.support.staff import make_moderator

    return make_moderator()


@pytest.fixture
def staff(db):
    """Staff without any permission."""
    from tests.support.staff import make_staff

    return make_staff()
