"""The SQL statements a piece of code runs, as sent to the cursor (the template
with its %s placeholders, and the parameters), leaving out what is not the
work of an RPC: the API-key lookup (cached in steady state) and transaction
bookkeeping (BEGIN, COMMIT, SAVEPOINT: a test's atomic() turns a transaction
into a savepoint).

Used by tests/test_bench.py to hold the floors to the RPCs' SQL, and by
`manage.py bench` for its SQL column.
"""

import contextlib
import datetime
import re
import uuid

from django.db import connection

_BOOKKEEPING = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


def is_bookkeeping(sql):
    return bool(_BOOKKEEPING.match(sql)) or "tenants_apikey" in sql


@contextlib.contextmanager
def capture():
    """`with capture() as statements:` ... a list of (sql, params)."""
    statements = []

    def record(execute, sql, params, many, context):
        if not is_bookkeeping(sql):
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def normalise_sql(sql):
    """Whitespace and identifier quoting do not matter."""
    text = " ".join(sql.replace('"', "").split()).lower()
    return text.replace("( ", "(").replace(" )", ")")


_MADE_IN_JSON = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
)


def normalise_param(value):
    """A parameter in a comparable form: psycopg's wrappers (Int4, Jsonb) and
    SQLite's text forms of UUIDs and times as plain values; in JSON text (a
    live event's data) the ids and times the server made are masked."""
    if isinstance(value, str) and value.startswith("{"):
        return _MADE_IN_JSON.sub("<made>", value)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.datetime):
        return ("datetime", value.isoformat())
    if hasattr(value, "obj"):  # psycopg's Json/Jsonb
        return ("json", value.obj)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return value


def generated(value):
    """A value the server makes itself (a new id, the current time): equal in
    kind, not in value, between two runs of a write."""
    if isinstance(value, uuid.UUID | datetime.datetime):
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"[0-9a-f]{32}|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", value))
