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
"""

import datetime
import operator
from collections.abc import Callable, Sequence
from typing import Any

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
    # SQLite's driver gives a naive UTC datetime (text without a declared type).
    return format_timestamp(datetime.datetime.fromisoformat(value) if isinstance(value, str) else value)


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


def rows_renderer(serializer_class) -> Callable[[Sequence[Sequence], Sequence[str]], list[dict]]:
    """The function that renders rows as the driver gives them (one column per
    field of `serializer_class`, a ModelSerializer, named by `columns`, in its
    order) as [renderer(serializer_class)(typed row) ...] would."""
    fields = serializer_class().fields
    model = serializer_class.Meta.model
    names = tuple(fields)
    if not all(name.isidentifier() for name in names):
        raise TypeError(f"{serializer_class.__name__}: field names must be identifiers")
    sources = tuple(field.source for field in fields.values())
    by_vendor = {}

    def wire_of(field):
        model_field = model._meta.get_field(field.source)
        wire = _wire_of_db_value(field, model_field)
        if wire is str and model_field.get_internal_type() in {"CharField", "TextField"}:
            return None  # the driver's str is the wire value
        return _nullable(wire) if model_field.null else wire

    def render_row_function():
        render_row = by_vendor.get(connection.vendor)
        if render_row is None:
            render_row = by_vendor[connection.vendor] = _row_function(names, [wire_of(f) for f in fields.values()])
        return render_row

    def render_rows(rows, columns) -> list[dict]:
        if tuple(columns) != sources:
            raise ValueError(f"{serializer_class.__name__} renders columns {sources}, not {tuple(columns)}")
        render_row = render_row_function()
        return [render_row(row) for row in rows]

    render_rows.__doc__ = f"Rows of the driver in the wire form of {serializer_class.__name__}."
    return render_rows
