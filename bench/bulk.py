"""Bulk row writes for seeding: COPY on PostgreSQL, one executemany INSERT
elsewhere (SQLite). The caller wraps each call in a transaction.

`rows` are tuples in the order of `columns` (attnames, e.g. "namespace_id"),
with Python values (UUID, aware datetime, bool, None, str, int); this module
adapts them for the database as Django's fields would.
"""

import uuid

from django.db import connection


def write_rows(model, columns, rows):
    if connection.vendor == "postgresql":
        copy_rows(model, columns, rows)
    else:
        insert_rows(model, columns, rows)


def copy_rows(model, columns, rows):
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_rows(model, columns, rows):
    """One executemany: on SQLite about four times the rate of bulk_create,
    which builds a model instance per row and multi-row INSERTs of 999
    parameters at most."""
    adapters = [_adapter(model._meta.get_field(column)) for column in columns]
    if any(adapters):
        adapters = [adapt or _same for adapt in adapters]
        rows = [tuple(adapt(value) for adapt, value in zip(adapters, row, strict=True)) for row in rows]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _same(value):
    return value


def _adapter(field):
    """How Django would store this field's Python value, or None for 'as is'."""
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if kind == "UUIDField" and not connection.features.has_native_uuid_field:
        return lambda value: value.hex if isinstance(value, uuid.UUID) else value
    if kind == "DateTimeField":
        adapt = connection.ops.adapt_datetimefield_value
        return lambda value: None if value is None else adapt(value)
    return None
