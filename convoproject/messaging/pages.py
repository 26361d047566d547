"""The newest-first page (CONTRACT 4, 5): the newest `limit` visible messages
of a parent sent strictly before `sent_before`, newest first. Every page is a
backward walk of the unique (namespace, parent, sent_at) index or of the
(parent, sent_at) one (messaging.models.parent_index), ending where the
parent's messages end, so its cost does not grow with the history nor with
the namespace (docs/PERFORMANCE.md, the growth series).
Hidden messages are never in a page.
"""

import json
import operator
import uuid

import orjson
from django.db import connection

from convoproject.sql import Statement, columns_of, fields_of

PAGE_COLUMNS = ("id", "author_id", "{parent}", "text", "sent_at")


def parent_stretch(
    messages: str, parent: str, parent_id: str = "%s", *, parents: str, before: bool = False, opaque: bool = False
) -> tuple[str, str]:
    """The WHERE condition and ORDER BY that read one parent's messages
    newest first from an index in their order (the unique (namespace,
    parent, sent_at) one, or parent_index()'s (parent, sent_at)), and from
    no other, the walk ending where the parent's messages end however few it
    finds. Its parameters are stretch_values(); where `parent_id` names a
    column instead of a placeholder (a correlated walk: `wanted.id`),
    without the parent's.

    Bounds on the parent, not `parent_id = ...`: given that equality,
    PostgreSQL's planner holds the parent constant, orders by `sent_at`
    alone and may walk the `sent_at` index of all messages, filtering, which
    reads every newer message of every other parent: a quiet conversation
    beside one busy one read 17,403 rows for a page of 25
    (docs/PERFORMANCE.md). Ordered by parent and sent_at, only the two
    indexes above give the order.

    PostgreSQL: the namespace's equality; below, `parent_id >= ...`, which
    ends a backward walk at the parent's first message; above, the row value
    `(parent_id, sent_at) <= (..., 'infinity')` (before a sent_before, `<
    (..., sent_before)`), where the walk starts. PostgreSQL 15 ends a walk
    on a row value's first column only, so bounded below by
    `(namespace_id, parent_id) >= (...)` a page that found fewer messages
    than its size (an empty parent, the last page of any) went on through
    the messages of every parent before it in the namespace
    (tests/test_stretch_ends.py). SQLite: `(namespace, parent)` bounded
    from both sides as row values (the upper one `(namespace, parent,
    sent_at)` before a sent_before), which its index range takes whole and
    ends at; it keeps no statistics to be misled by.

    PostgreSQL, last: the walk runs only for a parent of the namespace (its
    namespace read by `parents`' primary key, which the planner makes a
    one-time filter). The parent index has no namespace in it: given another
    namespace's parent, a walk of it read every message of that parent,
    filtering each out by its namespace, to find none (200,000 messages:
    4,832 buffers, 32 ms; tests/test_stretch_ends.py). SQLite's row values
    can only be walked in the unique index, the namespace first.

    `opaque` (PostgreSQL): the parent's id and the sent_before as scalar
    subqueries, `(SELECT %s)`, which the planner does not look into. The
    plans made for each run's values then cost what the plan made for none
    costs, so that PostgreSQL's plan cache takes the latter after five runs
    of the prepared statement (with the page's size written in: SizedPage)
    and plans the page no more: about 80 us of the backend's CPU a page
    (docs/PERFORMANCE.md, "the seventh session"). The namespace stays a
    value it sees: where the plan made for none would read the namespace
    through its `sent_at` index and sort it (a small table), the plans made
    for the namespace's values cost less, and the cache keeps making those.
    In a correlated walk, whose parent is a column, `opaque` hides the
    namespace instead (RecentMessages' LATERAL: seen, it kept PostgreSQL
    planning for each run's values), and each parent's walk is one of the
    parent index whatever the namespace, ended for a parent of another
    namespace by the condition above."""
    value = "(SELECT %s)" if opaque else "%s"
    correlated = parent_id != "%s"
    own = parent_id if correlated else value
    namespace = value if correlated else "%s"
    column = f"{messages}.{parent}_id"
    order = f"{messages}.namespace_id DESC, {column} DESC, {messages}.sent_at DESC"
    if connection.vendor == "postgresql":
        upper = f"({column}, {messages}.sent_at) " + (f"< ({own}, {value})" if before else f"<= ({own}, 'infinity')")
        # The parent's namespace by its primary key alone, compared outside:
        # with the namespace beside the id, the planner could as well walk
        # the namespace's parents for it. The id seen, not opaque: one row
        # to any plan.
        owner = f"(SELECT owned.namespace_id FROM {parents} AS owned WHERE owned.id = {parent_id})"
        owned = f"{owner} = %s"
        return f"{messages}.namespace_id = {namespace} AND {column} >= {own} AND {upper} AND {owned}", order
    pair = f"({messages}.namespace_id, {column})"
    key = f"({messages}.namespace_id, {column}, {messages}.sent_at)"
    upper = f"{key} < (%s, {own}, {value})" if before else f"{pair} <= (%s, {own})"
    return f"{pair} >= (%s, {own}) AND {upper}", order


def stretch_values(namespace_id: int, parent_id, sent_before=None) -> list:
    """parent_stretch()'s parameters on this connection (`before` when
    sent_before is given): PostgreSQL's namespace, the parent for each of
    its bounds (the sent_before after them), then the parent and the
    namespace it must be of; SQLite's namespace and parent for each of its
    two (the sent_before last)."""
    if connection.vendor == "postgresql":
        bounds = [namespace_id, parent_id, parent_id]
        before = [] if sent_before is None else [sent_before]
        return [*bounds, *before, parent_id, namespace_id]
    values = [namespace_id, parent_id, namespace_id, parent_id]
    return values if sent_before is None else [*values, sent_before]


def each_values(namespace_id: int, parent_ids: list | None) -> list:
    """Statements.each_lateral's parameters but its LIMIT (PostgreSQL): the
    ids, then the namespace of the stretch and the one each parent must be of.
    Given fields, the fields that convert them (None for the ids, sent as
    they are)."""
    return [parent_ids, namespace_id, namespace_id]


def stretch_fields(namespace_field, parent_field, sent_at_field, *, before: bool = False) -> list:
    """The model fields that convert stretch_values() for the database
    (convoproject.sql.Statement's params), in the same order: its own
    shape, a field in each value's place."""
    return stretch_values(namespace_field, parent_field, sent_at_field if before else None)


def packed(sql: str, names) -> str:
    """SQLite: the rows of `sql` (columns `names`) as one row, a JSON array
    of arrays of their values (unpack() reads it back). Python's sqlite3
    module lets go of the GIL for every row it steps: 26 times for a page of
    25, and in a busy worker another thread takes it each time, so that the
    page's thread waits to have it back (docs/PERFORMANCE.md). One row is
    one step. Values only: the wire's form is still rendered in Python from
    the same values (RowsRenderer), a JSON string read back being the same
    str."""
    return f"SELECT json_group_array(json_array({', '.join(names)})) FROM ({sql})"


def unpack(rows: list, sent_at: int, *, positioned: bool = False) -> list:
    """The rows of a packed() page, newest first: SQLite 3.40 has no ORDER
    BY inside an aggregate, so the order is made again, by the stored
    sent_at text (column `sent_at`), whose text order is its time order
    (the fraction, left out when zero, only ever follows a prefix).
    `positioned`: each row's first value is its parent's position, by which
    the pages are put in order, each newest first, and which is left out."""
    unpacked = orjson.loads(rows[0][0])
    unpacked.sort(key=operator.itemgetter(sent_at), reverse=True)
    if positioned:
        unpacked.sort(key=operator.itemgetter(0))  # stable: each page stays newest first
        unpacked = [row[1:] for row in unpacked]
    return unpacked


class Statements:
    """The page statements of one select list; with `packed_rows` (SQLite)
    each page is one row, packed(), which rows_of() unpacks."""

    def __init__(
        self,
        messages: str,
        parents: str,
        parent: str,
        select_list: str,
        columns,
        fields,
        *,
        packed_rows: bool = False,
        opaque_values: bool = False,
    ):
        namespace_id = fields[0]
        select = f"SELECT {select_list} FROM {messages}"
        self.packed = packed_rows
        names = [name for name, _ in columns]
        self._sent_at_index = names.index("sent_at") if packed_rows else None

        def page(sql, names=names):
            return packed(sql, names) if packed_rows else sql

        # With opaque values (PostgreSQL) the page's size is written into the
        # statement as a number (SizedPage): a LIMIT that is a parameter is a
        # tenth of the rows to the plan made for no values, which then loses
        # to the plans made for each, or, opaque too, may be a plan that reads
        # and sorts the whole namespace (docs/PERFORMANCE.md).
        page_statement = SizedPage if opaque_values else Statement

        # {messages}.sent_at, the column: SQLite would take a bare `sent_at`
        # in ORDER BY for the select list's (e.g. the stored text).
        where, order = parent_stretch(messages, parent, parents=parents, opaque=opaque_values)
        self.first = page_statement(
            page(f"{select} WHERE {where} AND NOT hidden ORDER BY {order} LIMIT %s"),
            params=[*stretch_fields(*fields), None],
            columns=() if packed_rows else columns,
        )
        where, order = parent_stretch(messages, parent, parents=parents, before=True, opaque=opaque_values)
        self.before = page_statement(
            page(f"{select} WHERE {where} AND NOT hidden ORDER BY {order} LIMIT %s"),
            params=[*stretch_fields(*fields, before=True), None],
            columns=() if packed_rows else columns,
        )
        lateral_where, lateral_order = parent_stretch(
            messages, parent, "wanted.id", parents=parents, opaque=opaque_values
        )
        # PostgreSQL: the page of each of many parents in one statement, a
        # LATERAL join over the ids in the order given. With opaque values
        # the ids and the namespace too are scalar subqueries and the pages'
        # size is written in, so that its plan is kept as a page's is
        # (docs/PERFORMANCE.md, "the eleventh session").
        ids = "(SELECT %s::uuid[])" if opaque_values else "%s::uuid[]"
        self.each_lateral = page_statement(
            f"""SELECT page.{", page.".join(name for name, _ in columns)}
            FROM unnest({ids}) WITH ORDINALITY AS wanted (id, position)
            CROSS JOIN LATERAL (SELECT {select_list}, sent_at AS page_sent_at FROM {messages}
                                WHERE {lateral_where} AND NOT hidden
                                ORDER BY {lateral_order} LIMIT %s) page
            ORDER BY wanted.position, page.page_sent_at DESC""",
            # The ids: a list of UUIDs, which psycopg sends as uuid[].
            params=[*each_values(namespace_id, None), None],
            columns=columns,
        )
        # SQLite, which has no LATERAL: the ids as a JSON array, each joined
        # to its page by a correlated IN (a 100-part UNION ALL, one page per
        # id, cost 2.5 times as much: 300 parameters bound and a long
        # statement). Equalities here, not parent_stretch()'s bounds: SQLite
        # keeps no statistics to be misled by, and does not take a
        # correlated column into a row value's index range (it searched the
        # namespace's whole stretch).
        # Packed, each row its parent's position in the array first.
        position = "wanted.position AS position, " if packed_rows else ""
        self.each_listed = Statement(
            page(
                f"""SELECT {position}{select_list}
                FROM (SELECT key AS position, value AS wanted_id FROM json_each(%s)) AS wanted
                JOIN {messages} ON {messages}.id IN (
                    SELECT page.id FROM {messages} AS page
                    WHERE page.namespace_id = %s AND page.{parent}_id = wanted.wanted_id AND NOT page.hidden
                    ORDER BY page.sent_at DESC LIMIT %s)
                ORDER BY wanted.position, {messages}.sent_at DESC""",
                ["position", *names],
            ),
            # The ids: a JSON array of their database values.
            params=[None, namespace_id, None],
            columns=() if packed_rows else columns,
        )

    def rows_of(self, rows: list, *, positioned: bool = False) -> list:
        """The rows one of these statements answered, as the driver's rows
        of its columns: unpack()ed if packed (`positioned`: each_listed's)."""
        if not self.packed:
            return rows
        sent_at = self._sent_at_index + 1 if positioned else self._sent_at_index  # after the position
        return unpack(rows, sent_at, positioned=positioned)


class SizedPage(Statement):
    """A page statement whose last value, the pages' size (its last
    placeholder, a LIMIT's), is written into its text as a number: one
    Statement for each size, made when first used (at most Limit.MAXIMUM).
    With the stretch's values opaque (parent_stretch), its plan is then one
    PostgreSQL's plan cache keeps: the same for any parent. text() and
    prepare() are the form with the size a parameter, as EXPLAIN takes it."""

    def __init__(self, sql: str, *, params, columns=()):
        head, limit, tail = sql.rpartition(" LIMIT %s")
        if not limit or "%s" in tail:
            raise ValueError(f"a page statement's last placeholder is its LIMIT: {sql}")
        super().__init__(sql, params=params, columns=columns)
        self._head, self._tail = head, tail
        self._columns = tuple(columns)
        self._sized = {}

    def sized(self, limit: int) -> Statement:
        """The statement of pages of `limit` rows."""
        found = self._sized.get(limit)
        if found is None:
            text = f"{self._head} LIMIT {int(limit)}{self._tail}"
            found = self._sized[limit] = Statement(text, params=self.param_fields[:-1], columns=self._columns)
        return found

    def raw_rows(self, *values) -> list:
        *values, limit = values
        return self.sized(limit).raw_rows(*values)


class Pages:
    """The pages of `message_model`, whose parents are `parent_model` rows.

    `typed` are the statements of the rows the shell gets (PAGE_COLUMNS);
    `for_render(render)` those an RPC runs, with the renderer's select list
    (convoproject.rpc.render.RowsRenderer.select_list): on PostgreSQL one
    column, each row's JSON written by the database; on SQLite the same
    columns, timestamps as their stored text, each page packed() into one
    row."""

    def __init__(self, message_model, parent_model):
        self.parent = message_model.PARENT
        self.messages, self.parents = message_model._meta.db_table, parent_model._meta.db_table
        self.columns = columns_of(message_model, *(name.format(parent=self.parent) for name in PAGE_COLUMNS))
        self.column_names = tuple(name for name, _ in self.columns)
        self.fields = fields_of(message_model, "namespace", self.parent, "sent_at")
        self.typed = Statements(
            self.messages,
            self.parents,
            self.parent,
            ", ".join(self.column_names),
            self.columns,
            self.fields,
            opaque_values=connection.vendor == "postgresql",
        )
        # Only for an empty page: is there such a parent at all?
        self.parent_exists = Statement(
            f"SELECT 1 FROM {self.parents} WHERE namespace_id = %s AND id = %s",
            params=fields_of(parent_model, "namespace", "id"),
        )
        self._by_select = {}  # a renderer's select list -> (its Statements, as JSON)

    def for_render(self, render) -> tuple[Statements, bool]:
        """The statements an RPC rendering with `render` runs, and whether
        their rows are JSON texts (else the driver's values of PAGE_COLUMNS,
        as RowsRenderer.select_list reads them)."""
        if render is None:
            return self.typed, False
        select_list, as_json = render.select_list()
        found = self._by_select.get(select_list)
        if found is None:
            columns = [("json", None)] if as_json else self.columns
            vendor = connection.vendor
            statements = Statements(
                self.messages,
                self.parents,
                self.parent,
                select_list,
                columns,
                self.fields,
                packed_rows=vendor == "sqlite",
                opaque_values=vendor == "postgresql",
            )
            found = self._by_select[select_list] = (statements, as_json)
        return found

    def page(self, namespace_id: int, parent_id: uuid.UUID | None, *, sent_before=None, limit: int = 25, render=None):
        """The page (rows of PAGE_COLUMNS), or None if the namespace has no
        such parent. One statement when the page has messages (a message of
        the namespace proves its parent is there); an empty page takes a
        second, to tell an emptied-out history from a missing parent.
        `render` (a convoproject.rpc.render.RowsRenderer) answers the page
        in its wire form instead: dicts rendered from the driver's values,
        or on PostgreSQL each message's JSON as the database wrote it."""
        if parent_id is None:
            return None
        statements, as_json = self.for_render(render)
        statement = statements.first if sent_before is None else statements.before
        rows = statements.rows_of(statement.raw_rows(*stretch_values(namespace_id, parent_id, sent_before), limit))
        if not rows and self.parent_exists.one(namespace_id, parent_id) is None:
            return None
        return self._finish(statement, rows, render, as_json)

    def _finish(self, statement, rows, render, as_json):
        if render is None:
            return statement.convert(rows)
        return render.fragments(rows) if as_json else render(rows, self.column_names)

    def first_of_each(self, namespace_id: int, parent_ids: list[uuid.UUID], *, limit: int, render=None) -> list:
        """The first page of each parent, in the order of `parent_ids`, as one
        statement whatever their number: each page one LIMITed backward scan of
        the unique index (a window function would read every message of every
        parent). PostgreSQL joins LATERAL over the ids; SQLite joins a JSON
        array of them to their pages. `render`: as for page()."""
        if not parent_ids:
            return []
        statements, as_json = self.for_render(render)
        if connection.vendor == "postgresql":
            statement = statements.each_lateral
            rows = statement.raw_rows(*each_values(namespace_id, parent_ids), limit)
            return self._finish(statement, rows, render, as_json)
        statement = statements.each_listed
        # As SQLite stores them (UUIDField.get_db_prep_value: 32 hex digits),
        # written here: that method costs 3 us an id, most of 100 pages' read.
        listed = json.dumps([parent_id.hex for parent_id in parent_ids])
        rows = statements.rows_of(statement.raw_rows(listed, namespace_id, limit), positioned=True)
        return self._finish(statement, rows, render, as_json)
