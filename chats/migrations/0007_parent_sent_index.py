"""The message's index on its chat becomes (chat, sent_at)
(convoproject.messaging.models.parent_index), in place of the one Django
made for the foreign key: it serves the cascade's delete by chat as
that one did, and it gives a page's order, so that on PostgreSQL a page's
walk ends at its chat's end whichever index it reads
(convoproject.messaging.pages.parent_stretch, docs/PERFORMANCE.md).

The new index is built first. The old one is dropped by its name (the same
on SQLite and PostgreSQL), the foreign key told it has no index of its own
in the model's state only: changing db_index through AlterField would drop
and re-add the foreign key constraint on PostgreSQL (a scan of every
message to validate it) and copy the whole table on SQLite."""

from django.db import migrations, models

OLD_INDEX = "chats_message_chat_id_f3080004"


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0006_report_parent"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["chat", "sent_at"], name="chats_message_parent_idx"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="chat",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.CASCADE,
                        related_name="messages",
                        to="chats.chat",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {OLD_INDEX}",
                    reverse_sql=f"CREATE INDEX {OLD_INDEX} ON chats_message (chat_id)",
                ),
            ],
        ),
    ]
