"""The parent's `last_sent_at` (convoproject.messaging.ordering.Appender), on
both databases and for both services: what it holds, what a new message's
sent_at is taken from (the clock, last_sent_at, the newest message in the
index), and what a refused or impossible message leaves behind (nothing).
Concurrent writers: tests/test_concurrency.py."""

import datetime
import importlib
import threading
import time
import uuid

import pytest
from django.db import connection, connections, transaction
from django.db.models import Max
from django.utils import timezone

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.live import publish
from convoproject.live.models import Event
from convoproject.messaging import ordering
from convoproject.moderation import services as moderation
from streams import statements as stream_statements
from streams.models import Conversation, Message
from tests.support import factories
from tests.test_wire import AWKWARD_TEXTS

pytestmark = pytest.mark.django_db

US = datetime.timedelta(microseconds=1)
HOUR = datetime.timedelta(hours=1)


def parse(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


class Streams:
    message_model, parent_model, create = Message, Conversation, "Streams/CreateMessage"

    def __init__(self, api):
        self.api = api

    def parent(self):
        return self.api.conversation()["id"]

    def body(self, parent_id, author_id="alice", text="x"):
        return {"conversation_id": parent_id, "author_id": author_id, "text": text}


class Chats(Streams):
    message_model, parent_model, create = ChatMessage, Chat, "Chats/CreateMessage"

    def parent(self):
        return self.api.chat(["alice", "bob"])["id"]

    def body(self, parent_id, author_id="alice", text="x"):
        return {"chat_id": parent_id, "author_id": author_id, "text": text}


@pytest.fixture(params=[Streams, Chats], ids=["streams", "chats"])
def svc(request, api):
    return request.param(api)


def send(svc, parent_id, **body):
    """The new message's sent_at."""
    return parse(svc.api.ok(svc.create, svc.body(parent_id, **body))["message"]["sent_at"])


def last_sent_at(svc, parent_id):
    return svc.parent_model.objects.get(pk=parent_id).last_sent_at


def newest(svc, parent_id):
    return svc.message_model.objects.filter(**{f"{svc.message_model.PARENT}_id": parent_id}).aggregate(
        newest=Max("sent_at")
    )["newest"]


@pytest.fixture
def clock(monkeypatch):
    """The Appender's clock: real until set(), then frozen at the given time."""

    class Clock:
        frozen = None

        def now(self):
            return self.frozen or timezone.now()

        def set(self, when):
            self.frozen = when

    clock = Clock()
    monkeypatch.setattr(ordering, "timezone", clock)
    return clock


def written():
    """What a refused message must not change."""
    return (Message.objects.count(), ChatMessage.objects.count(), Event.objects.count())


def test_last_sent_at_is_the_newest_message(svc):
    parent_id = svc.parent()
    assert last_sent_at(svc, parent_id) is None
    sent = [send(svc, parent_id, text=str(i)) for i in range(3)]
    assert sent == sorted(set(sent))
    assert last_sent_at(svc, parent_id) == sent[-1] == newest(svc, parent_id)


def test_a_clock_going_backwards_still_increases(svc, clock):
    parent_id = svc.parent()
    first = send(svc, parent_id)
    clock.set(first - HOUR)
    assert [send(svc, parent_id) for _ in range(3)] == [first + US, first + 2 * US, first + 3 * US]
    assert last_sent_at(svc, parent_id) == first + 3 * US
    clock.set(first + HOUR)  # the clock is past it again: now
    assert send(svc, parent_id) == first + HOUR


def test_messages_written_without_the_appender_are_covered(svc):
    """Bulk or ORM writes leave last_sent_at behind; the index's newest covers them."""
    parent_id = svc.parent()
    first = send(svc, parent_id)
    parent = svc.parent_model.objects.get(pk=parent_id)
    later = first + HOUR
    factories.add(parent, 3, start=later, step=US)
    assert last_sent_at(svc, parent_id) == first
    assert send(svc, parent_id) == later + 3 * US
    assert last_sent_at(svc, parent_id) == later + 3 * US


def test_a_stale_last_sent_at_is_not_taken_back(svc, clock):
    """last_sent_at ahead of every message (the newest was deleted): the next
    message still comes after it, never at an instant already handed out."""
    parent_id = svc.parent()
    first, second = send(svc, parent_id), send(svc, parent_id)
    moderation.delete_messages(
        svc.message_model.objects.filter(sent_at=second), actor=None, reason="spam, deleted for the test"
    )
    clock.set(first)
    assert newest(svc, parent_id) == first
    assert send(svc, parent_id) == second + US


def test_a_hidden_newest_message_keeps_its_instant(svc, clock):
    parent_id = svc.parent()
    first = send(svc, parent_id)
    moderation.hide_messages(svc.message_model.objects.filter(sent_at=first), actor=None, reason="hidden for the test")
    clock.set(first - HOUR)
    assert send(svc, parent_id) == first + US


def test_a_missing_parent_writes_nothing(svc):
    svc.parent()
    before = written()
    svc.api.err(svc.create, svc.body(str(uuid.uuid4())), 404, "NOT_FOUND")
    assert written() == before


def test_a_deleted_conversation_takes_no_message(api):
    svc = Streams(api)
    parent_id = svc.parent()
    send(svc, parent_id)
    api.ok("Streams/DeleteConversation", {"id": parent_id})
    before = written()
    api.err(svc.create, svc.body(parent_id), 404, "NOT_FOUND")
    assert written() == before
    assert not Conversation.objects.filter(pk=parent_id).exists()


def test_a_non_member_writes_nothing(api):
    svc = Chats(api)
    parent_id = svc.parent()
    sent = send(svc, parent_id)
    before = written()
    api.err(svc.create, svc.body(parent_id, author_id="mallory"), 403, "NOT_A_MEMBER")
    assert written() == before
    assert last_sent_at(svc, parent_id) == sent  # the claim was rolled back with the rest
    assert send(svc, parent_id, author_id="bob") > sent


@pytest.mark.parametrize("text", ["x", *AWKWARD_TEXTS], ids=["plain", "controls", "separators", "html", "astral"])
def test_the_live_event_is_the_answer(svc, text):
    # On PostgreSQL the database writes the event's JSON (publish.data_sql):
    # the same text as Python's, escape for escape.
    parent_id = svc.parent()
    answer = svc.api.ok(svc.create, svc.body(parent_id, text=text))
    data = Event.objects.filter(stream_id=parent_id).values_list("data", flat=True).get()
    assert data == publish.as_data(answer)
    assert answer["message"]["text"] == text


@pytest.mark.django_db(transaction=True)
def test_a_message_is_appended_by_one_statement_outside_a_transaction_on_postgresql(svc):
    """On PostgreSQL the claim, the message and its event are one statement
    in autocommit, so the parent's lock is never held across a round trip
    to the app server; SQLite's writer holds the database in a transaction."""
    parent_id = svc.parent()
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql.split()[0], connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        send(svc, parent_id)
    writes = [(verb, atomic) for verb, atomic in seen if verb in {"WITH", "UPDATE", "INSERT"}]
    if connection.vendor == "postgresql":
        assert writes == [("WITH", False)]
    else:
        assert writes == [("UPDATE", True), ("INSERT", True), ("INSERT", True)]


@pytest.mark.parametrize("app", ["streams", "chats"])
def test_the_migration_fills_last_sent_at_in(app):
    namespace = factories.ns()
    if app == "streams":
        parents = [factories.conversation(namespace, topic=str(i)) for i in range(3)]
    else:
        parents = [factories.chat(namespace, user_ids=("alice", f"user{i}")) for i in range(3)]
    factories.add(parents[0], 5)
    factories.add(parents[1], 2, start=factories.BASE + HOUR)
    model = type(parents[0])
    model.objects.update(last_sent_at=None)
    migration = importlib.import_module(f"{app}.migrations.0004_last_sent_at")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert [model.objects.get(pk=p.pk).last_sent_at for p in parents] == [
        factories.BASE + 4 * factories.MINUTE,
        factories.BASE + HOUR + factories.MINUTE,
        None,
    ]


def test_refresh_last_sent_at_after_a_bulk_write():
    namespace = factories.ns()
    conversation, other = factories.conversation(namespace), factories.conversation(namespace, topic="other")
    factories.add(conversation, 4)
    assert ordering.refresh_last_sent_at(Message, Conversation.objects.filter(namespace=namespace)) == 2
    conversation.refresh_from_db()
    other.refresh_from_db()
    assert (conversation.last_sent_at, other.last_sent_at) == (factories.BASE + 3 * factories.MINUTE, None)


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_waited_for_the_lock_comes_after_its_holder(monkeypatch):
    """The case READ COMMITTED gets wrong if the newest sent_at were read in
    the locking statement's snapshot: the second writer's statement starts
    while the first holds the lock, waits, and must still see the first's
    message. Both at one frozen instant: only last_sent_at tells them apart."""
    if connection.vendor == "sqlite":
        assert not connection.is_in_memory_db()  # threads share the test database file
    now = timezone.now()
    monkeypatch.setattr(ordering, "timezone", type("Frozen", (), {"now": staticmethod(lambda: now)}))
    namespace = factories.ns()
    conversation = factories.conversation(namespace)
    appender = stream_statements.messages
    claimed, release, results, errors = threading.Event(), threading.Event(), {}, []

    def holder():
        try:
            with transaction.atomic():
                parent = appender.claimed_parent(namespace.pk, conversation.pk)
                results["holder"] = appender.append(parent, author_id="a", text="first").sent_at
                claimed.set()
                release.wait(10)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
            claimed.set()
        finally:
            connections.close_all()

    def waiter():
        try:
            message = appender.create(namespace.pk, conversation.pk, author_id="b", text="second")
            results["waiter"] = message.sent_at
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    first = threading.Thread(target=holder)
    first.start()
    assert claimed.wait(10)
    second = threading.Thread(target=waiter)
    second.start()
    time.sleep(0.3)  # the waiter has begun and waits for the lock
    assert "waiter" not in results
    release.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert results == {"holder": now, "waiter": now + US}
    conversation.refresh_from_db()
    assert conversation.last_sent_at == now + US


def test_a_draft_takes_its_sent_at_from_its_claim_not_from_when_it_was_made(svc, django_assert_num_queries):
    """Appender.draft() makes a message but for its sent_at before the
    parent's lock is taken (no SQL: on SQLite the lock is every writer's);
    append() fills the sent_at in from the claim. Two drafts made in one
    order and appended in the other take their sent_at in the order of
    their claims, and each is stored and announced as it was drafted."""
    parent_id = uuid.UUID(svc.parent())
    namespace_id = svc.parent_model.objects.get(pk=parent_id).namespace_id
    appender = importlib.import_module(f"{svc.message_model._meta.app_label}.statements").messages
    with django_assert_num_queries(0):
        first = appender.draft(namespace_id, parent_id, author_id="alice", text="drafted first")
        second = appender.draft(namespace_id, parent_id, author_id="alice", text="drafted second")
    appended = []
    for draft in (second, first):
        with transaction.atomic():
            parent = appender.claimed_parent(namespace_id, parent_id)
            appended.append(appender.append(parent, author_id="alice", text=draft.message.text, draft=draft))
    assert [message.pk for message in appended] == [second.message.pk, first.message.pk]
    assert appended[0].sent_at < appended[1].sent_at
    stored = svc.message_model.objects.filter(pk__in=[m.pk for m in appended]).order_by("sent_at")
    assert [(m.pk, m.text, m.sent_at) for m in stored] == [(m.pk, m.text, m.sent_at) for m in appended]
    events = Event.objects.filter(stream_id=parent_id).order_by("id").values_list("data", flat=True)
    channel_render = publish.channels.of(svc.message_model).render_message
    assert list(events) == [publish.as_data({"message": channel_render(m)}) for m in appended]
    assert last_sent_at(svc, parent_id) == appended[1].sent_at
