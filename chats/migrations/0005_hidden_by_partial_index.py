"""The message table's index on hidden_by only where it is set: Django's
index of the foreign key took an entry for every message inserted, all NULL
but the hidden ones. Written by hand so that SQLite drops one index instead of
copying the table (what AlterField does there)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FOREIGN_KEY_INDEX = "chats_message_hidden_by_id_468dcd98"  # the name Django gave it in 0002


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0004_last_sent_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="hidden_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX "{FOREIGN_KEY_INDEX}"',
                    reverse_sql=f'CREATE INDEX "{FOREIGN_KEY_INDEX}" ON "chats_message" ("hidden_by_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("hidden_by__isnull", False)),
                fields=["hidden_by"],
                name="chats_message_hidden_by_idx",
            ),
        ),
    ]
