"""A write interrupted in the middle leaves no half-written rows: every write
that takes more than one statement runs in one transaction, so when a later
statement fails (the connection breaks, the database refuses) the earlier ones
are rolled back with it, and the client gets an envelope (503 for a database
that does not answer, 500 for anything else), never a half-done change.

Each test lets the first statements of a write through and makes a later one
fail (connection.execute_wrapper, on both databases), then checks that the
database is exactly as before, and that the same write goes through when
nothing fails. The tests run in real transactions (transaction=True), as in
production, not in the savepoints of a test transaction.

The same on a real PostgreSQL with a gunicorn worker SIGKILLed mid-write:
tests/test_faults.py.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection
from django.test import Client

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.live.models import Event
from convoproject.moderation import services as moderation
from convoproject.moderation.models import ModerationEvent
from convoproject.rpc.models import IdempotentResponse
from convoproject.tenants.keys import create_api_key
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage
from tests.support.factories import BASE, MINUTE, add, chat, conversation, ns
from tests.support.rpc import Rpc, assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)

DATA = [Namespace, ApiKey, Conversation, StreamMessage, Chat, ChatMessage, IdempotentResponse, ModerationEvent, Event]
# A write as the ORM ("streams_message") or a statement (streams_message) names its
# table; a statement may hold several (WITH ... AS (INSERT ...) INSERT ...), and
# neither ON CONFLICT DO UPDATE nor FOR UPDATE is one.
WRITE = re.compile(r'(?<!DO )(?<!FOR )(INSERT INTO|UPDATE|DELETE FROM) "?([^"\s(]+)"?')


def snapshot():
    """Every row of every table a write may touch."""
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in DATA}


class FailAt:
    """An execute wrapper: statements run until the first one that starts with
    `prefix` (e.g. 'DELETE FROM "streams_conversation"'), which raises `error`
    instead of running."""

    def __init__(self, prefix, error=OperationalError):
        self.prefix, self.error = prefix.upper(), error
        self.ran, self.failed = [], False

    def __call__(self, execute, sql, params, many, context):
        statement = " ".join(sql.split()).upper()
        if not self.failed and statement.replace('"', "").startswith(self.prefix.replace('"', "")):
            self.failed = True
            raise self.error("simulated: the database went away here")
        self.ran.append(statement)
        return execute(sql, params, many, context)

    def writes_before(self):
        """The writes that ran before the failure, as 'INSERT INTO "TABLE"'."""
        return [f'{match[1]} "{match[2]}"' for statement in self.ran for match in WRITE.finditer(statement)]


@pytest.fixture
def api():
    return Rpc(Client(raise_request_exception=False), key=create_api_key("micro")[1])


ERRORS = [
    pytest.param(OperationalError, 503, "SERVICE_UNAVAILABLE", id="database-unavailable"),
    pytest.param(DatabaseError, 500, "INTERNAL_SERVER_ERROR", id="other-database-error"),
]


def interrupted(api, rpc, body, fail_at, error, code, error_id, headers=None):
    """Send the RPC with `fail_at` failing; assert the envelope and that
    nothing changed; the statements written before the failure."""
    before = snapshot()
    failure = FailAt(fail_at, error)
    with connection.execute_wrapper(failure):
        response = api.post(rpc, body, headers=headers)
    assert failure.failed, f"{rpc} never ran {fail_at}"
    assert_envelope(response, code, error_id)
    assert snapshot() == before, "a half-written change was left behind"
    return failure.writes_before()


# ------------------------------------------------------------------ the RPCs


@pytest.mark.parametrize(("error", "code", "error_id"), ERRORS)
def test_delete_conversation_interrupted_after_deleting_its_messages(api, error, code, error_id):
    parent = api.conversation()
    for text in ("one", "two", "three"):
        api.message(parent["id"], text)
    body = {"id": parent["id"]}
    fail_at = 'DELETE FROM "streams_conversation"'
    written = interrupted(api, "Streams/DeleteConversation", body, fail_at, error, code, error_id)
    # The live event first, the messages' reports and queue items before the messages.
    assert written == ['INSERT INTO "LIVE_EVENT"', *reports_of("streams"), 'DELETE FROM "STREAMS_MESSAGE"']
    api.ok("Streams/DeleteConversation", body)
    assert not Conversation.objects.exists() and not StreamMessage.objects.exists()


# The create RPCs with an Idempotency-Key: the key's row, then the new row, then
# the answer stored in the key's row (the last statement, made to fail here).
CREATES = [
    pytest.param(
        "Streams/CreateConversation",
        lambda api: {"group_id": "g", "topic": "t"},
        Conversation,
        id="Streams/CreateConversation",
    ),
    pytest.param(
        "Streams/CreateMessage",
        lambda api: {"conversation_id": api.conversation()["id"], "author_id": "alice", "text": "x"},
        StreamMessage,
        id="Streams/CreateMessage",
    ),
    pytest.param("Chats/CreateChat", lambda api: {"user_ids": ["alice", "bob"]}, Chat, id="Chats/CreateChat"),
    pytest.param(
        "Chats/CreateMessage",
        lambda api: {"chat_id": api.chat(["alice", "bob"])["id"], "author_id": "alice", "text": "x"},
        ChatMessage,
        id="Chats/CreateMessage",
    ),
]


@pytest.mark.parametrize(("error", "code", "error_id"), ERRORS)
@pytest.mark.parametrize(("rpc", "make_body", "model"), CREATES)
def test_a_create_interrupted_before_its_answer_is_stored(api, rpc, make_body, model, error, code, error_id):
    body = make_body(api)
    created_before = model.objects.count()
    headers = {"Idempotency-Key": "k-1"}
    answers = IdempotentResponse._meta.db_table
    fail_at = f'UPDATE "{answers}"'
    written = interrupted(api, rpc, body, fail_at, error, code, error_id, headers=headers)
    expected = [f'INSERT INTO "{answers.upper()}"', f'INSERT INTO "{model._meta.db_table.upper()}"']
    if model in (StreamMessage, ChatMessage):
        # The parent's last_sent_at first (convoproject.messaging.ordering), the live event after.
        parents = model._meta.get_field(model.PARENT).related_model._meta.db_table.upper()
        expected = [expected[0], f'UPDATE "{parents}"', expected[1], 'INSERT INTO "LIVE_EVENT"']
    assert written == expected
    # Nothing was remembered: the client's retry with the same key does the work, once.
    first = api.ok(rpc, body, headers=headers)
    assert api.ok(rpc, body, headers=headers) == first
    assert model.objects.count() == created_before + 1


# ------------------------------------------------------ the moderation actions


@pytest.fixture
def moderator():
    return get_user_model().objects.create_user("mod", is_staff=True)


def filled():
    """A conversation and a chat with messages of alice and of a spammer."""
    namespace = ns()
    parent, room = conversation(namespace), chat(namespace)
    for where in (parent, room):
        add(where, 3)
        add(where, 2, author="spammer", text="buy {i}", start=BASE + 10 * MINUTE)
    return namespace, parent, room


EVENT = 'INSERT INTO "moderation_moderationevent"'
EVENTS = 'INSERT INTO "LIVE_EVENT"'  # the live events (message_removed, conversation_deleted), before the change


def action(name, targets, writes, fail_at=EVENT, case=None, keywords=dict, **options):
    """A case of the test below: moderation.<name>(*targets(), **keywords(),
    actor=…, reason="r", **options), failing at `fail_at` after `writes`.
    `targets` and `keywords` run when the test does (they read the rows made then)."""

    def act(actor):
        return getattr(moderation, name)(*targets(), **keywords(), actor=actor, reason="r", **options)

    return pytest.param(act, fail_at, writes, id=f"{name}-{case}" if case else name)


def reports_of(app):
    """The DELETEs of a message delete's reports and review queue items, which come first."""
    return [f'DELETE FROM "{app.upper()}_REPORT"', f'DELETE FROM "{app.upper()}_REPORTEDMESSAGE"']


ACTIONS = [
    action("hide_messages", lambda: [StreamMessage.objects.all()], [EVENTS, 'UPDATE "STREAMS_MESSAGE"']),
    action(
        "delete_messages",
        lambda: [ChatMessage.objects.all()],
        [EVENTS, *reports_of("chats"), 'DELETE FROM "CHATS_MESSAGE"'],
    ),
    action(
        "clean_up_author",
        lambda: [StreamMessage],
        [EVENTS, *reports_of("streams"), 'DELETE FROM "STREAMS_MESSAGE"'],
        keywords=lambda: {"namespace": ns(), "author_id": "spammer"},
        delete=True,
    ),
    action(
        "delete_with_messages",
        lambda: [Conversation.objects.get()],
        [EVENTS, *reports_of("streams"), 'DELETE FROM "STREAMS_MESSAGE"', 'DELETE FROM "STREAMS_CONVERSATION"'],
        case="conversation",
    ),
    action(
        "delete_with_messages",
        lambda: [Chat.objects.get()],
        [EVENTS, *reports_of("chats"), 'DELETE FROM "CHATS_MESSAGE"'],
        fail_at='DELETE FROM "chats_chat"',
        case="chat",
    ),
    action("revoke_key", lambda: [ApiKey.objects.get()], ['UPDATE "TENANTS_APIKEY"']),
]


@pytest.mark.parametrize(("action", "fail_at", "writes"), ACTIONS)
def test_a_moderation_action_interrupted_before_its_last_statement(moderator, action, fail_at, writes):
    filled()
    create_api_key("micro")
    before = snapshot()
    failure = FailAt(fail_at)
    with connection.execute_wrapper(failure), pytest.raises(OperationalError):
        action(moderator)
    assert failure.writes_before() == writes
    assert snapshot() == before, "a half-written change was left behind"
    # Without the failure it goes through, with its one audit entry.
    action(moderator)
    assert snapshot() != before
    assert ModerationEvent.objects.count() == 1
