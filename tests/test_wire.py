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
# What a message's text may hold beyond those (anything but NUL): every
# control character, DEL, the line and paragraph separators, the slash,
# characters outside the BMP, HTML.
AWKWARD_TEXTS = [
    "".join(map(chr, range(1, 32))) + "\x7f",
    "line\u2028and\u2029paragraph",
    '</script><b>"a\\b"</b>/',
    "\t\n\r\x0b\x0c tabs, feeds \U0001f600 \U0010ffff \ufeff \u00e9 \u0301",
]


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


# ---------------------------------------------------------------- pages rendered from the driver's values


def response_bytes(wire):
    """What an RPC answering this page sends (convoproject.rpc.renderers)."""
    from convoproject.rpc.renderers import dumps

    return dumps({"messages": wire})


def drf_bytes(serializer_data):
    """What DRF's own renderer writes of the serializer's data: the reference."""
    return JSONRenderer().render({"messages": serializer_data})


@pytest.mark.parametrize("text", TEXTS + AWKWARD_TEXTS)
def test_streams_pages_rendered_from_the_database_equal_the_typed_rows_rendered(namespace, text):
    """The RPCs render a page straight from the driver's values, or on
    PostgreSQL from the JSON the database writes (render.RowsRenderer); the
    shell's typed rows through DRF's serializer and renderer: the same bytes,
    on this database, for every moment."""
    from streams import statements

    conversation = Conversation.objects.create(namespace=namespace, group_id="g", topic="t")
    for moment in sorted(moment.astimezone(UTC) for moment in MOMENTS):
        Message.objects.create(
            namespace=namespace, conversation=conversation, author_id=text[:255], text=text, sent_at=moment
        )
    typed = statements.pages.page(namespace.pk, conversation.pk, limit=10)
    wire = statements.pages.page(namespace.pk, conversation.pk, limit=10, render=stream_s.render_message_rows)
    assert len(wire) == len(MOMENTS)
    assert response_bytes(wire) == drf_bytes([stream_s.MessageSerializer(row).data for row in typed])
    sent = [m["sent_at"] for m in json.loads(response_bytes(wire))["messages"]]
    assert sent[-1] == "0001-01-01T00:00:00.000000Z"  # four digits of the year
    each = statements.pages.first_of_each(
        namespace.pk, [conversation.pk, conversation.pk], limit=10, render=stream_s.render_message_rows
    )
    assert response_bytes(each) == response_bytes(wire + wire)
    older = statements.pages.page(
        namespace.pk, conversation.pk, sent_before=MOMENTS[1], limit=10, render=stream_s.render_message_rows
    )
    assert json.loads(response_bytes(older))["messages"] == json.loads(response_bytes(wire))["messages"][2:]


def test_chats_pages_rendered_from_the_database_equal_the_typed_rows_rendered(namespace):
    from chats import statements

    chat = Chat.objects.create(namespace=namespace, user_ids=["alice", "bob"], members_key="k")
    for moment in sorted(moment.astimezone(UTC) for moment in MOMENTS):
        ChatMessage.objects.create(namespace=namespace, chat=chat, author_id="alice", text=TEXTS[1], sent_at=moment)
    typed = statements.pages.page(namespace.pk, chat.pk, limit=10)
    wire = statements.pages.page(namespace.pk, chat.pk, limit=10, render=chat_s.render_message_rows)
    assert response_bytes(wire) == drf_bytes([chat_s.MessageSerializer(row).data for row in typed])


def test_a_rows_renderer_refuses_columns_out_of_its_order(namespace):
    with pytest.raises(ValueError, match="renders columns"):
        stream_s.render_message_rows([], ["author_id", "id", "conversation_id", "text", "sent_at"])


@pytest.mark.parametrize(
    "value",
    [{"messages": [{"text": text, "id": "x", "n": 7, "ok": True, "none": None}]} for text in TEXTS]
    + [{"text": "line\u2028and\u2029paragraph"}, {"text": 'control \x00\x01\x1f\x7f\n\t\r"\\/'}, {}, []],
)
def test_the_rpc_renderer_writes_the_bytes_drf_writes(value):
    from convoproject.rpc.renderers import JSONRenderer as RpcJSONRenderer

    assert RpcJSONRenderer().render(value) == JSONRenderer().render(value)


def test_the_rpc_renderer_renders_none_as_nothing_and_refuses_other_types():
    from convoproject.rpc.renderers import JSONRenderer as RpcJSONRenderer

    assert RpcJSONRenderer().render(None) == b""
    with pytest.raises(TypeError):
        RpcJSONRenderer().render({"when": object()})


@pytest.mark.parametrize(
    "stored, wire",
    [
        ("2026-11-24 12:00:00.000001", "2026-11-24T12:00:00.000001Z"),
        ("2026-11-24 12:00:00", "2026-11-24T12:00:00.000000Z"),
        ("0001-01-01 00:00:00", "0001-01-01T00:00:00.000000Z"),
        # Shapes Django does not write, read the slow way.
        ("2026-11-24 12:00:00.5", "2026-11-24T12:00:00.500000Z"),
        ("2026-11-24T12:00:00+00:00", "2026-11-24T12:00:00.000000Z"),
        ("2026-11-24 13:00:00+01:00", "2026-11-24T12:00:00.000000Z"),
        (datetime.datetime(2026, 11, 24, 12, 0, 0, 7), "2026-11-24T12:00:00.000007Z"),
    ],
)
def test_sqlite_timestamps_are_read_from_their_stored_text(stored, wire):
    from convoproject.rpc.render import _timestamp_of_sqlite

    assert _timestamp_of_sqlite(stored) == wire


def test_an_rpc_answers_the_bytes_and_headers_drfs_response_would(api, monkeypatch):
    """RpcView.post answers with renderers.json_response, a plain HttpResponse:
    the same status, headers and bytes as DRF's Response of the same answer."""
    from rest_framework.response import Response

    from convoproject.rpc import views

    conversation = api.ok("Streams/CreateConversation", {"group_id": "g", "topic": "wire"})["conversation"]
    for text in ["plain", "line\u2028and\u2029paragraph", "ünïcödé 🎉"]:
        api.ok("Streams/CreateMessage", {"conversation_id": conversation["id"], "author_id": "a", "text": text})
    body = {"conversation_id": conversation["id"]}
    ours = api.post("Streams/ListMessages", body)
    monkeypatch.setattr(views, "json_response", Response)
    drfs = api.post("Streams/ListMessages", body)
    assert (ours.status_code, ours.content) == (drfs.status_code, drfs.content)
    assert dict(ours.headers) == dict(drfs.headers)
    assert ours["Content-Type"] == "application/json" and b"\\u2028" in ours.content
