"""Statement counts that differ between the databases."""

from django.db import connection


def create_message_statements() -> int:
    """CreateMessage's statements (convoproject.messaging.ordering.Appender):
    on PostgreSQL the UPDATE that locks the parent and takes the sent_at, then
    the message with its live event in one statement; on SQLite the parent's
    row with the newest sent_at, its UPDATE, the message, its live event."""
    return 2 if connection.vendor == "postgresql" else 4
