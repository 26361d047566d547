"""A parent's page ends where the parent's messages end in the index it
walks, however few it finds there: an empty conversation or chat, one
whose messages are all hidden, one with fewer messages than the page's
size, a sent_before older than its first message, and the newest sent_at
looked up for a first message (CreateMessage).

Bounded below by `(namespace, parent) >= (ns, id)`, PostgreSQL 15 ended a
backward scan only on the row value's first column: having found too few
of the parent's messages, it went on through every message of the parents
before it in the namespace (an empty conversation after one of 5,000
messages: 32 buffers for an empty page, and as many more as the namespace
has messages). A form that ends the walk below can start it at the end of
the namespace instead, so each parent here has a busy one on both sides
(pages.parent_stretch, docs/PERFORMANCE.md, "the tenth session").
Measured on both databases (tests.support.plans.work_of): a run's buffers
on PostgreSQL, its instructions on SQLite, each a small fraction of what
walking a busy parent costs.
"""

import datetime
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from chats import statements as chat_statements
from chats.models import Chat, members_key_of
from chats.serializers import render_message_rows as render_chat_rows
from convoproject.messaging.pages import each_values, stretch_values
from streams import statements as stream_statements
from streams.models import Conversation
from streams.serializers import render_message_rows
from tests.support import factories
from tests.support.plans import generic_work_of, work_of

BEFORE = 6000  # messages of the parents just before and just after, in the index
# Work of a page that reads nothing of another parent: an index descent and
# its leaf on PostgreSQL, and the parent's namespace read by its primary key
# (CreateMessage's claim: its own lookup of the parent's row too), a few
# buffers; a few hundred instructions on SQLite. Walking the 6,000 messages
# of a parent beside it costs over 30 buffers, tens of thousands of
# instructions.
LIMIT = {"postgresql": 16, "sqlite": 500}

pytestmark = pytest.mark.django_db


def ids_after(count):
    """`count` + 1 ids in index order: the busy parent's first."""
    first = uuid.UUID(int=uuid.uuid4().int & ~(0xFFFF << 64))  # room after it
    return [uuid.UUID(int=first.int + n) for n in range(count + 1)]


@pytest.fixture
def conversations():
    """In index order: a busy conversation (BEFORE messages); an empty one;
    one whose 5 messages are all hidden; one of 5 messages a day after the
    busy ones'; another busy one. A walk that does not end at its
    conversation's stretch meets a busy one whichever way it goes."""
    namespace = factories.ns("stretch")
    busy, empty, hidden, later, busy_after = (
        Conversation.objects.create(id=conversation_id, namespace=namespace, group_id="g", topic="t")
        for conversation_id in ids_after(4)
    )
    for each in (busy, busy_after):
        factories.add(each, BEFORE, step=datetime.timedelta(seconds=1))
    factories.add(hidden, 5, hidden=True)
    factories.add(later, 5, start=factories.BASE + datetime.timedelta(days=1))
    analyze("streams_message")
    return namespace, busy, empty, hidden, later


def analyze(table):
    """Statistics of `table` (SQLite: of every table), as production's would be."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else f"ANALYZE {table}")


def assert_small(statement, *values):
    work = work_of(statement, *values)
    assert work < LIMIT[connection.vendor], (work, statement.text())


def assert_small_as_planned_once(statement, *values):
    """assert_small(), and on PostgreSQL the same for the plan its plan cache
    keeps once the statement is prepared on a connection (the generic one),
    which is what nearly every request runs."""
    assert_small(statement, *values)
    if connection.vendor == "postgresql":
        work = generic_work_of(statement, *values)
        assert work < LIMIT["postgresql"], (work, statement.text())


def assert_claim_small(namespace_id, conversation_id):
    """CreateMessage's lookup of the conversation's newest sent_at: on
    PostgreSQL inside its claim (the row's lock), on SQLite its own SELECT."""
    appender = stream_statements.messages
    if connection.vendor == "postgresql":
        values = (timezone.now(), *stretch_values(namespace_id, conversation_id), namespace_id, conversation_id)
        assert_small_as_planned_once(appender.claim, *values)
    else:
        values = (*stretch_values(namespace_id, conversation_id), namespace_id, conversation_id)
        assert_small(appender.newest_sent_at, *values)


@pytest.mark.parametrize("rendered", [False, True], ids=["shell", "rpc"])
def test_a_page_of_nothing_stops_at_its_conversation(conversations, rendered):
    namespace, busy, empty, hidden, later = conversations
    pages = stream_statements.pages
    statements = pages.for_render(render_message_rows)[0] if rendered else pages.typed
    for conversation in (empty, hidden):
        assert pages.page(namespace.pk, conversation.pk, render=render_message_rows if rendered else None) == []
        assert_small(statements.first, *stretch_values(namespace.pk, conversation.pk), 25)
    assert len(pages.page(namespace.pk, later.pk)) == 5  # a page of fewer than its size
    assert_small(statements.first, *stretch_values(namespace.pk, later.pk), 25)
    older = factories.BASE + datetime.timedelta(hours=1)  # before `later`'s first
    assert pages.page(namespace.pk, later.pk, sent_before=older) == []
    assert_small(statements.before, *stretch_values(namespace.pk, later.pk, older), 25)
    # The busy conversation's own page is still there, from the same statements.
    assert len(pages.page(namespace.pk, busy.pk)) == 25


def test_recent_messages_of_empty_conversations_stop_at_each(conversations):
    namespace, _, empty, hidden, _ = conversations
    pages = stream_statements.pages
    assert pages.first_of_each(namespace.pk, [empty.pk, hidden.pk], limit=25) == []
    statements = pages.typed
    if connection.vendor == "postgresql":
        assert_small_as_planned_once(statements.each_lateral, *each_values(namespace.pk, [empty.pk, hidden.pk]), 25)
    else:
        listed = f'["{empty.pk.hex}", "{hidden.pk.hex}"]'
        assert_small(statements.each_listed, listed, namespace.pk, 25)


def test_the_first_message_of_a_conversation_looks_up_only_its_own_newest(conversations):
    namespace, _, empty, _, _ = conversations
    assert_claim_small(namespace.pk, empty.pk)
    message = stream_statements.messages.create(namespace.pk, empty.pk, author_id="alice", text="first")
    assert message is not None and stream_statements.pages.page(namespace.pk, empty.pk)[0].id == message.id


def test_a_chat_page_of_nothing_stops_at_its_chat():
    namespace = factories.ns("stretch")
    members = [["alice", "bob"], ["alice", "carol"], ["bob", "carol"]]
    busy, empty, busy_after = (
        Chat.objects.create(id=chat_id, namespace=namespace, user_ids=users, members_key=members_key_of(users))
        for chat_id, users in zip(ids_after(2), members, strict=True)
    )
    for each in (busy, busy_after):
        factories.add(each, BEFORE, step=datetime.timedelta(seconds=1))
    analyze("chats_message")
    pages = chat_statements.pages
    assert pages.page(namespace.pk, empty.pk, render=render_chat_rows) == []
    for statements in (pages.typed, pages.for_render(render_chat_rows)[0]):
        assert_small(statements.first, *stretch_values(namespace.pk, empty.pk), 25)


@pytest.mark.parametrize("rendered", [False, True], ids=["shell", "rpc"])
def test_another_namespaces_busy_conversation_is_not_walked(conversations, rendered):
    """A page asked in one namespace for a conversation of another reads
    nothing of it: found through the parent index (parent, sent_at), which
    has no namespace in it, PostgreSQL's generic plan walked every message
    of that conversation, filtering each out by its namespace (200,000
    messages: 4,832 buffers, 32 ms), to answer that there is no such
    conversation; RecentMessages likewise for each such id. Any API key
    holding one busy conversation's id of another namespace could ask that
    again and again. The walk runs only for a parent of the namespace
    (pages.parent_stretch)."""
    _, busy, _, _, _ = conversations
    elsewhere = factories.ns("elsewhere")
    pages = stream_statements.pages
    render = render_message_rows if rendered else None
    statements = pages.for_render(render)[0] if rendered else pages.typed
    assert pages.page(elsewhere.pk, busy.pk, render=render) is None
    assert pages.first_of_each(elsewhere.pk, [busy.pk], limit=25, render=render) == []
    assert_small_as_planned_once(statements.first, *stretch_values(elsewhere.pk, busy.pk), 25)
    later = factories.BASE + datetime.timedelta(days=2)
    assert_small_as_planned_once(statements.before, *stretch_values(elsewhere.pk, busy.pk, later), 25)
    if connection.vendor == "postgresql":
        assert_small_as_planned_once(statements.each_lateral, *each_values(elsewhere.pk, [busy.pk]), 25)
    else:
        assert_small(statements.each_listed, f'["{busy.pk.hex}"]', elsewhere.pk, 25)
    assert stream_statements.messages.create(elsewhere.pk, busy.pk, author_id="mallory", text="hi") is None
    assert_claim_small(elsewhere.pk, busy.pk)


def test_another_namespaces_busy_chat_is_not_walked():
    namespace, elsewhere = factories.ns("stretch"), factories.ns("elsewhere")
    users = ["alice", "bob"]
    busy = Chat.objects.create(namespace=namespace, user_ids=users, members_key=members_key_of(users))
    factories.add(busy, BEFORE, step=datetime.timedelta(seconds=1))
    analyze("chats_message")
    pages = chat_statements.pages
    assert pages.page(elsewhere.pk, busy.pk, render=render_chat_rows) is None
    for statements in (pages.typed, pages.for_render(render_chat_rows)[0]):
        assert_small_as_planned_once(statements.first, *stretch_values(elsewhere.pk, busy.pk), 25)


@pytest.mark.parametrize("app", ["streams", "chats"])
def test_the_parent_index_replaces_the_foreign_keys(app):
    """Migration 0007: the messages' index on their parent is (parent,
    sent_at), which orders a page as the unique index does; the one Django
    made for the foreign key alone is gone (a walk of it could not end a
    short page, and it was one index more for every insert)."""
    table, column = f"{app}_message", "conversation_id" if app == "streams" else "chat_id"
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexes = {name: c["columns"] for name, c in constraints.items() if c["index"] and not c["unique"]}
    assert indexes[f"{app}_message_parent_idx"] == [column, "sent_at"]
    assert [column] not in indexes.values(), indexes
