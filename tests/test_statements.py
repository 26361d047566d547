"""The hot statements (convoproject.sql, streams/statements.py,
chats/statements.py) answer exactly what the ORM answers for the same
question, with the same Python values, for every shape, argument and thread;
and the writes leave rows the ORM reads back as the instances they return."""

import datetime
import threading
import uuid

import pytest
from django.db import connections

from chats import services as chat_services
from chats import statements as chat_statements
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.sql import Statement
from streams import queries, services
from streams import statements as stream_statements
from streams.models import Conversation, Message
from tests.support.factories import BASE, MINUTE, add, chat, conversation, newest_messages, ns

PAGE = ["id", "author_id", "conversation_id", "text", "sent_at"]


@pytest.fixture
def world(db):
    micro, other = ns("micro"), ns("other")
    convs = [conversation(micro, group_id="g") for _ in range(3)] + [conversation(other, group_id="g")]
    for i, conv in enumerate(convs):
        add(conv, 40 + i, start=BASE + i * datetime.timedelta(seconds=1))
    add(convs[0], 5, start=BASE + 100 * MINUTE, hidden=True, text="hidden {i}")
    return micro, convs


def orm_page(model, namespace, parent_id, sent_before, limit):
    columns = ["id", "author_id", f"{model.PARENT}_id", "text", "sent_at"]
    return list(
        newest_messages(model, namespace, parent_id, sent_before=sent_before, limit=limit).values_list(*columns)
    )


@pytest.mark.parametrize("limit", [1, 7, 25, 1000])
@pytest.mark.parametrize("minutes_before", [None, 0, 10, 39, 1000])
def test_pages_equal_the_orms(world, limit, minutes_before):
    micro, convs = world
    sent_before = None if minutes_before is None else BASE + minutes_before * MINUTE
    for conv in convs:
        page = stream_statements.pages.page(micro.pk, conv.id, sent_before=sent_before, limit=limit)
        orm = orm_page(Message, micro, conv.id, sent_before, limit)
        if conv.namespace_id != micro.pk:
            assert page is None and orm == []  # another namespace's conversation: not found
            continue
        assert [tuple(row) for row in page] == orm
        assert all(row._fields == tuple(PAGE) for row in page)
        assert all(isinstance(row.sent_at, datetime.datetime) and row.sent_at.tzinfo for row in page)
        assert all(isinstance(row.id, uuid.UUID) and isinstance(row.conversation_id, uuid.UUID) for row in page)


def test_chat_pages_equal_the_orms(db):
    micro = ns("micro")
    one = chat(micro)
    add(one, 30)
    for limit, before in [(25, None), (5, BASE + 10 * MINUTE), (1000, BASE)]:
        page = chat_statements.pages.page(micro.pk, one.id, sent_before=before, limit=limit)
        assert [tuple(row) for row in page] == orm_page(ChatMessage, micro, one.id, before, limit)
    assert chat_statements.pages.page(micro.pk, uuid.uuid4()) is None


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_the_first_page_of_each_equals_each_first_page(world, limit):
    micro, convs = world
    wanted = [convs[2].id, uuid.uuid4(), convs[0].id, convs[3].id, convs[1].id]  # unknown and foreign ids add nothing
    rows = stream_statements.pages.first_of_each(micro.pk, wanted, limit=limit)
    expected = [
        row for parent in (convs[2], convs[0], convs[1]) for row in orm_page(Message, micro, parent.id, None, limit)
    ]
    assert [tuple(row) for row in rows] == expected
    assert stream_statements.pages.first_of_each(micro.pk, [], limit=limit) == []


def test_conversation_reads_equal_the_orms(world):
    micro, convs = world
    for conv in convs[:3]:
        row = queries.get_conversation(micro, conversation_id=conv.id)
        assert tuple(row) == (conv.id, conv.group_id, conv.topic, conv.created_at)
    with pytest.raises(queries.ConversationNotFound):
        queries.get_conversation(micro, conversation_id=convs[3].id)  # the other namespace's
    listed = queries.list_conversations(micro, group_id="g")
    orm = list(
        Conversation.objects.filter(namespace=micro, group_id="g")
        .order_by("-created_at")
        .values_list("id", "group_id", "topic", "created_at")
    )
    assert [tuple(row) for row in listed] == orm and len(orm) == 3
    assert queries.list_conversations(micro, group_id="no such group") == []


def fields_of(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_writes_return_what_the_orm_reads_back(db):
    micro = ns("micro")
    conv = services.create_conversation(micro, group_id="g", topic="ünïcode 🎉")
    assert not conv._state.adding and fields_of(conv) == fields_of(Conversation.objects.get(pk=conv.pk))
    message = services.create_message(micro, conversation_id=conv.id, author_id="alice", text="x" * 10_000)
    assert not message._state.adding and fields_of(message) == fields_of(Message.objects.get(pk=message.pk))
    users = ["bob", "alice", "ünïcode 🙂"]
    found = chat_services.create_chat(micro, user_ids=users)
    stored = Chat.objects.get(pk=found.id)
    assert tuple(found) == (stored.id, stored.user_ids, stored.created_at) and stored.user_ids == sorted(users)
    assert tuple(chat_services.create_chat(micro, user_ids=users[::-1])) == tuple(found)  # found again, equal
    reply = chat_services.create_message(micro, chat_id=found.id, author_id="bob", text="hi")
    assert fields_of(reply) == fields_of(ChatMessage.objects.get(pk=reply.pk))


def test_a_statement_refuses_the_wrong_number_of_values(db):
    with pytest.raises(TypeError, match="2 parameters expected, 1 given"):
        stream_statements.conversation.rows(1)
    assert Statement("SELECT 1").rows() == [(1,)]


def test_each_thread_runs_them_on_its_own_connection_and_all_agree(transactional_db, world, django_db_blocker):
    """gthread workers run requests in threads, each with its own connection."""
    micro, convs = world
    expected = [tuple(r) for r in stream_statements.pages.page(micro.pk, convs[1].id, limit=10)]
    answers, errors = [], []

    def read():
        try:
            with django_db_blocker.unblock():
                for _ in range(3):
                    answers.append([tuple(r) for r in stream_statements.pages.page(micro.pk, convs[1].id, limit=10)])
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert answers == [expected] * 12
