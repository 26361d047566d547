"""The views render with plain functions derived from the DRF serializers
(convoproject.rpc.render), the OpenAPI document describes the serializers:
both must give the same JSON for every kind of row, including the awkward
values (non-ASCII, empty-ish text, the edges of the timestamp range)."""

import datetime
import json

import pytest
from rest_framework.renderers import JSONRenderer

from chats import serializers as chat_s
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.tenants.models import Namespace
from streams import serializers as stream_s
from streams.models import Conversation, Message

UTC = datetime.UTC
MOMENTS = [
    datetime.datetime(2026, 11, 24, 12, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(2026, 11, 24, 12, 0, 0, 1, tzinfo=UTC),
    datetime.datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(2026, 3, 1, 1, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
]
TEXTS = ["hello", "ünïcödé 🎉", "  spaced  ", "x" * 10_000, 'quote " and \\ backslash']


def rendered(data):
    """The JSON text the response would carry, as the views' renderer writes it."""
    return JSONRenderer().render(data).decode()


def same(wire, serializer_data):
    assert rendered(wire) == rendered(serializer_data)  # key order included
    assert json.loads(rendered(wire)) == wire  # plain JSON types only


@pytest.fixture
def namespace(db):
    return Namespace.objects.create(name="micro")


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("text", TEXTS)
def test_streams_rows(namespace, moment, text):
    conversation = Conversation.objects.create(namespace=namespace, group_id=text[:255], topic=text[:255])
    conversation.created_at = moment
    message = Message(namespace=namespace, conversation=conversation, author_id=text[:255], text=text, sent_at=moment)
    same(stream_s.render_conversation(conversation), stream_s.ConversationSerializer(conversation).data)
    same(stream_s.render_message(message), stream_s.MessageSerializer(message).data)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("text", TEXTS)
def test_chats_rows(namespace, moment, text):
    chat = Chat.objects.create(namespace=namespace, user_ids=sorted(["alice", text[:255]]), members_key=text[:64])
    chat.created_at = moment
    message = ChatMessage(namespace=namespace, chat=chat, author_id="alice", text=text, sent_at=moment)
    same(chat_s.render_chat(chat), chat_s.ChatSerializer(chat).data)
    same(chat_s.render_message(message), chat_s.MessageSerializer(message).data)
