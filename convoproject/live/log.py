"""Reads of the event log, each statement once. Run in the hub's database
threads (convoproject.live.hub), never on the event loop."""

import uuid
from functools import lru_cache

from django.db import connection

from convoproject.sql import Statement, columns_of, fields_of

from .models import Event

EVENTS = Event._meta.db_table
PAGE = 1000
EVENT_COLUMNS = columns_of(Event, "id", "stream_id", "type", "data")


@lru_cache(maxsize=128)
def _after(streams: int) -> Statement:
    """The events after a position in each of `streams` conversations or
    chats, in id order (per conversation or chat, commit order), from the
    (stream_id, id) index."""
    one = "(stream_id = %s AND id > %s)"
    return Statement(
        f"SELECT id, stream_id, type, data FROM {EVENTS} WHERE {' OR '.join([one] * streams)} ORDER BY id LIMIT {PAGE}",
        params=fields_of(Event, "stream_id", "id") * streams,
        columns=EVENT_COLUMNS,
    )


def events_after(positions: dict[uuid.UUID, int]) -> list:
    """Every event after `positions` (stream id -> last event id seen), in id
    order, as rows (id, stream_id, type, data); page by page."""
    positions = dict(positions)
    found = []
    while positions:
        items = list(positions.items())[:100]
        rows = _after(len(items)).rows(*[value for item in items for value in item])
        found.extend(rows)
        for row in rows:
            positions[row.stream_id] = row.id
        if len(rows) < PAGE:
            for stream_id, _ in items:
                del positions[stream_id]
    found.sort(key=lambda row: row.id)
    return found


@lru_cache(maxsize=128)
def _newest(streams: int) -> Statement:
    return Statement(
        f"SELECT stream_id, MAX(id) FROM {EVENTS} WHERE stream_id IN ({', '.join(['%s'] * streams)}) "
        "GROUP BY stream_id",
        params=fields_of(Event, "stream_id") * streams,
        columns=[*columns_of(Event, "stream_id"), ("newest", None)],
    )


def newest_ids(stream_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The id of the newest committed event of each stream (0 if none)."""
    newest = dict.fromkeys(stream_ids, 0)
    for start in range(0, len(stream_ids), 100):
        chunk = stream_ids[start : start + 100]
        newest.update((row.stream_id, row.newest) for row in _newest(len(chunk)).rows(*chunk))
    return newest


newest_event = Statement(f"SELECT MAX(id) FROM {EVENTS}")
streams_changed = Statement(
    f"SELECT DISTINCT stream_id FROM {EVENTS} WHERE id > %s AND id <= %s",
    columns=columns_of(Event, "stream_id"),
    params=[None, None],
)


def newest_id() -> int:
    return newest_event.one()[0] or 0


def changes_since(after: int) -> tuple[int, set[uuid.UUID]]:
    """(the newest event id, the streams with events after `after`). Only
    where ids are given in commit order: SQLite, one writer at a time."""
    assert connection.vendor == "sqlite"
    newest = newest_id()
    if newest <= after:
        return after, set()
    return newest, {row.stream_id for row in streams_changed.rows(after, newest)}


def has_deletion(namespace_id: int, stream_id: uuid.UUID, deleted_type: str) -> bool:
    return Event.objects.filter(namespace_id=namespace_id, stream_id=stream_id, type=deleted_type).exists()


def revoked_keys(key_ids: list[int]) -> set[int]:
    """Which of these API keys are revoked now."""
    from convoproject.tenants.models import ApiKey

    return set(ApiKey.objects.filter(pk__in=key_ids, revoked_at__isnull=False).values_list("pk", flat=True))
