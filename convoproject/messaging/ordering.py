"""The ordering guarantee (CONTRACT 3): within one conversation or chat,
`sent_at` is unique and strictly increases in creation order, also with many
writers on several app servers.

A parent's row (a conversation, a chat) holds the newest sent_at of its
messages, `last_sent_at`. A new message takes
`max(now, last_sent_at + 1 µs, newest sent_at in the index + 1 µs)` and writes
it back to the row, in the message's transaction: writers of one parent take
turns on that row's lock, and none can take the sent_at of another. The
index's newest (the end of the unique (namespace, parent, sent_at) index, one
index entry however long the history, hidden messages too) covers messages
written without the Appender (bulk seeding, the ORM in tests). The unique
index is the safety net. A page paged with `sent_before` then never skips or
repeats.

PostgreSQL: one UPDATE takes the lock and the sent_at (`claim`):
`UPDATE parent SET last_sent_at = GREATEST(now, last_sent_at + 1 µs,
(newest + 1 µs)) ... RETURNING`. An UPDATE that waited for the row's lock
evaluates its SET again on the row as its holder committed it (READ
COMMITTED's re-check), so it always starts from the last writer's
last_sent_at. (A SELECT ... FOR UPDATE with the index's newest in the same
statement would not do: after the wait, its subquery still reads the
statement's snapshot, and misses the message committed meanwhile.) The
index's term is read in that snapshot too, which is why it only covers
messages committed before the statement began. create() runs the claim,
the message's INSERT and its live event's as one statement
(data-modifying CTEs, each reading the one before; the event's JSON
written by PostgreSQL from the inserted row) in autocommit: one round
trip, and the hot row's lock is held for that statement and its commit,
never across a round trip to the app server and back (docs/PERFORMANCE.md,
"A third session"). claimed_parent() and append() remain for callers that
hold a transaction open between the two (and for a check without its SQL).

SQLite, whose writer holds the whole database from BEGIN IMMEDIATE on: one
SELECT reads the row's last_sent_at and the index's newest, Python takes the
max, an UPDATE stores it, then the message and its event are inserted: four
statements, the same rows. The message is drafted before BEGIN (its id, its
instance, its INSERT's parameters: draft()), so that only what needs the
sent_at is done while every other writer waits.
"""

import datetime
import uuid
from typing import NamedTuple

from django.db import connection, models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from convoproject.sql import Insert, Statement, columns_of, fields_of, together

from .pages import parent_stretch, stretch_fields, stretch_values

ONE_MICROSECOND = datetime.timedelta(microseconds=1)


def _after(sent_at: datetime.datetime | None) -> datetime.datetime | None:
    return None if sent_at is None else sent_at + ONE_MICROSECOND


def refresh_last_sent_at(message_model, parents: models.QuerySet) -> int:
    """Set the `last_sent_at` of `parents` (conversations or chats) from the
    end of their messages' unique index, after messages were written without
    an Appender, in bulk (bench's seed and growth data). Not needed for the
    ordering (the Appender reads the index's newest too), but keeps the rows
    right. The number of parents updated."""
    newest = (
        message_model.objects.filter(namespace=OuterRef("namespace"), **{message_model.PARENT: OuterRef("pk")})
        .order_by("-sent_at")
        .values("sent_at")[:1]
    )
    return parents.update(last_sent_at=Subquery(newest))


class Draft(NamedTuple):
    """A message made but for its sent_at (Appender.draft)."""

    message: models.Model
    params: list  # its INSERT's, prepared; sent_at's filled in by Appender.append


class Appender:
    """How messages of `message_model` are appended to their parents
    (`parent_model` rows, with a `last_sent_at`), inside one transaction.
    `lock_columns` are the parent's columns a writer checks (a chat's users).
    `announce` (convoproject.live.publish.message_created) is the live event
    inserted with each message, the lock still held. `author_allowed` is
    the SQL condition on the parent's row that create()'s `check` enforces,
    with the author's id as its one parameter (a chat's members): on
    PostgreSQL the one-statement append claims only a row that passes it."""

    def __init__(
        self,
        message_model,
        parent_model,
        *,
        lock_columns=("id", "namespace"),
        announce=None,
        author_allowed: str | None = None,
    ):
        parent = message_model.PARENT
        messages, parents = message_model._meta.db_table, parent_model._meta.db_table
        self.message_model = message_model
        self.announce = announce
        self.author_allowed = author_allowed
        returned = [*columns_of(parent_model, *lock_columns), *columns_of(parent_model, "last_sent_at")]
        names = ", ".join(name for name, _ in returned)
        namespace_field, parent_field, sent_at = fields_of(message_model, "namespace", parent, "sent_at")
        newest_params = stretch_fields(namespace_field, parent_field, sent_at)
        parent_params = fields_of(parent_model, "namespace", "id")
        where, order = parent_stretch("m", parent, parents=parents)

        def newest(plus=""):
            # The end of the parent's stretch of the unique index, however
            # big the parent (pages.parent_stretch).
            return f"(SELECT m.sent_at{plus} FROM {messages} m WHERE {where} ORDER BY {order} LIMIT 1)"

        # PostgreSQL: the lock and the new sent_at in one statement.
        plus = " + interval '1 microsecond'"
        claim = (
            f"UPDATE {parents} SET last_sent_at = GREATEST(%s, last_sent_at{plus}, {newest(plus)}) "
            "WHERE namespace_id = %s AND id = %s"
        )
        self.claim = Statement(
            f"{claim} RETURNING {names}", params=[sent_at, *newest_params, *parent_params], columns=returned
        )
        # SQLite: the row and the index's newest, then the row's new last_sent_at.
        self.newest_sent_at = Statement(
            f"SELECT {names}, {newest()} AS newest FROM {parents} WHERE namespace_id = %s AND id = %s",
            params=[*newest_params, *parent_params],
            columns=[*returned, ("newest", sent_at)],
        )
        self.set_last_sent_at = Statement(
            f"UPDATE {parents} SET last_sent_at = %s WHERE namespace_id = %s AND id = %s",
            params=[sent_at, *parent_params],
        )
        self.insert = Insert(message_model)
        self._sent_at_index = self.insert.attnames.index("sent_at")
        # PostgreSQL: the message and its live event in one statement.
        self.insert_announced = together(self.insert, announce.insert) if announce is not None else None
        # PostgreSQL: the claim, the message and its event in one statement
        # (append_statement(); made on first use, as the event's JSON is SQL
        # of the database's own).
        self._claim_sql = claim  # self.claim without its RETURNING
        self._append_statement = None

    def append_statement(self) -> Statement:
        """PostgreSQL: claim the parent (if `author_allowed` lets the
        author, its parameter last), insert the message with the claimed
        sent_at and its live event: one statement, data-modifying CTEs, each
        reading the one before, so no row claimed is no message. Parameters:
        claim's, then the message's columns but sent_at (Insert's order),
        then the event's but its data (written from the inserted row).
        Answers the claimed row (`lock_columns`, `last_sent_at`), or none."""
        if self._append_statement is not None:
            return self._append_statement
        names = self.claim.row._fields
        claim_params = list(self.claim.param_fields)
        condition = ""
        if self.author_allowed is not None:
            condition = f" AND {self.author_allowed}"
            claim_params.append(None)  # the author's id, a str
        values, value_params = [], []
        for name, field in zip(self.insert.attnames, self.insert.param_fields, strict=True):
            if name == "sent_at":
                values.append("claimed.last_sent_at")
            else:
                values.append("%s")
                value_params.append(field)
        sql = (
            f"WITH claimed AS ({self._claim_sql}{condition} RETURNING {', '.join(names)}), "
            f"message AS (INSERT INTO {self.message_model._meta.db_table} ({', '.join(self.insert.attnames)}) "
            f"SELECT {', '.join(values)} FROM claimed"
        )
        params = [*claim_params, *value_params]
        if self.announce is not None:
            event_sql, event_params = self.announce.insert_selecting("event_data", "message")
            sql += f" RETURNING {self.announce.data_sql(self.message_model)} AS event_data), event AS ({event_sql})"
            params += event_params
        else:
            sql += ")"
        self._append_statement = Statement(
            f"{sql} SELECT {', '.join(names)} FROM claimed",
            params=params,
            columns=list(zip(names, self.claim.column_fields, strict=True)),
        )
        return self._append_statement

    def claimed_parent(self, namespace_id: int, parent_id: uuid.UUID | None):
        """The parent's row (`lock_columns` and `last_sent_at`, now the next
        message's sent_at), locked until the transaction ends, or None if
        the namespace has no such parent."""
        assert connection.in_atomic_block, "a parent is locked for the rest of a transaction"
        if parent_id is None:
            return None
        now = timezone.now()
        if connection.vendor == "postgresql":
            return self.claim.one(*self._claim_values(now, namespace_id, parent_id))
        row = self.newest_sent_at.one(*stretch_values(namespace_id, parent_id), namespace_id, parent_id)
        if row is None:
            return None
        next_sent_at = max(t for t in (now, _after(row.last_sent_at), _after(row.newest)) if t is not None)
        self.set_last_sent_at.execute(next_sent_at, namespace_id, parent_id)
        return self.claim.row._make([*row[:-2], next_sent_at])

    @staticmethod
    def _claim_values(now, namespace_id: int, parent_id: uuid.UUID) -> list:
        """The claim's parameters (self.claim's; append_statement()'s first)."""
        return [now, *stretch_values(namespace_id, parent_id), namespace_id, parent_id]

    def _message_values(self, parent_key_value, *, namespace_id, author_id, text, sent_at) -> dict:
        return {
            "id": uuid.uuid4(),
            "namespace_id": namespace_id,
            f"{self.message_model.PARENT}_id": parent_key_value,
            "author_id": author_id,
            "text": text,
            "sent_at": sent_at,
            "hidden": False,
            "hidden_at": None,
            "hidden_by_id": None,
            "hidden_reason": "",
        }

    def draft(self, namespace_id: int, parent_id: uuid.UUID, *, author_id: str, text: str) -> Draft:
        """A new message of the parent but its sent_at: its id, its model
        instance and its INSERT's parameters, prepared for the database.
        Made before the parent's lock is taken, so that the lock is held for
        less: on SQLite it is every writer's lock (BEGIN IMMEDIATE), and a
        send waits for as many holds as there are writers before it
        (docs/PERFORMANCE.md). For one append()."""
        values = self._message_values(
            parent_id, namespace_id=namespace_id, author_id=author_id, text=text, sent_at=None
        )
        row = [values[name] for name in self.insert.attnames]
        message = self.message_model.from_db(connection.alias, self.insert.attnames, row)
        return Draft(message, self.insert.prepare(row))

    def append(self, parent, *, author_id: str, text: str, draft: Draft | None = None):
        """A new message (a model instance, as saved) in `parent`, a row from
        claimed_parent() in this transaction, and its live event; `draft`:
        the message as draft() made it for this parent, before the lock."""
        assert connection.in_atomic_block, "the parent's lock must be held until the message is committed"
        if draft is None:
            draft = self.draft(parent.namespace_id, parent.id, author_id=author_id, text=text)
        message, params = draft
        message.sent_at = parent.last_sent_at
        self.insert.prepare_at(params, self._sent_at_index, message.sent_at)
        if self.announce is None:
            self.insert.execute_prepared(params)
            return message
        event = self.announce.values(message)
        if connection.vendor == "postgresql":
            self.insert_announced.execute_prepared([*params, *self.announce.insert.prepare(event)])
        else:
            self.insert.execute_prepared(params)
            self.announce.insert.execute(*event)
        self.announce.inserted()
        return message

    def create(self, namespace_id: int, parent_id: uuid.UUID | None, *, author_id: str, text: str, check=None):
        """Claim the parent's next sent_at (locking it), `check(parent row)`
        (may raise: the transaction, the claim with it, is rolled back),
        append: one transaction. None if the namespace has no such parent.
        On PostgreSQL one statement (append_statement()) when `check` has
        its SQL (`author_allowed`) or there is none; a parent it does not
        claim (missing, or refused) then goes the transactional way, which
        says which."""
        if parent_id is None:
            return None
        if connection.vendor == "postgresql" and (check is None or self.author_allowed is not None):
            message = self._create_in_one_statement(namespace_id, parent_id, author_id=author_id, text=text)
            if message is not None:
                return message
        draft = self.draft(namespace_id, parent_id, author_id=author_id, text=text)
        with transaction.atomic():
            parent = self.claimed_parent(namespace_id, parent_id)
            if parent is None:
                return None
            if check is not None:
                check(parent)
            return self.append(parent, author_id=author_id, text=text, draft=draft)

    def _create_in_one_statement(self, namespace_id: int, parent_id: uuid.UUID, *, author_id: str, text: str):
        params = self._claim_values(timezone.now(), namespace_id, parent_id)
        if self.author_allowed is not None:
            params.append(author_id)
        values = self._message_values(
            parent_id, namespace_id=namespace_id, author_id=author_id, text=text, sent_at=None
        )
        params += [values[name] for name in self.insert.attnames if name != "sent_at"]
        if self.announce is not None:
            params += self.announce.params_of(namespace_id, parent_id)
        claimed = self.append_statement().one(*params)
        if claimed is None:
            return None
        values["sent_at"] = claimed.last_sent_at
        row = [values[name] for name in self.insert.attnames]
        message = self.message_model.from_db(connection.alias, self.insert.attnames, row)
        if self.announce is not None:
            self.announce.inserted()
        return message
