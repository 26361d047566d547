"""The newest sent_at of each chat's messages on its row (last_sent_at),
kept by convoproject.messaging.ordering.Appender from here on; filled in here
from the end of the unique (namespace, chat, sent_at) index."""

from django.db import migrations, models

BACKFILL = """
UPDATE chats_chat SET last_sent_at = (
    SELECT MAX(m.sent_at) FROM chats_message m
    WHERE m.namespace_id = chats_chat.namespace_id AND m.chat_id = chats_chat.id
)
WHERE EXISTS (
    SELECT 1 FROM chats_message m
    WHERE m.namespace_id = chats_chat.namespace_id AND m.chat_id = chats_chat.id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0003_reports"),
    ]

    operations = [
        migrations.AddField(
            model_name="chat",
            name="last_sent_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
    ]
