"""Responses rendered without DRF's per-object machinery.

Each response shape is defined once, as a DRF serializer (what the OpenAPI
document shows). `renderer()` derives from it the plain function the RPCs
render with: the same fields, keys and values (each field's own
`to_representation`), without the Serializer's per-object work, which costs
about 40 times more than the values themselves (docs/PERFORMANCE.md).
tests/test_wire.py holds the two equal on awkward values.

`rows_renderer()` derives, from the same serializer, the function that
renders a page of rows straight from the database driver's values, without
the typed row between (UUID objects, aware datetimes): on a page of 25
messages that step cost more than the rest of the RPC's own work
(docs/PERFORMANCE.md).

On PostgreSQL it has the database write each row's JSON instead
(`json_sql`, from the same serializer): psycopg then loads one text per
row, where UUID and timestamp objects cost more than the rest of the
request's own work, and the response embeds those texts as they are
(orjson.Fragment). The database's JSON strings are orjson's, escape for
escape; tests/test_wire.py holds the bytes equal.
"""

import datetime
import operator
from collections.abc import Callable
from typing import Any

import orjson
from django.db import connection
from rest_framework import fields as drf

from convoproject.sql import column_converter

from .fields import TimestampOut
from .timestamps import format_timestamp


def _represent(field) -> Callable[[Any], Any]:
    """The field's to_representation; `str` itself where that is all it does
    (a call of a builtin instead of a method, on every value of every row)."""
    if type(field) is drf.CharField or (type(field) is drf.UUIDField and field.uuid_format == "hex_verbose"):
        return str
    return field.to_representation


def renderer(serializer_class) -> Callable[[Any], dict]:
    """The function that renders an object (a model instance or a row with the
    same attribute names) as `serializer_class(obj).data` does."""
    fields = serializer_class().fields
    if any(field.source == "*" or "." in field.source for field in fields.values()):
        raise TypeError(f"{serializer_class.__name__}: only flat shapes (one attribute per field) are rendered")
    names = tuple(fields)
    values_of = operator.attrgetter(*(field.source for field in fields.values()))
    represent = tuple(_represent(field) for field in fields.values())

    def render(obj) -> dict:
        return {name: as_wire(value) for name, as_wire, value in zip(names, represent, values_of(obj), strict=True)}

    render.__doc__ = f"The wire form of {serializer_class.__name__}."
    return render


def _dashed(hex_digits):
    """SQLite's stored UUID (32 lowercase hex digits) as str(UUID) writes it."""
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _timestamp_of_sqlite(value):
    """SQLite's stored timestamp, naive UTC: its text as Django stores it
    ("2026-11-24 12:00:00.000001", the fraction left out when zero), cut
    into the wire form, or a datetime (a column of declared type datetime,
    which Django's converter parses)."""
    if type(value) is str:
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        if len(value) == 19 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}.000000Z"
        value = datetime.datetime.fromisoformat(value)
    return format_timestamp(value)


def _select_sqlite(field, model_field, column: str) -> str:
    # A timestamp as its stored text (an expression has no declared type, so
    # Django's converter does not parse it): cutting the text costs a fifth
    # of parsing it and writing it again.
    if model_field.get_internal_type() == "DateTimeField" and type(field) is TimestampOut:
        return f"CAST({column} AS TEXT) AS {column}"
    return column


def _wire_of_db_value(field, model_field) -> Callable[[Any], Any]:
    """One column's driver value -> its wire value, on this connection."""
    kind = (model_field.target_field if model_field.is_relation else model_field).get_internal_type()
    sqlite = connection.vendor == "sqlite"
    if sqlite and kind == "UUIDField" and _represent(field) is str:
        return _dashed
    if sqlite and kind == "DateTimeField" and type(field) is TimestampOut:
        return _timestamp_of_sqlite
    represent, convert = _represent(field), column_converter(model_field)
    if convert is None:
        return represent
    return lambda value: represent(convert(value))


def _nullable(wire):
    return lambda value: None if value is None else wire(value)


def _row_function(names, functions):
    """def render_row(row): return {"id": f0(row[0]), "text": row[3], ...}:
    one dict display per row, a column whose driver value is already its wire
    value (text, on both databases) taken as it is. Generated, as namedtuple
    generates its class, because a zip and a comprehension per row cost half
    again as much as the conversions themselves."""
    items = ", ".join(
        f"{name!r}: row[{i}]" if wire is None else f"{name!r}: f{i}(row[{i}])"
        for i, (name, wire) in enumerate(zip(names, functions, strict=True))
    )
    namespace = {f"f{i}": wire for i, wire in enumerate(functions) if wire is not None}
    exec(f"def render_row(row):\n    return {{{items}}}", namespace)  # names: identifiers of our serializers
    return namespace["render_row"]


# PostgreSQL's JSON of a column's value, by the field that renders it: the
# wire form's text, quoted and escaped as orjson does (to_json escapes the
# quote and the backslash, writes \b \f \n \r \t so, and other control
# characters as \u00xx in lower case).
_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'  # four digits of the year, six of the fraction


def _json_sql_postgresql(field, model_field, column: str) -> str:
    kind = (model_field.target_field if model_field.is_relation else model_field).get_internal_type()
    if kind == "UUIDField" and _represent(field) is str:
        expression = f"'\"' || {column}::text || '\"'"  # UUID's text form is str(UUID)'s
    elif kind in {"CharField", "TextField"} and _represent(field) is str:
        expression = f"to_json({column})::text"
    elif kind == "DateTimeField" and type(field) is TimestampOut:
        expression = f"'\"' || to_char({column} AT TIME ZONE 'UTC', '{_TIMESTAMP_FORMAT}') || '\"'"
    else:
        raise TypeError(f"{type(field).__name__} of a {kind} is not rendered in SQL")
    return f"coalesce({expression}, 'null')" if model_field.null else expression


class RowsRenderer:
    """Renders rows as the driver gives them (one column per field of
    `serializer_class`, a ModelSerializer, named by `columns`, in its order)
    as [renderer(serializer_class)(typed row) ...] would: called with
    (rows, columns). On PostgreSQL, `json_sql()` is the SQL expression of a
    row's JSON text instead, and `fragments()` turns those texts into the
    response's elements."""

    def __init__(self, serializer_class):
        self.name = serializer_class.__name__
        fields = serializer_class().fields
        self.model = serializer_class.Meta.model
        self.names = tuple(fields)
        if not all(name.isidentifier() for name in self.names):
            raise TypeError(f"{self.name}: field names must be identifiers")
        self.fields = tuple(fields.values())
        self.sources = tuple(field.source for field in self.fields)
        self._render_row = {}  # vendor -> the generated render_row
        self._json_sql = None  # PostgreSQL's, made once
        self._select_list = {}  # vendor -> select_list()

    def __call__(self, rows, columns) -> list[dict]:
        if tuple(columns) != self.sources:
            raise ValueError(f"{self.name} renders columns {self.sources}, not {tuple(columns)}")
        render_row = self._render_row.get(connection.vendor)
        if render_row is None:
            functions = [self._wire_of(field) for field in self.fields]
            render_row = self._render_row[connection.vendor] = _row_function(self.names, functions)
        return [render_row(row) for row in rows]

    def _wire_of(self, field):
        model_field = self.model._meta.get_field(field.source)
        wire = _wire_of_db_value(field, model_field)
        if wire is str and model_field.get_internal_type() in {"CharField", "TextField"}:
            return None  # the driver's str is the wire value
        return _nullable(wire) if model_field.null else wire

    def select_list(self) -> tuple[str, bool]:
        """The select list of the rows this renders, on this connection, and
        whether they are JSON texts: on PostgreSQL each row's JSON
        (json_sql()); on SQLite the columns, timestamps as their stored text.
        Columns named by their own names: a statement orders by its table's
        column (`table.sent_at`), which SQLite would otherwise take for the
        select list's. Made once per database vendor (every page asks)."""
        found = self._select_list.get(connection.vendor)
        if found is None:
            json_sql = self.json_sql()
            if json_sql is not None:
                found = (f"{json_sql} AS json", True)
            else:
                columns = []
                for field in self.fields:
                    model_field = self.model._meta.get_field(field.source)
                    columns.append(_select_sqlite(field, model_field, model_field.column))
                found = (", ".join(columns), False)
            self._select_list[connection.vendor] = found
        return found

    def json_sql(self) -> str | None:
        """The SQL expression of a row's JSON text, in the wire form, on this
        connection; None where rendering the driver's values costs less
        (SQLite: the database runs in this process, and its string functions
        cost what Python's do)."""
        if connection.vendor != "postgresql":
            return None
        if self._json_sql is None:
            self._json_sql = self._postgresql_json_sql()
        return self._json_sql

    def _postgresql_json_sql(self) -> str:
        parts = []
        for name, field in zip(self.names, self.fields, strict=True):
            model_field = self.model._meta.get_field(field.source)
            opening = "," if parts else "{"
            key = orjson.dumps(name).decode()  # an identifier: no quote to escape in SQL
            value = _json_sql_postgresql(field, model_field, model_field.column)
            parts.append(f"'{opening}{key}:' || {value}")
        return " || ".join(parts) + " || '}'"

    @staticmethod
    def fragments(rows) -> list:
        """Rows whose first column is json_sql()'s text, as response
        elements that orjson (convoproject.rpc.renderers) writes as they are."""
        return [orjson.Fragment(row[0]) for row in rows]


def rows_renderer(serializer_class) -> RowsRenderer:
    """The RowsRenderer of `serializer_class`."""
    return RowsRenderer(serializer_class)
