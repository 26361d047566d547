"""Hot reads whose SQL Django compiles once, not on every request.

Building and compiling a QuerySet costs several times more CPU than running
the indexed query it makes (measured in docs/PERFORMANCE.md). A `PreparedRead`
has Django build the queryset once per shape (per thread), with a sentinel
for each argument, and keeps the compiled SQL, where each argument goes among
its parameters, and the compiler's converters. A call then fills in the
parameters (prepared for the database by the same model fields the ORM would
use), runs the statement through the cursor and converts the rows with
Django's own converters: the ORM's SQL and values, without the ORM's per-call
work. tests/test_prepared.py holds the answers equal to the plain queryset's.
"""

import datetime
import threading
import uuid
from collections import namedtuple

from django.db import connection

# One sentinel per kind of argument: values no real argument takes.
SENTINELS = {
    "int": -735_911_027,
    "uuid": uuid.UUID("0badc0de-0000-4000-8000-00000000beef"),
    "datetime": datetime.datetime(1970, 1, 2, 3, 4, 5, 678_901, tzinfo=datetime.UTC),
    "str": "\x01prepared-sentinel\x01",
}


class PreparedRead:
    """`build(shape, **arguments)` makes the queryset (a values_list of
    `columns`); `arguments` maps each argument's name to (kind, model field).
    `run(shape, **values)` answers a list of namedtuples with `columns`.

    The shape is whatever changes the SQL text beyond its parameters, e.g.
    the page size (Django writes LIMIT as a literal) or whether an optional
    filter is there."""

    def __init__(self, build, columns, **arguments):
        self.build = build
        self.arguments = arguments
        self.row = namedtuple("Row", columns)
        self._local = threading.local()

    def _compiled(self, shape):
        cache = self._local.__dict__.setdefault("cache", {})
        key = (connection.alias, shape)
        compiled = cache.get(key)
        if compiled is None:
            compiled = cache[key] = self._compile(shape)
        return compiled

    def _compile(self, shape):
        sentinels = {name: SENTINELS[kind] for name, (kind, _field) in self.arguments.items()}
        compiler = self.build(shape, **sentinels).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = []
        for name, (kind, field) in self.arguments.items():
            prepared = field.get_db_prep_value(SENTINELS[kind], connection)
            positions = [i for i, param in enumerate(params) if param == prepared]
            if len(positions) > 1:
                raise AssertionError(f"argument {name!r} is used {len(positions)} times in: {sql}")
            slots.extend((position, name, field) for position in positions)
        fields = [select[0] for select in compiler.select[: compiler.col_count]]
        return sql, list(params), slots, compiler, compiler.get_converters(fields)

    def run(self, shape, **values):
        sql, params, slots, compiler, converters = self._compiled(shape)
        return self._rows(sql, self._params(params, slots, values), compiler, converters)

    def run_each(self, shape, name, each, *, order_by, **values):
        """The query for every value of argument `name` in `each`, as one
        statement: a UNION ALL of one part per value, answered part after
        part (then by `order_by`, which names the query's own order)."""
        sql, params, slots, compiler, converters = self._compiled(shape)
        parts, all_params = [], []
        for position, value in enumerate(each):
            parts.append(f"SELECT {position:d} AS position, part.* FROM ({sql}) part")
            all_params += self._params(params, slots, {**values, name: value})
        statement = " UNION ALL ".join(parts) + f" ORDER BY position, {order_by}"
        return self._rows(statement, all_params, compiler, converters, skip=1)

    @staticmethod
    def _params(params, slots, values):
        params = list(params)
        for position, name, field in slots:
            params[position] = field.get_db_prep_value(values[name], connection)
        return params

    def _rows(self, sql, params, compiler, converters, skip=0):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [row[skip:] for row in cursor.fetchall()] if skip else cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [self.row._make(row) for row in rows]
