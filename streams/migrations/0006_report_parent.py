"""Each report's conversation on its row (Report.conversation, a copy of its
message's, which never changes), with the (conversation, created_at, id) index:
one conversation's reports, newest first, are then a walk of that index instead
of a join to the messages along the created_at index of all reports
(docs/PERFORMANCE.md).

The column is added without its foreign key, filled in by one UPDATE (the
same SQL on SQLite and PostgreSQL), then made NOT NULL with the key. The key
comes last because on PostgreSQL it is deferred: an UPDATE of a column it
checks would leave trigger events pending, and ALTER TABLE refuses to run
on a table with pending ones in the same transaction. Added at the end, the
key checks the filled-in rows in one scan. The index is built after the
UPDATE, not kept up by it."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """
UPDATE streams_report SET conversation_id = (
    SELECT m.conversation_id FROM streams_message m WHERE m.id = streams_report.message_id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("streams", "0005_hidden_by_partial_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="conversation",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="streams.conversation",
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
        migrations.AlterField(
            model_name="report",
            name="conversation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="streams.conversation",
            ),
        ),
        migrations.AddIndex(
            model_name="report",
            index=models.Index(fields=["conversation", "-created_at", "-id"], name="streams_report_parent_idx"),
        ),
    ]
