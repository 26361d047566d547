"""Statement counts that differ between the databases."""

from django.db import connection


def create_message_statements() -> int:
    """CreateMessage's statements (convoproject.messaging.ordering.Appender):
    on PostgreSQL one statement (the UPDATE that locks the parent and takes
    the sent_at, the message, its live event); on SQLite the parent's row
    with the newest sent_at, its UPDATE, the message, its live event."""
    return 1 if connection.vendor == "postgresql" else 4
