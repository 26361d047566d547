"""convoproject.prepared: the hot reads, compiled once, answer exactly what
the plain queryset answers, for every shape, argument and thread, and read
the same index."""

import datetime
import threading
import uuid

import pytest
from django.db import connections

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject import messaging
from convoproject.prepared import SENTINELS, PreparedRead
from streams import queries
from streams.models import Conversation, Message
from tests.factories import BASE, MINUTE, add, chat, conversation, ns
from tests.plans import assert_reads_unique_index

COLUMNS = ["id", "author_id", "conversation_id", "text", "sent_at"]


@pytest.fixture
def world(db):
    micro, other = ns("micro"), ns("other")
    convs = [conversation(micro, group_id="g") for _ in range(3)] + [conversation(other, group_id="g")]
    for i, conv in enumerate(convs):
        add(conv, 40 + i, start=BASE + i * datetime.timedelta(seconds=1))
    add(convs[0], 5, start=BASE + 100 * MINUTE, hidden=True, text="hidden {i}")
    return micro, convs


def plain_page(model, namespace, parent_id, sent_before, limit):
    page = messaging.newest_messages(model, namespace, parent_id, sent_before=sent_before, limit=limit)
    return list(page.values_list("id", "author_id", f"{model.PARENT}_id", "text", "sent_at"))


@pytest.mark.parametrize("limit", [1, 7, 25, 1000])
@pytest.mark.parametrize("minutes_before", [None, 0, 10, 39, 1000])
def test_pages_equal_the_plain_queryset(world, limit, minutes_before):
    micro, convs = world
    sent_before = None if minutes_before is None else BASE + minutes_before * MINUTE
    for conv in convs:
        prepared = messaging.page_of(Message, Conversation, micro, conv.id, sent_before=sent_before, limit=limit)
        plain = plain_page(Message, micro, conv.id, sent_before, limit)
        if conv.namespace_id != micro.pk:
            assert prepared is None and plain == []  # another namespace's conversation: not found
            continue
        assert [tuple(row) for row in prepared] == plain
        assert all(isinstance(row.sent_at, datetime.datetime) and row.sent_at.tzinfo for row in prepared)
        assert all(isinstance(row.id, uuid.UUID) for row in prepared)


def test_chat_pages_equal_the_plain_queryset(db):
    micro = ns("micro")
    one = chat(micro)
    add(one, 30)
    for limit, before in [(25, None), (5, BASE + 10 * MINUTE), (1000, BASE)]:
        prepared = messaging.page_of(ChatMessage, Chat, micro, one.id, sent_before=before, limit=limit)
        assert [tuple(row) for row in prepared] == plain_page(ChatMessage, micro, one.id, before, limit)


def test_conversation_reads_equal_the_plain_queryset(world):
    micro, convs = world
    for conv in convs[:3]:
        row = queries.get_conversation(micro, conv.id)
        assert tuple(row) == (conv.id, conv.group_id, conv.topic, conv.created_at)
    with pytest.raises(queries.ConversationNotFound):
        queries.get_conversation(micro, convs[3].id)  # the other namespace's
    listed = queries.list_conversations(micro, "g")
    plain = list(
        Conversation.objects.filter(namespace=micro, group_id="g")
        .order_by("-created_at")
        .values_list("id", "group_id", "topic", "created_at")
    )
    assert [tuple(row) for row in listed] == plain and len(plain) == 3
    assert queries.list_conversations(micro, "no such group") == []


def test_the_page_reads_the_unique_index(world):
    micro, convs = world
    prepared = messaging.prepared_page(Message)
    for shape, before in [((25, False), None), ((25, True), BASE + 10 * MINUTE)]:
        queryset = prepared.build(shape, namespace_id=micro.pk, parent_id=convs[0].id, sent_before=before)
        assert_reads_unique_index(
            queryset, "streams_message_conversation_sent_at_uniq", ["namespace_id", "conversation_id", "sent_at"]
        )


def test_each_thread_compiles_its_own_and_all_agree(transactional_db, world, django_db_blocker):
    """gthread workers run requests in threads, each with its own connection."""
    micro, convs = world
    expected = [tuple(r) for r in messaging.page_of(Message, Conversation, micro, convs[1].id, limit=10)]
    answers, errors = [], []

    def read():
        try:
            with django_db_blocker.unblock():
                for _ in range(3):
                    page = messaging.page_of(Message, Conversation, micro, convs[1].id, limit=10)
                    answers.append([tuple(r) for r in page])
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    if connections["default"].vendor == "sqlite" and connections["default"].is_in_memory_db():
        pytest.skip("an in-memory database is not shared between threads")
    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert answers == [expected] * 12


def test_an_argument_used_twice_is_refused_loudly(db):
    twice = PreparedRead(
        lambda shape, *, group_id: Conversation.objects.filter(group_id=group_id, topic=group_id).values_list("id"),
        ["id"],
        group_id=("str", Conversation._meta.get_field("group_id")),
    )
    with pytest.raises(AssertionError, match="used 2 times"):
        twice.run(None, group_id="g")


def test_sentinels_are_values_no_request_sends():
    assert SENTINELS["int"] < 0  # primary keys are positive
    assert SENTINELS["uuid"].version == 4
    assert "\x01" in SENTINELS["str"]  # ids are printable text
