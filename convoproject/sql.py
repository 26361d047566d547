"""Hot SQL statements, each written once.

The statements every request runs (a page of messages, a conversation, the
parent's row lock, the insert of a message...) are written as SQL in each
app's `statements.py` and run through Django's connection cursor: building
and compiling a QuerySet on every request costs several times more CPU than
running the indexed statement itself (docs/PERFORMANCE.md). An RPC and its
benchmark floor (bench/floors.py) run the same Statement objects. Every path
that is not hot uses the ORM.

A Statement knows, from the model fields it is given, how to hand each
parameter to the database (`Field.get_db_prep_value`: UUIDs become 32 hex
digits on SQLite) and how to read each column back as the ORM would (UUIDs,
aware datetimes, decoded JSON), so its rows hold the same values as a
`values_list()` of the same columns (tests/test_statements.py holds them
equal).
"""

import datetime
import json
import uuid
from collections import namedtuple
from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field


def _to_uuid(value):
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(value)


def _to_aware(value):
    """SQLite stores UTC text and its driver gives it back naive (or as text)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.replace(tzinfo=datetime.UTC) if value is not None and value.tzinfo is None else value


def _from_json(value):
    return json.loads(value) if isinstance(value, str) else value


# Fields whose values the drivers of both databases take as they are.
_AS_IS = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "IntegerField",
    "PositiveIntegerField",
    "SmallIntegerField",
    "TextField",
}


def _preparer(field):
    """The field that prepares a parameter, or None where the value goes as it is."""
    if field is None:
        return None
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    return None if kind in _AS_IS else field


def column_converter(field):
    """How to read a column of `field` back on this connection, or None if the driver's value is right."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind == "UUIDField" and not connection.features.has_native_uuid_field:
        return _to_uuid
    if kind == "DateTimeField" and not connection.features.supports_timezones:
        return _to_aware
    if kind == "JSONField":
        return _from_json
    return None


class Statement:
    """One SQL statement with %s placeholders.

    `params` gives, for each placeholder in order, the model field that
    prepares its value for the database, or None for a value passed as it is
    (an int, a str). `columns` names the result's columns, each with its model
    field (or None: as the driver gives it); rows come back as namedtuples of
    those names (without `columns`, as the driver's tuples)."""

    def __init__(
        self,
        sql: str,
        *,
        params: Sequence[Field | None] = (),
        columns: Sequence[tuple[str, Field | None]] = (),
    ):
        self.sql = " ".join(sql.split())
        self.param_fields = tuple(params)
        self.params = tuple(_preparer(field) for field in params)
        self.column_fields = tuple(field for _, field in columns)
        self.row = namedtuple("Row", [name for name, _ in columns]) if columns else None
        self._converters = {}  # vendor -> [(index, converter)]

    def text(self) -> str:
        """The SQL sent on this connection."""
        return self.sql

    def prepare(self, values: Sequence) -> list:
        """The parameters as the database takes them."""
        if len(values) != len(self.params):
            raise TypeError(f"{len(self.params)} parameters expected, {len(values)} given: {self.sql}")
        # The connection itself, not the `connection` proxy: the fields look
        # at its features and operations, each look through the proxy a
        # thread-local lookup (7 us of the 17 of a message's insert).
        db = connections[DEFAULT_DB_ALIAS]
        return [
            value if field is None else field.get_db_prep_value(value, db)
            for field, value in zip(self.params, values, strict=True)
        ]

    def prepare_at(self, params: list, index: int, value) -> None:
        """Put `value`, prepared as prepare() would, at `index` of `params`
        (a prepare()d list): the one value not known when the rest were
        prepared (convoproject.messaging.ordering: a message's sent_at)."""
        field = self.params[index]
        params[index] = value if field is None else field.get_db_prep_value(value, connections[DEFAULT_DB_ALIAS])

    def execute_prepared(self, params: list) -> int:
        """execute() with parameters already prepare()d; the number of rows changed."""
        with connection.cursor() as cursor:
            cursor.execute(self.text(), params)
            return cursor.rowcount

    def rows(self, *values) -> list:
        """Every row, as namedtuples of `columns`."""
        return self.convert(self.raw_rows(*values))

    def raw_rows(self, *values) -> list:
        """Every row as the driver gives it (for convoproject.rpc.render.rows_renderer)."""
        with connection.cursor() as cursor:
            cursor.execute(self.text(), self.prepare(values))
            return cursor.fetchall()

    def one(self, *values):
        """The first row, or None."""
        with connection.cursor() as cursor:
            cursor.execute(self.text(), self.prepare(values))
            found = cursor.fetchone()
        return None if found is None else self.convert([found])[0]

    def execute(self, *values) -> int:
        """Run a statement that answers no rows; the number of rows it changed."""
        return self.execute_prepared(self.prepare(values))

    def convert(self, rows: list) -> list:
        if self.row is None:  # no columns declared: the driver's tuples
            return list(rows)
        converters = self._converters.get(connection.vendor)
        if converters is None:
            converters = self._converters[connection.vendor] = [
                (index, convert)
                for index, field in enumerate(self.column_fields)
                if field is not None and (convert := column_converter(field)) is not None
            ]
        make = self.row._make
        if not converters:
            return [make(row) for row in rows]
        converted = []
        for row in rows:
            row = list(row)
            for index, convert in converters:
                row[index] = convert(row[index])
            converted.append(make(row))
        return converted


class Insert(Statement):
    """The INSERT of a whole row of `model`: every concrete column, in the model's order."""

    def __init__(self, model):
        fields = model._meta.concrete_fields
        self.model = model
        self.attnames = [field.attname for field in fields]
        super().__init__(
            f"INSERT INTO {model._meta.db_table} ({', '.join(self.attnames)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            params=fields,
        )

    def save(self, **values):
        """Insert the row (`values` by column name: id, namespace_id, ...);
        the model instance, as loaded from the database."""
        row = [values[name] for name in self.attnames]
        self.execute(*row)
        return self.model.from_db(connection.alias, self.attnames, row)


def together(first: Statement, then: Statement) -> Statement:
    """PostgreSQL: `first`, a data-modifying statement, as a CTE of `then`:
    both run in one statement, one round trip, and see the same snapshot
    (neither sees the other's rows). Its parameters are first's, then then's;
    its rows are then's."""
    return Statement(
        f"WITH _first AS ({first.sql}) {then.sql}",
        params=first.param_fields + then.param_fields,
        columns=list(zip(then.row._fields, then.column_fields, strict=True)) if then.row else (),
    )


def columns_of(model, *names: str) -> list[tuple[str, Field]]:
    """(column name, field) of a model's fields, for `Statement(columns=...)`;
    a foreign key by its column name (conversation -> conversation_id)."""
    fields = [model._meta.get_field(name) for name in names]
    return [(field.attname, field) for field in fields]


def fields_of(model, *names: str) -> list[Field]:
    """Model fields, for `Statement(params=...)`."""
    return [model._meta.get_field(name) for name in names]
