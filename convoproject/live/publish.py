"""How a change becomes an event: written to the log in the change's own
transaction, with the conversation's or chat's row locked (see models.py for
why the lock), so that it is delivered exactly when the change is committed.

On PostgreSQL the log's insert trigger wakes every app server (NOTIFY at
commit). On SQLite, where there is no NOTIFY, a commit wakes this process's
streams at once and other processes' streams find it within their polling
interval (convoproject.live.hub)."""

import json
from collections.abc import Iterable

from django.db import connection, models, transaction
from django.utils import timezone

from convoproject.sql import Statement, fields_of

from . import channels, hub
from .models import Event

Type = Event.Type
BATCH = 1000

# An event's columns, in the order of both INSERTs below (insert_event's and
# MessageCreated.insert_selecting's).
_INSERT_EVENT = f"INSERT INTO {Event._meta.db_table} (namespace_id, stream_id, type, data, created_at)"

insert_event = Statement(
    f"{_INSERT_EVENT} VALUES (%s, %s, %s, %s, %s)",
    params=fields_of(Event, "namespace", "stream_id", "type", "data", "created_at"),
)


def as_data(value: dict) -> str:
    """The one-line JSON of an event's `data:` (JSON escapes every line break)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _woken_on_commit():
    if connection.vendor == "sqlite":
        transaction.on_commit(hub.poke)


def publish(namespace_id: int, stream_id, type: str, data: dict) -> None:
    """One event of a conversation or chat whose row the caller has locked."""
    assert connection.in_atomic_block, "an event is committed with its change"
    insert_event.execute(namespace_id, stream_id, type, as_data(data), timezone.now())
    _woken_on_commit()


def publish_many(events: Iterable[Event]) -> int:
    """Events (unsaved), in batches; their streams' rows locked by the caller."""
    assert connection.in_atomic_block, "events are committed with their change"
    count, batch = 0, []
    for event in events:
        batch.append(event)
        if len(batch) == BATCH:
            count += len(Event.objects.bulk_create(batch))
            batch = []
    if batch:
        count += len(Event.objects.bulk_create(batch))
    if count:
        _woken_on_commit()
    return count


# ---------------------------------------------------------------- the changes


class MessageCreated:
    """The `message` event of a new message. convoproject.messaging.ordering.
    Appender inserts it itself, in the message's transaction with the parent
    locked: `insert` with `values(message)`, then `inserted()`. On
    PostgreSQL in the same statement as the message, which writes the
    event's data from the inserted row: `data_sql`, `insert_selecting` with
    `params_of`."""

    insert = insert_event
    _selected_params = fields_of(Event, "namespace", "stream_id", "type", "created_at")

    @staticmethod
    def values(message: models.Model) -> list:
        """The parameters of `insert` for the event of `message` (as saved)."""
        channel = channels.of(type(message))
        data = as_data({"message": channel.render_message(message)})
        return [message.namespace_id, getattr(message, channel.parent_key), Type.MESSAGE, data, timezone.now()]

    @staticmethod
    def data_sql(message_model: type[models.Model]) -> str:
        """PostgreSQL: the SQL of `values(message)`'s data, from the message's
        columns: the same text, as the JSON of a page row is the RPC's
        (convoproject.rpc.render.RowsRenderer.json_sql; tests/test_ordering.py)."""
        return "'{\"message\":' || " + channels.of(message_model).message_rows.json_sql() + " || '}'"

    @classmethod
    def insert_selecting(cls, column: str, source: str) -> tuple[str, list]:
        """PostgreSQL: the INSERT of the event whose data is `column` of
        `source` (a CTE's name), and its parameters' fields: params_of()'s."""
        return f"{_INSERT_EVENT} SELECT %s, %s, %s, {column}, %s FROM {source}", list(cls._selected_params)

    @staticmethod
    def params_of(namespace_id: int, stream_id) -> list:
        return [namespace_id, stream_id, Type.MESSAGE, timezone.now()]

    @staticmethod
    def inserted() -> None:
        _woken_on_commit()


message_created = MessageCreated()


def lock_parents(messages: models.QuerySet) -> None:
    """Lock the conversations or chats of a message queryset, in id order (no
    deadlock between two such locks), before their messages are changed."""
    channel = channels.of(messages.model)
    parent_ids = messages.order_by().values(channel.parent_key)
    list(channel.parent_model.objects.select_for_update().filter(pk__in=parent_ids).order_by("pk").values_list("pk"))


def messages_removed(messages: models.QuerySet) -> int:
    """`message_removed` for each message of the queryset (about to be hidden
    or deleted); lock_parents() first."""
    channel = channels.of(messages.model)
    now = timezone.now()
    rows = messages.order_by(channel.parent_key, "sent_at").values_list("pk", "namespace_id", channel.parent_key)
    return publish_many(
        Event(
            namespace_id=namespace_id,
            stream_id=parent_id,
            type=Type.MESSAGE_REMOVED,
            data=as_data({"id": str(pk), channel.parent_key: str(parent_id)}),
            created_at=now,
        )
        for pk, namespace_id, parent_id in rows.iterator(chunk_size=BATCH)
    )


def messages_restored(messages: models.QuerySet) -> int:
    """`message` again for each message of the queryset (being unhidden);
    lock_parents() first."""
    channel = channels.of(messages.model)
    now = timezone.now()
    return publish_many(
        Event(
            namespace_id=message.namespace_id,
            stream_id=getattr(message, channel.parent_key),
            type=Type.MESSAGE,
            data=as_data({"message": channel.render_message(message)}),
            created_at=now,
        )
        for message in messages.order_by(channel.parent_key, "sent_at").iterator(chunk_size=BATCH)
    )


def parent_deleted(parent: models.Model) -> None:
    """`conversation_deleted` / `chat_deleted` of a locked conversation or chat about to be deleted."""
    channel = channels.of(type(parent))
    publish(parent.namespace_id, parent.pk, channel.deleted_type, {"id": str(parent.pk)})
