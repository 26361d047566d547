"""A trigram index for admin's text search, on PostgreSQL only: admin's
`text__icontains` is `UPPER(text) LIKE UPPER('%term%')`, which no b-tree can
serve; pg_trgm's GIN index on UPPER(text) can. SQLite has no such index and
scans, which is fine at the sizes SQLite is meant for.

Django writes the condition as `UPPER("streams_message"."text"::text) LIKE
UPPER(%s)`; the `::text` cast of a text column is a no-op, so the index
expression matches. Checked with EXPLAIN on a million messages (see
docs/MODERATION_SCALE.md): `Bitmap Index Scan on streams_message_text_trgm
Index Cond: (upper(text) ~~ '%NARWHAL%'::text)`, 106 rows in 0.1 ms."""

from django.db import migrations


def text_search_index(table):
    index = f"{table}_text_trgm"

    def create(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin (UPPER(text) gin_trgm_ops)")

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {index}")

    return migrations.RunPython(create, drop, elidable=False)
