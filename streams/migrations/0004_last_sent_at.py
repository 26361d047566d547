"""The newest sent_at of each conversation's messages on its row (last_sent_at),
kept by convoproject.messaging.ordering.Appender from here on; filled in here
from the end of the unique (namespace, conversation, sent_at) index."""

from django.db import migrations, models

BACKFILL = """
UPDATE streams_conversation SET last_sent_at = (
    SELECT MAX(m.sent_at) FROM streams_message m
    WHERE m.namespace_id = streams_conversation.namespace_id AND m.conversation_id = streams_conversation.id
)
WHERE EXISTS (
    SELECT 1 FROM streams_message m
    WHERE m.namespace_id = streams_conversation.namespace_id AND m.conversation_id = streams_conversation.id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("streams", "0003_reports"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_sent_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
    ]
