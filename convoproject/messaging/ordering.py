"""The ordering guarantee (CONTRACT 3): within one conversation or chat,
`sent_at` is unique and strictly increases in creation order, also with many
writers on several app servers.

A new message locks its parent's row (FOR UPDATE; on SQLite the whole
database from BEGIN IMMEDIATE on), reads the newest sent_at of the parent
from the end of the unique (namespace, parent, sent_at) index, and takes
`max(now, newest + 1 µs)`. Writers of one parent therefore take turns, and
none can read the same newest sent_at as another; the unique index is the
safety net. A page paged with `sent_before` then never skips or repeats.
"""

import datetime
import uuid

from django.db import connection, transaction
from django.utils import timezone

from convoproject.sql import Insert, Statement, columns_of, fields_of

ONE_MICROSECOND = datetime.timedelta(microseconds=1)


class Appender:
    """How messages of `message_model` are appended to their parents
    (`parent_model` rows): its three statements, run inside one transaction.
    `lock_columns` are the parent's columns the writer needs (a chat's users).
    `announce(message)` runs in the transaction after each append, the lock
    still held: it publishes the live event (convoproject.live.publish)."""

    def __init__(self, message_model, parent_model, *, lock_columns=("id", "namespace"), announce=None):
        parent = message_model.PARENT
        messages, parents = message_model._meta.db_table, parent_model._meta.db_table
        self.message_model = message_model
        self.announce = announce
        lock = columns_of(parent_model, *lock_columns)
        self.lock_parent = Statement(
            f"SELECT {', '.join(name for name, _ in lock)} FROM {parents} WHERE namespace_id = %s AND id = %s",
            params=fields_of(parent_model, "namespace", "id"),
            columns=lock,
            for_update=True,
        )
        # The end of the unique (namespace, parent, sent_at) index: one index
        # entry however long the history (hidden messages count too).
        self.newest_sent_at = Statement(
            f"SELECT sent_at FROM {messages} WHERE namespace_id = %s AND {parent}_id = %s "
            "ORDER BY sent_at DESC LIMIT 1",
            params=fields_of(message_model, "namespace", parent),
            columns=columns_of(message_model, "sent_at"),
        )
        self.insert = Insert(message_model)

    def locked_parent(self, namespace_id: int, parent_id: uuid.UUID | None):
        """The parent's row (of `lock_columns`), locked until the transaction
        ends, or None if the namespace has no such parent."""
        assert connection.in_atomic_block, "a parent is locked for the rest of a transaction"
        return None if parent_id is None else self.lock_parent.one(namespace_id, parent_id)

    def next_sent_at(self, namespace_id: int, parent_id: uuid.UUID) -> datetime.datetime:
        """now, or one microsecond after the parent's newest message if the
        clock is not past it. The caller holds the parent's lock."""
        newest = self.newest_sent_at.one(namespace_id, parent_id)
        now = timezone.now()
        return now if newest is None or now > newest.sent_at else newest.sent_at + ONE_MICROSECOND

    def append(self, parent, *, author_id: str, text: str):
        """A new message (a model instance, as saved) in `parent`, a row with
        id and namespace_id whose lock the caller holds."""
        assert connection.in_atomic_block, "the parent's lock must be held until the message is committed"
        message = self.insert.save(
            id=uuid.uuid4(),
            namespace_id=parent.namespace_id,
            **{f"{self.message_model.PARENT}_id": parent.id},
            author_id=author_id,
            text=text,
            sent_at=self.next_sent_at(parent.namespace_id, parent.id),
            hidden=False,
            hidden_at=None,
            hidden_by_id=None,
            hidden_reason="",
        )
        if self.announce is not None:
            self.announce(message)
        return message

    def create(self, namespace_id: int, parent_id: uuid.UUID | None, *, author_id: str, text: str, check=None):
        """Lock the parent, `check(parent row)` (may raise), append: one
        transaction. None if the namespace has no such parent."""
        with transaction.atomic():
            parent = self.locked_parent(namespace_id, parent_id)
            if parent is None:
                return None
            if check is not None:
                check(parent)
            return self.append(parent, author_id=author_id, text=text)
