"""Query-plan checks: a statement (convoproject.sql, or the SQL of an ORM
query a test captured) is answered from a given unique index, in index order
(no sort step), on PostgreSQL and on SQLite."""

import re

from django.db import connection


def unique_index_name(model, constraint, columns):
    """The name a query plan gives the unique index of `constraint`.
    PostgreSQL names it after the constraint. SQLite builds a UNIQUE constraint
    of CREATE TABLE as an automatic index (sqlite_autoindex_<table>_<n>): find
    the unique index on exactly those columns."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        assert constraints[constraint]["unique"], constraints
        assert constraints[constraint]["columns"] == columns, constraints
        if connection.vendor != "sqlite":
            return constraint
        cursor.execute(f"PRAGMA index_list({table})")
        names = [row[1] for row in cursor.fetchall() if row[2]]  # (seq, name, unique, origin, partial)
        matches = []
        for name in names:
            cursor.execute(f'PRAGMA index_info("{name}")')
            if [row[2] for row in sorted(cursor.fetchall())] == columns:
                matches.append(name)
    assert len(matches) == 1, (names, matches)
    return matches[0]


def price_out_scans(table, *, sorts=True, incremental_sorts=False):
    """PostgreSQL, for the rest of the test's transaction: `table`'s statistics
    fresh, sequential scans (and sorts, and if asked incremental sorts) priced
    out, so that a plan shows which index the planner would choose on a big
    table. Nothing on SQLite."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        if sorts:
            cursor.execute("SET LOCAL enable_sort = off")
        if incremental_sorts:
            cursor.execute("SET LOCAL enable_incremental_sort = off")


def explain(statement, *values):
    """The database's plan of a Statement run with `values`, as text."""
    sql, params = statement.text(), statement.prepare(values)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def parent_index_name(model) -> str:
    """The (parent, sent_at) index of a message model (messaging.models.parent_index)."""
    return f"{model._meta.db_table}_parent_idx"


def assert_reads_a_page_index(model, statement, values, constraint, columns):
    """`statement` reads a parent's messages of `model` in a page's order from
    one of the two indexes that give it, the unique one of `constraint` on
    `columns` (namespace, parent, sent_at) or the parent index (parent,
    sent_at): either walk ends where the parent's messages end
    (pages.parent_stretch), so which one the planner takes is its choice."""
    names = [unique_index_name(model, constraint, columns), parent_index_name(model)]
    assert_reads_one_of(model, statement, values, names)


def assert_reads_one_of(model, statement, values, names):
    """`statement` run with `values` reads one of the indexes `names` of
    `model`'s table, in its order (no sort step)."""
    assert connection.vendor in {"postgresql", "sqlite"}
    # On a table this small the planner may prefer any plan; with scans and
    # sorts priced out it can only pick an index that both finds the rows and
    # gives their order. With the table's statistics it knows which of those
    # reads fewest rows: the one that fits the query best.
    price_out_scans(model._meta.db_table, incremental_sorts=True)
    plan = explain(statement, *values)
    assert any(name in plan for name in names), (names, plan)
    # The index gives the order: no sort step.
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def explain_sql(sql):
    """The database's plan of a statement as a test captured it
    (CaptureQueriesContext: Django writes its values in), as text."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def assert_newest_first_from_a_page_index(model, statements):
    """Each of `statements` (captured SQL reading `model`'s messages of one
    parent, newest first) reads the unique (namespace, parent, sent_at) index
    or the parent index (parent, sent_at) in its order, never the `sent_at`
    index of all parents (tests/support/factories.py, a_big_quiet_parent).
    At most the ties of one sent_at are sorted (PostgreSQL's Incremental
    Sort, SQLite's RIGHT PART of the ORDER BY). On PostgreSQL with the
    table's statistics, and with sequential scans and sorts priced out, as
    in assert_reads_one_of: on a test's small table the planner may prefer
    to sort the whole parent."""
    assert statements
    table = model._meta.db_table
    price_out_scans(table)
    parent = f"{model.PARENT}_id"
    indexes = [
        unique_index_name(model, f"{table}_{model.PARENT}_sent_at_uniq", ["namespace_id", parent, "sent_at"]),
        parent_index_name(model),
    ]
    for sql in statements:
        plan = explain_sql(sql)
        assert any(index in plan for index in indexes), plan
        assert f"{table}_sent_idx" not in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
        assert not re.search(r"(^|->)\s*Sort  \(", plan, re.MULTILINE), plan  # a Sort node, not Incremental


def assert_reports_newest_first_from_parent_index(report_model, statements):
    """Each of `statements` (captured SQL reading `report_model`'s reports of
    one conversation or chat, newest first) reads the (parent, created_at, id)
    index in its order, never the created_at index of all reports, and sorts
    nothing: that index gives the whole order (created_at, then id). With the
    table's statistics, and with sequential scans and sorts priced out, as in
    assert_newest_first_from_a_page_index."""
    assert statements
    table = report_model._meta.db_table
    price_out_scans(table)
    for sql in statements:
        plan = explain_sql(sql)
        assert f"{table}_parent_idx" in plan, plan
        assert f"{table}_created_idx" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert not re.search(r"Sort  \(", plan), plan  # neither a Sort node nor an Incremental Sort


def work_of(statement, *values) -> int:
    """How much of the database one run of `statement` touched: on
    PostgreSQL the buffers its plan hit or read (EXPLAIN (ANALYZE, BUFFERS):
    the top node's, which counts its children's); on SQLite the
    instructions its virtual machine ran. It runs the statement (a write
    is undone with the test's transaction): the largest count of any node
    of the plan, the top node's unless it touched none itself."""
    sql, params = statement.text(), statement.prepare(values)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            ran = [0]

            def count():
                ran[0] += 1
                return 0  # go on

            connection.connection.set_progress_handler(count, 1)
            try:
                cursor.execute(sql, params)
                cursor.fetchall()
            finally:
                connection.connection.set_progress_handler(None, 1)
            return ran[0]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql, params)
        return buffers_of([row[0] for row in cursor.fetchall()])


def buffers_of(plan: list) -> int:
    """The largest buffer count of any node of an EXPLAIN (ANALYZE, BUFFERS)
    plan's lines, its planning left out."""
    executed = plan[: next((n for n, line in enumerate(plan) if line.startswith("Planning")), len(plan))]
    counts = [
        sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", line))
        for line in executed
        if line.strip().startswith("Buffers:")
    ]
    return max(counts, default=0)


def generic_work_of(statement, *values) -> int:
    """PostgreSQL: work_of() for the plan PostgreSQL's plan cache keeps for
    `statement` on a connection once psycopg has prepared it (after
    DB_PREPARE_THRESHOLD runs): the generic plan, made for no values. The
    statement is run until prepared, then EXPLAIN (ANALYZE, BUFFERS) EXECUTE
    of its prepared name under `plan_cache_mode = force_generic_plan` for
    the rest of the test's transaction; the largest count of any node."""
    import psycopg.sql

    assert connection.vendor == "postgresql"
    sql, params = statement.text(), statement.prepare(values)
    raw = connection.connection  # psycopg's: the values as SQL literals, as it would send them
    numbers = iter(range(1, len(params) + 1))
    as_sent = re.sub(r"%s", lambda _: f"${next(numbers)}", sql).replace("%%", "%")  # as psycopg sends it
    with connection.cursor() as cursor:
        for _ in range(raw.prepare_threshold + 1):
            cursor.execute(sql, params)
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE statement = %s", [as_sent])
        (name,) = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        literals = ", ".join(psycopg.sql.Literal(value).as_string(raw) for value in params)
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE {name}({literals})")
        return buffers_of([row[0] for row in cursor.fetchall()])
