"""The Streams service (CONTRACT 3 and 4) through HTTP: response shapes, the
validation order of every method, strings, limits, timestamps, ordering and
paging, RecentMessages, hidden messages, namespaces and query counts."""

import datetime
import itertools
import json
import re
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from convoproject.messaging.pages import each_values, stretch_values, unpack
from convoproject.rpc.timestamps import format_timestamp
from convoproject.tenants.models import Namespace
from streams import serializers as stream_serializers
from streams import statements
from streams.models import Conversation, Message
from tests.support.counts import create_message_statements
from tests.support.factories import newest_messages
from tests.support.plans import assert_reads_a_page_index, explain, parent_index_name, unique_index_name
from tests.support.rpc import assert_envelope

UTC = datetime.UTC
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
CONVERSATION_KEYS = {"id", "group_id", "topic", "created_at"}
MESSAGE_KEYS = {"id", "author_id", "conversation_id", "text", "sent_at"}

CREATE_CONV = "Streams/CreateConversation"
READ_CONV = "Streams/ReadConversation"
UPDATE_CONV = "Streams/UpdateConversation"
DELETE_CONV = "Streams/DeleteConversation"
LIST_CONVS = "Streams/ListConversations"
CREATE_MSG = "Streams/CreateMessage"
LIST_MSGS = "Streams/ListMessages"
RECENT = "Streams/RecentMessages"

NOT_FOUND_DETAIL = "Conversation not found"
ONE_MICROSECOND = datetime.timedelta(microseconds=1)

# Placeholders in request bodies, replaced per test (see `fill`).
EXISTING = "<existing conversation id>"
MISSING = "<a uuid that names no conversation>"


# ---------------------------------------------------------------- helpers


def parse_ts(text):
    assert TIMESTAMP_RE.fullmatch(text), text
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def fmt_ts(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def assert_uuid(value):
    assert isinstance(value, str) and UUID_RE.fullmatch(value), value
    assert str(uuid.UUID(value)) == value


def assert_conversation(conv, **expected):
    assert set(conv) == CONVERSATION_KEYS, conv
    assert_uuid(conv["id"])
    parse_ts(conv["created_at"])
    for key, value in expected.items():
        assert conv[key] == value, (key, conv)


def assert_message(message, **expected):
    assert set(message) == MESSAGE_KEYS, message
    assert_uuid(message["id"])
    assert_uuid(message["conversation_id"])
    parse_ts(message["sent_at"])
    for key, value in expected.items():
        assert message[key] == value, (key, message)


def counts():
    return Conversation.objects.count(), Message.objects.count()


def fill(value, existing, missing):
    """The body with EXISTING / MISSING placeholders replaced, recursively."""
    if value == EXISTING:
        return existing
    if value == MISSING:
        return missing
    if isinstance(value, dict):
        return {k: fill(v, existing, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, existing, missing) for v in value]
    return value


class Has:
    """An error detail that must mention each of `parts` (e.g. field and maximum)."""

    def __init__(self, *parts):
        self.parts = parts

    def check(self, detail):
        flat = detail.replace(",", "").replace("_000", "000")
        for part in self.parts:
            assert part in detail or part in flat, (part, detail)

    def __repr__(self):
        return f"Has{self.parts}"


def check_error(response, code, error_id, detail):
    assert_envelope(response, code, error_id, detail if isinstance(detail, str) else None)
    if isinstance(detail, Has):
        detail.check(response.json()["detail"])


def texts(messages):
    return [m["text"] for m in messages]


def ids(messages):
    return [m["id"] for m in messages]


def post_messages(api, conversation_id, n, prefix="message"):
    """n messages through the API, texts 'message 1'..'message n'; in creation order."""
    return [api.message(conversation_id, text=f"{prefix} {i}") for i in range(1, n + 1)]


def orm_messages(conversation_id, n, *, start=None, step=datetime.timedelta(seconds=1), prefix="m"):
    """n messages written directly, sent_at start, start+step, ...; in creation order."""
    conv = Conversation.objects.get(id=conversation_id)
    start = start or datetime.datetime(2021, 1, 22, 15, 1, 13, tzinfo=UTC)
    rows = [
        Message(
            namespace_id=conv.namespace_id,
            conversation=conv,
            author_id="bot",
            text=f"{prefix} {i}",
            sent_at=start + step * (i - 1),
        )
        for i in range(1, n + 1)
    ]
    Message.objects.bulk_create(rows)
    return [str(row.id) for row in rows]


def raw_body(body, placeholder, escaped):
    """JSON bytes of `body` with the string `placeholder` replaced by a raw JSON
    string literal (e.g. containing a lone surrogate escape)."""
    text = json.dumps(body)
    assert text.count(json.dumps(placeholder)) == 1
    return text.replace(json.dumps(placeholder), escaped).encode()


# ---------------------------------------------------------------- happy paths and shapes


def test_create_conversation_shape(api):
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    body = api.ok(CREATE_CONV, {"group_id": "g1", "topic": "Hello"})
    after = datetime.datetime.now(UTC) + ONE_MICROSECOND
    assert set(body) == {"conversation"}
    conv = body["conversation"]
    assert_conversation(conv, group_id="g1", topic="Hello")
    assert before <= parse_ts(conv["created_at"]) <= after
    row = Conversation.objects.get(id=conv["id"])
    assert (row.group_id, row.topic, row.namespace.name) == ("g1", "Hello", "micro")


def test_create_conversation_ignores_content_type_and_unknown_fields(api):
    body = {"group_id": "g", "topic": "t", "unknown": [1, {"x": None}]}
    conv = api.ok(CREATE_CONV, body, content_type="text/plain")["conversation"]
    assert_conversation(conv, group_id="g", topic="t")


@pytest.mark.parametrize("group_id", [{"value": "g"}, "g"])
def test_create_conversation_with_wrapped_or_plain_group_id(api, group_id):
    conv = api.ok(CREATE_CONV, {"group_id": group_id, "topic": "t"})["conversation"]
    assert_conversation(conv, group_id="g", topic="t")
    assert api.ok(LIST_CONVS, {"group_id": "g"}) == {"conversations": [conv]}


def test_ids_are_distinct(api):
    a, b = api.conversation(), api.conversation()
    assert a["id"] != b["id"]
    m1, m2 = api.message(a["id"]), api.message(a["id"])
    assert m1["id"] != m2["id"]


def test_read_conversation(api):
    conv = api.conversation(group_id="g", topic="Topic")
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}


@pytest.mark.parametrize(
    "group_id",
    ["g", {"value": "g"}, None, {}, {"value": None}, "", "  ", {"value": ""}],
    ids=["plain", "wrapped", "null", "empty-object", "wrapped-null", "blank", "spaces", "wrapped-blank"],
)
def test_read_conversation_with_matching_or_absent_group_id(api, group_id):
    conv = api.conversation(group_id="g")
    assert api.ok(READ_CONV, {"id": conv["id"], "group_id": group_id}) == {"conversation": conv}


@pytest.mark.parametrize("group_id", ["h", "G", "g ", " g", {"value": "h"}])
def test_read_conversation_with_other_group_id_is_not_found(api, group_id):
    conv = api.conversation(group_id="g")
    api.err(READ_CONV, {"id": conv["id"], "group_id": group_id}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)


def test_update_conversation(api):
    conv = api.conversation(group_id="g", topic="old")
    body = api.ok(UPDATE_CONV, {"id": conv["id"], "topic": "new"})
    assert body == {"conversation": {**conv, "topic": "new"}}
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": {**conv, "topic": "new"}}
    assert api.ok(LIST_CONVS, {"group_id": "g"}) == {"conversations": [{**conv, "topic": "new"}]}
    assert Conversation.objects.get(id=conv["id"]).topic == "new"


def test_delete_conversation_removes_it_and_its_messages_only(api):
    conv, keep = api.conversation(), api.conversation()
    post_messages(api, conv["id"], 3)
    kept = post_messages(api, keep["id"], 2)
    assert api.ok(DELETE_CONV, {"id": conv["id"]}) == {}
    assert not Conversation.objects.filter(id=conv["id"]).exists()
    assert Message.objects.filter(conversation_id=conv["id"]).count() == 0
    assert Message.objects.count() == 2
    api.err(READ_CONV, {"id": conv["id"]}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    api.err(LIST_MSGS, {"conversation_id": conv["id"]}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    assert api.ok(RECENT, {"conversation_ids": [conv["id"]]}) == {"messages": []}
    assert api.ok(LIST_MSGS, {"conversation_id": keep["id"]}) == {"messages": kept[::-1]}
    assert api.ok(LIST_CONVS, {"group_id": "group"}) == {"conversations": [keep]}


def test_delete_conversation_twice_and_missing_ids_answer_empty_object(api):
    conv = api.conversation()
    assert api.ok(DELETE_CONV, {"id": conv["id"]}) == {}
    assert api.ok(DELETE_CONV, {"id": conv["id"]}) == {}
    assert api.ok(DELETE_CONV, {"id": str(uuid.uuid4())}) == {}


@pytest.mark.parametrize("bad_id", ["garbage", "1234", "x" * 300, "{" + str(uuid.UUID(int=1)) + "}", "😀"])
def test_delete_conversation_with_an_id_that_is_not_a_uuid_answers_empty_object(api, bad_id):
    api.conversation()
    assert api.ok(DELETE_CONV, {"id": bad_id}) == {}
    assert counts() == (1, 0)


def test_list_conversations_newest_first_per_group(api):
    a1 = api.conversation(group_id="g1", topic="a1")
    b1 = api.conversation(group_id="g2", topic="b1")
    a2 = api.conversation(group_id="g1", topic="a2")
    a3 = api.conversation(group_id="g1", topic="a3")
    listed = api.ok(LIST_CONVS, {"group_id": "g1"})
    assert listed == {"conversations": [a3, a2, a1]}
    stamps = [parse_ts(c["created_at"]) for c in listed["conversations"]]
    assert stamps == sorted(stamps, reverse=True)
    assert api.ok(LIST_CONVS, {"group_id": {"value": "g2"}}) == {"conversations": [b1]}
    assert api.ok(LIST_CONVS, {"group_id": "g3"}) == {"conversations": []}
    assert api.ok(LIST_CONVS, {"group_id": "G1"}) == {"conversations": []}
    assert api.ok(LIST_CONVS, {"group_id": " g1"}) == {"conversations": []}


def test_list_conversations_newest_first_by_created_at(api):
    convs = [api.conversation(group_id="g", topic=f"t{i}") for i in range(3)]
    # Make the first one the newest: the order follows created_at, not insertion.
    future = datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    Conversation.objects.filter(id=convs[0]["id"]).update(created_at=future)
    listed = api.ok(LIST_CONVS, {"group_id": "g"})["conversations"]
    assert ids(listed) == [convs[0]["id"], convs[2]["id"], convs[1]["id"]]
    assert listed[0]["created_at"] == fmt_ts(future)


def test_create_message_shape(api):
    conv = api.conversation()
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    body = api.ok(CREATE_MSG, {"author_id": "alice", "conversation_id": conv["id"], "text": "hi"})
    after = datetime.datetime.now(UTC) + ONE_MICROSECOND
    assert set(body) == {"message"}
    message = body["message"]
    assert_message(message, author_id="alice", conversation_id=conv["id"], text="hi")
    assert before <= parse_ts(message["sent_at"]) <= after
    row = Message.objects.get(id=message["id"])
    assert (str(row.conversation_id), row.author_id, row.text, row.hidden) == (conv["id"], "alice", "hi", False)
    assert row.namespace.name == "micro"


def test_list_messages_shape(api):
    conv = api.conversation()
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": []}
    sent = post_messages(api, conv["id"], 3)
    body = api.ok(LIST_MSGS, {"conversation_id": conv["id"]})
    assert set(body) == {"messages"}
    assert body["messages"] == sent[::-1]
    for message in body["messages"]:
        assert_message(message, conversation_id=conv["id"], author_id="alice")


def test_recent_messages_shape(api):
    conv = api.conversation()
    assert api.ok(RECENT, {"conversation_ids": [conv["id"]]}) == {"messages": []}
    sent = post_messages(api, conv["id"], 2)
    body = api.ok(RECENT, {"conversation_ids": [conv["id"]]})
    assert body == {"messages": sent[::-1]}
    for message in body["messages"]:
        assert_message(message, conversation_id=conv["id"])


def test_empty_body_counts_as_empty_object(api):
    api.err(CREATE_CONV, None, 400, "MISSING_GROUP_ID", "Missing GroupID")
    api.err(LIST_MSGS, None, 400, "MISSING_CONVERSATION_ID", "Missing Conversation ID")


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"5", b"null", b"{", b'{"group_id": "g",}', b'{"group_id": "\xff"}'])
def test_body_not_a_json_object_is_bad_request(api, raw):
    api.err(CREATE_CONV, None, 400, "BAD_REQUEST", raw=raw)
    assert counts() == (0, 0)


# ---------------------------------------------------------------- validation order, field by field

LONG_256 = "x" * 256
TOPIC_TOO_LONG = Has("topic", "255")
GROUP_TOO_LONG = Has("group_id", "255")
AUTHOR_TOO_LONG = Has("author_id", "255")
TEXT_TOO_LONG = Has("text", "10000")

MISSING_GROUP_ID = (400, "MISSING_GROUP_ID", "Missing GroupID")
MISSING_TOPIC = (400, "MISSING_TOPIC", "Missing Topic")
MISSING_ID = (400, "MISSING_ID", "Missing ID")
MISSING_AUTHOR_ID = (400, "MISSING_AUTHOR_ID", "Missing Author ID")
MISSING_CONVERSATION_ID = (400, "MISSING_CONVERSATION_ID", "Missing Conversation ID")
MISSING_TEXT = (400, "MISSING_TEXT", "Missing text")
MISSING_CONVERSATION_IDS = (400, "MISSING_CONVERSATION_IDS", "One or more Conversation IDs are required")
NOT_FOUND = (404, "NOT_FOUND", NOT_FOUND_DETAIL)


def bad(field):
    return (400, "BAD_REQUEST", Has(field))


def too_long(detail):
    return (400, "TOO_LONG", detail)


INVALID_LIMIT = (400, "INVALID_LIMIT", None)
INVALID_TIMESTAMP = (400, "INVALID_TIMESTAMP", None)
TOO_MANY_IDS = (400, "TOO_MANY_IDS", None)
HUNDRED_AND_ONE = [str(uuid.UUID(int=i)) for i in range(1, 102)]

VALIDATION_CASES = [
    # CreateConversation: group_id, topic
    (CREATE_CONV, {}, MISSING_GROUP_ID),
    (CREATE_CONV, {"topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": "", "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": " \t\n\u3000", "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": None, "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": {}, "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": {"value": None}, "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": {"value": "  "}, "topic": "t"}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": "", "topic": LONG_256}, MISSING_GROUP_ID),
    (CREATE_CONV, {"group_id": 5}, bad("group_id")),
    (CREATE_CONV, {"group_id": True, "topic": "t"}, bad("group_id")),
    (CREATE_CONV, {"group_id": ["g"], "topic": "t"}, bad("group_id")),
    (CREATE_CONV, {"group_id": {"value": 5}, "topic": "t"}, bad("group_id")),
    (CREATE_CONV, {"group_id": "g\x00", "topic": "t"}, bad("group_id")),
    (CREATE_CONV, {"group_id": LONG_256}, too_long(GROUP_TOO_LONG)),
    (CREATE_CONV, {"group_id": {"value": LONG_256}, "topic": "t"}, too_long(GROUP_TOO_LONG)),
    (CREATE_CONV, {"group_id": "g"}, MISSING_TOPIC),
    (CREATE_CONV, {"group_id": "g", "topic": ""}, MISSING_TOPIC),
    (CREATE_CONV, {"group_id": "g", "topic": "  \n "}, MISSING_TOPIC),
    (CREATE_CONV, {"group_id": "g", "topic": None}, MISSING_TOPIC),
    (CREATE_CONV, {"group_id": "g", "topic": 5}, bad("topic")),
    (CREATE_CONV, {"group_id": "g", "topic": ["t"]}, bad("topic")),
    (CREATE_CONV, {"group_id": "g", "topic": {"value": "t"}}, bad("topic")),
    (CREATE_CONV, {"group_id": "g", "topic": "t\x00t"}, bad("topic")),
    (CREATE_CONV, {"group_id": "g", "topic": LONG_256}, too_long(TOPIC_TOO_LONG)),
    (CREATE_CONV, {"group_id": "g", "topic": "😀" * 256}, too_long(TOPIC_TOO_LONG)),
    # ReadConversation: id, optional group_id
    (READ_CONV, {}, MISSING_ID),
    (READ_CONV, {"id": ""}, MISSING_ID),
    (READ_CONV, {"id": "   "}, MISSING_ID),
    (READ_CONV, {"id": None, "group_id": 5}, MISSING_ID),
    (READ_CONV, {"group_id": "group"}, MISSING_ID),
    (READ_CONV, {"id": 5}, bad("id")),
    (READ_CONV, {"id": [EXISTING]}, bad("id")),
    (READ_CONV, {"id": {"value": EXISTING}}, bad("id")),
    (READ_CONV, {"id": "a\x00b"}, bad("id")),
    (READ_CONV, {"id": MISSING, "group_id": 5}, bad("group_id")),
    (READ_CONV, {"id": MISSING, "group_id": "g\x00"}, bad("group_id")),
    (READ_CONV, {"id": MISSING, "group_id": LONG_256}, too_long(GROUP_TOO_LONG)),
    (READ_CONV, {"id": "garbage", "group_id": LONG_256}, too_long(GROUP_TOO_LONG)),
    (READ_CONV, {"id": MISSING}, NOT_FOUND),
    (READ_CONV, {"id": MISSING, "group_id": "group"}, NOT_FOUND),
    # UpdateConversation: id, topic
    (UPDATE_CONV, {}, MISSING_ID),
    (UPDATE_CONV, {"topic": "t"}, MISSING_ID),
    (UPDATE_CONV, {"id": " ", "topic": LONG_256}, MISSING_ID),
    (UPDATE_CONV, {"id": 5, "topic": "t"}, bad("id")),
    (UPDATE_CONV, {"id": EXISTING}, MISSING_TOPIC),
    (UPDATE_CONV, {"id": MISSING}, MISSING_TOPIC),
    (UPDATE_CONV, {"id": "garbage", "topic": "  "}, MISSING_TOPIC),
    (UPDATE_CONV, {"id": EXISTING, "topic": 5}, bad("topic")),
    (UPDATE_CONV, {"id": EXISTING, "topic": "a\x00"}, bad("topic")),
    (UPDATE_CONV, {"id": EXISTING, "topic": LONG_256}, too_long(TOPIC_TOO_LONG)),
    (UPDATE_CONV, {"id": MISSING, "topic": LONG_256}, too_long(TOPIC_TOO_LONG)),
    (UPDATE_CONV, {"id": "garbage", "topic": "😀" * 256}, too_long(TOPIC_TOO_LONG)),
    (UPDATE_CONV, {"id": MISSING, "topic": "t"}, NOT_FOUND),
    (UPDATE_CONV, {"id": "garbage", "topic": "t"}, NOT_FOUND),
    # DeleteConversation: id
    (DELETE_CONV, {}, MISSING_ID),
    (DELETE_CONV, {"id": None}, MISSING_ID),
    (DELETE_CONV, {"id": " \t"}, MISSING_ID),
    (DELETE_CONV, {"id": 5}, bad("id")),
    (DELETE_CONV, {"id": [EXISTING]}, bad("id")),
    (DELETE_CONV, {"id": "\x00"}, bad("id")),
    # ListConversations: group_id
    (LIST_CONVS, {}, MISSING_GROUP_ID),
    (LIST_CONVS, {"group_id": ""}, MISSING_GROUP_ID),
    (LIST_CONVS, {"group_id": {}}, MISSING_GROUP_ID),
    (LIST_CONVS, {"group_id": {"value": " "}}, MISSING_GROUP_ID),
    (LIST_CONVS, {"group_id": 5}, bad("group_id")),
    (LIST_CONVS, {"group_id": "g\x00"}, bad("group_id")),
    (LIST_CONVS, {"group_id": LONG_256}, too_long(GROUP_TOO_LONG)),
    # CreateMessage: author_id, conversation_id, text
    (CREATE_MSG, {}, MISSING_AUTHOR_ID),
    (CREATE_MSG, {"conversation_id": EXISTING}, MISSING_AUTHOR_ID),
    (CREATE_MSG, {"author_id": " ", "conversation_id": EXISTING, "text": "t"}, MISSING_AUTHOR_ID),
    (CREATE_MSG, {"author_id": None, "conversation_id": MISSING, "text": "x" * 10_001}, MISSING_AUTHOR_ID),
    (CREATE_MSG, {"author_id": 5, "conversation_id": EXISTING, "text": "t"}, bad("author_id")),
    (CREATE_MSG, {"author_id": {"value": "a"}, "conversation_id": EXISTING, "text": "t"}, bad("author_id")),
    (CREATE_MSG, {"author_id": "a\x00", "conversation_id": EXISTING, "text": "t"}, bad("author_id")),
    (CREATE_MSG, {"author_id": LONG_256}, too_long(AUTHOR_TOO_LONG)),
    (CREATE_MSG, {"author_id": LONG_256, "conversation_id": MISSING, "text": "t"}, too_long(AUTHOR_TOO_LONG)),
    (CREATE_MSG, {"author_id": "a"}, MISSING_CONVERSATION_ID),
    (CREATE_MSG, {"author_id": "a", "text": "t"}, MISSING_CONVERSATION_ID),
    (CREATE_MSG, {"author_id": "a", "conversation_id": " ", "text": "x" * 10_001}, MISSING_CONVERSATION_ID),
    (CREATE_MSG, {"author_id": "a", "conversation_id": 5, "text": "t"}, bad("conversation_id")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": "\x00", "text": "t"}, bad("conversation_id")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING}, MISSING_TEXT),
    (CREATE_MSG, {"author_id": "a", "conversation_id": MISSING}, MISSING_TEXT),
    (CREATE_MSG, {"author_id": "a", "conversation_id": "garbage", "text": " \n\t"}, MISSING_TEXT),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING, "text": 5}, bad("text")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING, "text": ["t"]}, bad("text")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING, "text": "a\x00b"}, bad("text")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": MISSING, "text": "a\x00b"}, bad("text")),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING, "text": "x" * 10_001}, too_long(TEXT_TOO_LONG)),
    (CREATE_MSG, {"author_id": "a", "conversation_id": MISSING, "text": "x" * 10_001}, too_long(TEXT_TOO_LONG)),
    (CREATE_MSG, {"author_id": "a", "conversation_id": "garbage", "text": "😀" * 10_001}, too_long(TEXT_TOO_LONG)),
    (CREATE_MSG, {"author_id": "a", "conversation_id": MISSING, "text": "t"}, NOT_FOUND),
    (CREATE_MSG, {"author_id": "a", "conversation_id": "garbage", "text": "t"}, NOT_FOUND),
    # ListMessages: conversation_id, sent_before, limit
    (LIST_MSGS, {}, MISSING_CONVERSATION_ID),
    (LIST_MSGS, {"limit": 0, "sent_before": "garbage"}, MISSING_CONVERSATION_ID),
    (LIST_MSGS, {"conversation_id": "", "limit": 0}, MISSING_CONVERSATION_ID),
    (LIST_MSGS, {"conversation_id": 5, "limit": 0}, bad("conversation_id")),
    (LIST_MSGS, {"conversation_id": "x\x00", "limit": 0}, bad("conversation_id")),
    (LIST_MSGS, {"conversation_id": MISSING, "sent_before": "garbage", "limit": 0}, INVALID_TIMESTAMP),
    (LIST_MSGS, {"conversation_id": "garbage", "sent_before": "2021-01-22"}, INVALID_TIMESTAMP),
    (LIST_MSGS, {"conversation_id": MISSING, "limit": 0}, INVALID_LIMIT),
    (LIST_MSGS, {"conversation_id": "garbage", "sent_before": "2021-01-22T15:01:13Z", "limit": 1001}, INVALID_LIMIT),
    (LIST_MSGS, {"conversation_id": MISSING}, NOT_FOUND),
    (LIST_MSGS, {"conversation_id": "garbage"}, NOT_FOUND),
    (LIST_MSGS, {"conversation_id": MISSING, "sent_before": "2021-01-22T15:01:13Z", "limit": 5}, NOT_FOUND),
    # RecentMessages: conversation_ids, limit_per_conversation
    (RECENT, {}, MISSING_CONVERSATION_IDS),
    (RECENT, {"conversation_ids": None}, MISSING_CONVERSATION_IDS),
    (RECENT, {"conversation_ids": []}, MISSING_CONVERSATION_IDS),
    (RECENT, {"limit_per_conversation": 0}, MISSING_CONVERSATION_IDS),
    (RECENT, {"conversation_ids": [], "limit_per_conversation": "abc"}, MISSING_CONVERSATION_IDS),
    (RECENT, {"conversation_ids": EXISTING}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": 5}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": {"a": EXISTING}}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [""]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": ["  "]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [None]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [5]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [True]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [[EXISTING]]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [{"value": EXISTING}]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [EXISTING, ""]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [EXISTING, None]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [EXISTING, "a\x00"]}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": [""], "limit_per_conversation": 0}, bad("conversation_ids")),
    (RECENT, {"conversation_ids": HUNDRED_AND_ONE}, TOO_MANY_IDS),
    (RECENT, {"conversation_ids": [*HUNDRED_AND_ONE[:100], "garbage"]}, TOO_MANY_IDS),
    (RECENT, {"conversation_ids": HUNDRED_AND_ONE, "limit_per_conversation": 0}, TOO_MANY_IDS),
    (RECENT, {"conversation_ids": [EXISTING], "limit_per_conversation": 0}, INVALID_LIMIT),
    (RECENT, {"conversation_ids": [MISSING, "garbage"], "limit_per_conversation": 1001}, INVALID_LIMIT),
]


@pytest.mark.parametrize(("rpc", "body", "expected"), VALIDATION_CASES)
def test_validation_order(api, rpc, body, expected):
    conv = api.conversation(group_id="group", topic="topic")
    api.message(conv["id"], text="first")
    before = counts()
    response = api.post(rpc, fill(body, conv["id"], str(uuid.uuid4())))
    check_error(response, *expected)
    # Nothing was written, and the existing rows are unchanged.
    assert counts() == before
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}
    assert texts(api.ok(LIST_MSGS, {"conversation_id": conv["id"]})["messages"]) == ["first"]


# ---------------------------------------------------------------- strings

STRINGS = [
    "  padded  ",
    "tab\tnew\nline\r\n",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧",
    "日本語 العربية עברית Ελληνικά",
    "e\u0301 combining",
    "\u200bzero width\u200b",
    "\ufeffbom",
    "astral \U0010fffd \U0001d11e",
    "controls \x01\x1f\x7f",
    '"quotes" \\ back',
    "x",
]


@pytest.mark.parametrize("value", STRINGS)
def test_strings_are_stored_exactly(api, value):
    conv = api.ok(CREATE_CONV, {"group_id": value, "topic": value})["conversation"]
    assert_conversation(conv, group_id=value, topic=value)
    assert api.ok(READ_CONV, {"id": conv["id"], "group_id": value}) == {"conversation": conv}
    assert api.ok(LIST_CONVS, {"group_id": value}) == {"conversations": [conv]}
    if value.strip() != value:
        assert api.ok(LIST_CONVS, {"group_id": value.strip()}) == {"conversations": []}
    message = api.ok(CREATE_MSG, {"author_id": value, "conversation_id": conv["id"], "text": value})["message"]
    assert_message(message, author_id=value, text=value, conversation_id=conv["id"])
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": [message]}
    updated = api.ok(UPDATE_CONV, {"id": conv["id"], "topic": value + value})["conversation"]
    assert updated["topic"] == value + value
    row = Message.objects.get(id=message["id"])
    assert (row.author_id, row.text) == (value, value)
    assert Conversation.objects.get(id=conv["id"]).group_id == value


def test_escaped_surrogate_pair_is_one_character(api):
    raw = raw_body({"group_id": "g", "topic": "PLACEHOLDER"}, "PLACEHOLDER", '"a\\ud83d\\ude00b"')
    conv = api.ok(CREATE_CONV, raw=raw)["conversation"]
    assert conv["topic"] == "a😀b"
    raw = raw_body({"group_id": "g", "topic": "PLACEHOLDER"}, "PLACEHOLDER", '"' + "\\ud83d\\ude00" * 255 + '"')
    assert api.ok(CREATE_CONV, raw=raw)["conversation"]["topic"] == "😀" * 255


@pytest.mark.parametrize(
    ("field", "maximum", "char"),
    [("topic", 255, "x"), ("topic", 255, "😀"), ("group_id", 255, "é"), ("group_id", 255, "😀")],
)
def test_conversation_string_maximum(api, field, maximum, char):
    body = {"group_id": "g", "topic": "t"}
    conv = api.ok(CREATE_CONV, {**body, field: char * maximum})["conversation"]
    assert conv[field] == char * maximum
    api.err(CREATE_CONV, {**body, field: char * (maximum + 1)}, 400, "TOO_LONG")
    assert Conversation.objects.count() == 1
    if field == "topic":
        updated = api.ok(UPDATE_CONV, {"id": conv["id"], "topic": char * maximum})["conversation"]
        assert updated["topic"] == char * maximum
        api.err(UPDATE_CONV, {"id": conv["id"], "topic": char * (maximum + 1)}, 400, "TOO_LONG")
    else:
        assert api.ok(LIST_CONVS, {"group_id": char * maximum}) == {"conversations": [conv]}
        assert api.ok(READ_CONV, {"id": conv["id"], "group_id": char * maximum}) == {"conversation": conv}
        api.err(LIST_CONVS, {"group_id": char * (maximum + 1)}, 400, "TOO_LONG")
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}


@pytest.mark.parametrize(
    ("field", "maximum", "char"), [("text", 10_000, "x"), ("text", 10_000, "😀"), ("author_id", 255, "😀")]
)
def test_message_string_maximum(api, field, maximum, char):
    conv = api.conversation()
    body = {"author_id": "a", "conversation_id": conv["id"], "text": "t"}
    message = api.ok(CREATE_MSG, {**body, field: char * maximum})["message"]
    assert message[field] == char * maximum
    api.err(CREATE_MSG, {**body, field: char * (maximum + 1)}, 400, "TOO_LONG")
    assert Message.objects.count() == 1
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": [message]}


SURROGATE_CASES = [
    (CREATE_CONV, {"group_id": "S", "topic": "t"}, "group_id"),
    (CREATE_CONV, {"group_id": {"value": "S"}, "topic": "t"}, "group_id"),
    (CREATE_CONV, {"group_id": "S"}, "group_id"),
    (CREATE_CONV, {"group_id": "g", "topic": "S"}, "topic"),
    (READ_CONV, {"id": "S"}, "id"),
    (READ_CONV, {"id": MISSING, "group_id": "S"}, "group_id"),
    (UPDATE_CONV, {"id": "S", "topic": "t"}, "id"),
    (UPDATE_CONV, {"id": EXISTING, "topic": "S"}, "topic"),
    (DELETE_CONV, {"id": "S"}, "id"),
    (LIST_CONVS, {"group_id": "S"}, "group_id"),
    (CREATE_MSG, {"author_id": "S", "conversation_id": EXISTING, "text": "t"}, "author_id"),
    (CREATE_MSG, {"author_id": "a", "conversation_id": "S", "text": "t"}, "conversation_id"),
    (CREATE_MSG, {"author_id": "a", "conversation_id": EXISTING, "text": "S"}, "text"),
    (CREATE_MSG, {"author_id": "a", "conversation_id": MISSING, "text": "S"}, "text"),
    (LIST_MSGS, {"conversation_id": "S"}, "conversation_id"),
    (RECENT, {"conversation_ids": [EXISTING, "S"]}, "conversation_ids"),
]


@pytest.mark.parametrize("escaped", ['"\\ud800"', '"ab\\udc00cd"', '"\\ude00\\ud83d"'])
@pytest.mark.parametrize(("rpc", "body", "field"), SURROGATE_CASES)
def test_lone_surrogate_is_bad_request(api, rpc, body, field, escaped):
    conv = api.conversation()
    api.message(conv["id"])
    raw = raw_body(fill(body, conv["id"], str(uuid.uuid4())), "S", escaped)
    response = api.post(rpc, raw=raw)
    check_error(response, 400, "BAD_REQUEST", Has(field))
    assert counts() == (1, 1)
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}


@pytest.mark.parametrize(
    ("rpc", "body"),
    [
        (LIST_MSGS, {"conversation_id": EXISTING, "sent_before": "2021-01-22T15:01:13\x00Z"}),
        (LIST_MSGS, {"conversation_id": EXISTING, "sent_before": "2021-01-22T15:01:13Z\x00"}),
        (LIST_MSGS, {"conversation_id": EXISTING, "limit": "1\x00"}),
        (RECENT, {"conversation_ids": [EXISTING], "limit_per_conversation": "\x0010"}),
    ],
)
def test_nul_in_timestamp_or_limit_is_rejected(api, rpc, body):
    # CONTRACT ambiguity: NUL is BAD_REQUEST, a non-timestamp INVALID_TIMESTAMP,
    # a non-limit INVALID_LIMIT; either way, a 400 envelope.
    conv = api.conversation()
    response = api.post(rpc, fill(body, conv["id"], None))
    allowed = {"BAD_REQUEST", "INVALID_TIMESTAMP" if "sent_before" in body else "INVALID_LIMIT"}
    assert response.status_code == 400
    assert_envelope(response, 400, response.json()["id"])
    assert response.json()["id"] in allowed


# ---------------------------------------------------------------- ids that are not UUIDs

NOT_UUIDS = [
    "garbage",
    "1",
    "00000000-0000-0000-0000-00000000000g",
    "00000000-0000-0000-0000-0000000000001",
    "x" * 1000,
    "😀",
    "'; DROP TABLE streams_message; --",
]


@pytest.mark.parametrize("bad_id", NOT_UUIDS)
def test_ids_that_are_not_uuids(api, bad_id):
    conv = api.conversation()
    api.message(conv["id"])
    api.err(READ_CONV, {"id": bad_id}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    api.err(UPDATE_CONV, {"id": bad_id, "topic": "t"}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    api.err(CREATE_MSG, {"author_id": "a", "conversation_id": bad_id, "text": "t"}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    api.err(LIST_MSGS, {"conversation_id": bad_id}, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    assert api.ok(DELETE_CONV, {"id": bad_id}) == {}
    assert api.ok(RECENT, {"conversation_ids": [bad_id]}) == {"messages": []}
    assert len(api.ok(RECENT, {"conversation_ids": [bad_id, conv["id"]]})["messages"]) == 1
    assert counts() == (1, 1)
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}


# ---------------------------------------------------------------- limits (wrapped values)

VALID_LIMITS = [
    (10, 10),
    ("10", 10),
    ({"value": 10}, 10),
    ({"value": "10"}, 10),
    (None, 25),
    ({}, 25),
    ({"value": None}, 25),
    ("", 25),
    (1, 1),
    (1000, 30),
    ("1000", 30),
    ({"value": 1000}, 30),
]
INVALID_LIMITS = [
    0,
    -1,
    1001,
    "0",
    "-1",
    "1001",
    "abc",
    "10abc",
    "2.5",
    2.5,
    0.5,
    True,
    False,
    10**30,
    -(10**30),
    2**63,
    2**64,
    "99999999999999999999",
    [10],
    {"value": 0},
    {"value": 1001},
    {"value": "abc"},
    {"value": True},
]


@pytest.fixture
def thirty(api):
    """A conversation with 30 messages (1 second apart); its id and ids newest first."""
    conv = api.conversation()
    return conv["id"], orm_messages(conv["id"], 30)[::-1]


@pytest.mark.parametrize(("limit", "expected"), VALID_LIMITS)
def test_valid_limit(api, thirty, limit, expected):
    conv_id, newest_first = thirty
    page = api.ok(LIST_MSGS, {"conversation_id": conv_id, "limit": limit})["messages"]
    assert ids(page) == newest_first[:expected]
    recent = api.ok(RECENT, {"conversation_ids": [conv_id], "limit_per_conversation": limit})["messages"]
    assert ids(recent) == newest_first[:expected]


@pytest.mark.parametrize("limit", INVALID_LIMITS)
def test_invalid_limit(api, thirty, limit):
    conv_id, _ = thirty
    api.err(LIST_MSGS, {"conversation_id": conv_id, "limit": limit}, 400, "INVALID_LIMIT")
    body = {"conversation_ids": [conv_id], "limit_per_conversation": limit}
    api.err(RECENT, body, 400, "INVALID_LIMIT")


# ---------------------------------------------------------------- timestamps

BASE = datetime.datetime(2021, 1, 22, 15, 1, 13, 123456, tzinfo=UTC)  # the message at ...13.123456Z


@pytest.fixture
def at_base(api):
    """A conversation with messages at BASE - 1µs ("early") and BASE ("exact")."""
    conv = api.conversation()
    early, exact = orm_messages(conv["id"], 2, start=BASE - ONE_MICROSECOND, step=ONE_MICROSECOND)
    return conv["id"], early, exact


@pytest.mark.parametrize(
    ("sent_before", "includes_exact"),
    [
        ("2021-01-22T15:01:13.123456Z", False),
        ("2021-01-22T15:01:13.123457Z", True),
        ("2021-01-22T15:01:13.1234561Z", True),  # rounds up to .123457
        ("2021-01-22T15:01:13.123456001Z", True),
        ("2021-01-22T15:01:13.123456000Z", False),
        ("2021-01-22T15:01:13.12345600Z", False),
        ("2021-01-22T15:01:13.1234560Z", False),
        ("2021-01-22T17:01:13.123456+02:00", False),
        ("2021-01-22T17:01:13.123457+02:00", True),
        ("2021-01-22T17:01:13.1234561+02:00", True),
        ("2021-01-22T10:31:13.123457-04:30", True),
        ("2021-01-22T15:01:13.123457+00:00", True),
        ("2021-01-22T15:01:13.123456-00:00", False),
        ("2021-01-22T15:01:14Z", True),
        ("2021-01-22T15:01:14+00:00", True),
        ("2021-01-23T00:01:13.123457+09:00", True),
    ],
)
def test_sent_before_formats_and_rounding(api, at_base, sent_before, includes_exact):
    conv_id, early, exact = at_base
    page = api.ok(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before})["messages"]
    assert ids(page) == ([exact, early] if includes_exact else [early])


@pytest.mark.parametrize("digits", range(10))
def test_sent_before_with_0_to_9_fractional_digits(api, at_base, digits):
    """.123456789 cut to `digits` digits, against messages at .123455 and
    .123456: up to 5 digits it is before both; 6 digits is exactly .123456
    (only the earlier one); 7 to 9 round up to .123457 (both)."""
    conv_id, early, exact = at_base
    fraction = "." + "123456789"[:digits] if digits else ""
    sent_before = f"2021-01-22T15:01:13{fraction}Z"
    page = api.ok(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before})["messages"]
    expected = [] if digits < 6 else [early] if digits == 6 else [exact, early]
    assert ids(page) == expected


def test_sent_before_the_earliest_message_is_empty(api, at_base):
    conv_id, _, _ = at_base
    sent_before = fmt_ts(BASE - ONE_MICROSECOND)  # the earlier message's sent_at
    assert api.ok(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before}) == {"messages": []}


@pytest.mark.parametrize(
    ("sent_before", "count"),
    [
        ("9999-12-31T23:59:59.999999999Z", 2),
        ("9999-12-31T23:59:59Z", 2),
        ("0001-01-01T00:00:00Z", 0),
        ("0001-01-01T00:00:00+01:00", 0),
        (None, 2),
        ("", 2),
    ],
)
def test_sent_before_extremes_and_absent(api, at_base, sent_before, count):
    conv_id, early, exact = at_base
    page = api.ok(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before})["messages"]
    assert ids(page) == [exact, early][:count]


@pytest.mark.parametrize(
    "sent_before",
    [
        "2021-01-22",
        "2021-01-22T15:01:13",
        "2021-01-22T15:01:13.123456",
        "15:01:13Z",
        "garbage",
        "1611327673",
        "2021-01-22T15:01:13.1234567890Z",
        "2021-01-22T15:01:13.Z",
        "2021-01-22T15:01:13+0200",
        "2021-01-22T15:01:13+02",
        "2021-01-22T15:01:13+24:00",
        "2021-02-30T15:01:13Z",
        "2021-01-22T25:01:13Z",
        "2021-13-22T15:01:13Z",
        "2021-01-22T15:01:13 Z",
        " 2021-01-22T15:01:13Z",
        "2021-01-22T15:01:13ZZ",
        "Fri, 22 Jan 2021 15:01:13 GMT",
    ],
)
def test_invalid_sent_before(api, at_base, sent_before):
    conv_id, _, _ = at_base
    api.err(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before}, 400, "INVALID_TIMESTAMP")


@pytest.mark.parametrize("sent_before", [5, True, ["2021-01-22T15:01:13Z"], {"seconds": 5}])
def test_sent_before_of_the_wrong_type_is_a_400(api, at_base, sent_before):
    # CONTRACT ambiguity: a wrong type is BAD_REQUEST, a non-timestamp INVALID_TIMESTAMP.
    conv_id, _, _ = at_base
    response = api.post(LIST_MSGS, {"conversation_id": conv_id, "sent_before": sent_before})
    assert_envelope(response, 400, response.json().get("id"))
    assert response.json()["id"] in {"BAD_REQUEST", "INVALID_TIMESTAMP"}


# ---------------------------------------------------------------- ordering and paging


def test_sent_at_is_unique_and_strictly_increasing(api):
    conv = api.conversation()
    sent = post_messages(api, conv["id"], 30)
    stamps = [parse_ts(m["sent_at"]) for m in sent]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    rows = list(Message.objects.filter(conversation_id=conv["id"]).order_by("sent_at"))
    assert [str(r.id) for r in rows] == ids(sent)
    assert [fmt_ts(r.sent_at) for r in rows] == [m["sent_at"] for m in sent]


def test_clock_not_after_newest_message_uses_one_microsecond_later(api):
    conv, elsewhere = api.conversation(), api.conversation()
    first = api.message(conv["id"], text="1")
    future = datetime.datetime.now(UTC).replace(microsecond=500000) + datetime.timedelta(hours=1)
    Message.objects.filter(id=first["id"]).update(sent_at=future)
    second = api.message(conv["id"], text="2")
    assert parse_ts(second["sent_at"]) == future + ONE_MICROSECOND
    third = api.message(conv["id"], text="3")
    assert parse_ts(third["sent_at"]) == future + 2 * ONE_MICROSECOND
    # A hidden newest message still takes its instant: the next one comes after it.
    Message.objects.filter(id=third["id"]).update(hidden=True)
    fourth = api.message(conv["id"], text="4")
    assert parse_ts(fourth["sent_at"]) == future + 3 * ONE_MICROSECOND
    assert texts(api.ok(LIST_MSGS, {"conversation_id": conv["id"]})["messages"]) == ["4", "2", "1"]
    # Another conversation is not affected by this one's newest message.
    assert parse_ts(api.message(elsewhere["id"])["sent_at"]) < future


def page_through(api, conversation_id, limit):
    seen, sent_before, pages = [], None, 0
    while True:
        body = {"conversation_id": conversation_id, "limit": limit, "sent_before": sent_before}
        page = api.ok(LIST_MSGS, body)["messages"]
        pages += 1
        assert len(page) <= limit
        if not page:
            return seen, pages
        seen.extend(page)
        sent_before = page[-1]["sent_at"]


def test_paging_through_api_messages_yields_each_once(api):
    conv = api.conversation()
    sent = post_messages(api, conv["id"], 60)
    seen, pages = page_through(api, conv["id"], 7)
    assert seen == sent[::-1]
    assert pages == 10  # 8 full pages, one of 4, one empty


def test_paging_through_messages_one_microsecond_apart(api):
    conv = api.conversation()
    newest_first = orm_messages(conv["id"], 60, step=ONE_MICROSECOND)[::-1]
    seen, _ = page_through(api, conv["id"], 9)
    assert ids(seen) == newest_first
    seen, _ = page_through(api, conv["id"], 1)
    assert ids(seen) == newest_first


def test_original_list_messages_behaviour(api):
    conv = api.conversation()
    sent = post_messages(api, conv["id"], 50)
    newest_first = sent[::-1]
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": newest_first[:25]}
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"], "limit": 10}) == {"messages": newest_first[:10]}
    body = {"conversation_id": conv["id"], "sent_before": sent[20]["sent_at"], "limit": 5}
    assert texts(api.ok(LIST_MSGS, body)["messages"]) == [f"message {i}" for i in (20, 19, 18, 17, 16)]
    # The seed's `"limit": {}` is the default.
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"], "limit": {}}) == {"messages": newest_first[:25]}


def test_original_recent_messages_behaviour(api):
    convs = [api.conversation(topic=f"c{i}") for i in range(3)]
    sent = {c["id"]: post_messages(api, c["id"], 50, prefix=c["topic"]) for c in convs}
    order = [convs[1]["id"], convs[0]["id"], convs[2]["id"]]
    body = api.ok(RECENT, {"conversation_ids": order, "limit_per_conversation": 10})
    assert len(body["messages"]) == 30
    assert body["messages"] == [m for cid in order for m in sent[cid][::-1][:10]]
    default = api.ok(RECENT, {"conversation_ids": order})["messages"]
    assert default == [m for cid in order for m in sent[cid][::-1][:25]]


# ---------------------------------------------------------------- RecentMessages


def test_recent_messages_order_duplicates_and_unknown_ids(api, other):
    a, b, c = (api.conversation(topic=t) for t in "abc")
    foreign = other.conversation()
    other.message(foreign["id"], text="foreign")
    empty = api.conversation(topic="empty")
    sent = {conv["id"]: post_messages(api, conv["id"], 3, prefix=conv["topic"]) for conv in (a, b, c)}
    given = [
        c["id"],
        str(uuid.uuid4()),
        a["id"],
        c["id"],
        "garbage",
        foreign["id"],
        empty["id"],
        b["id"],
        a["id"],
    ]
    body = api.ok(RECENT, {"conversation_ids": given, "limit_per_conversation": 2})
    expected = [m for cid in (c["id"], a["id"], b["id"]) for m in sent[cid][::-1][:2]]
    assert body == {"messages": expected}


def test_recent_messages_hundred_distinct_ids_is_fine(api):
    conv = api.conversation()
    message = api.message(conv["id"])
    given = [conv["id"], *HUNDRED_AND_ONE[:99]]
    assert api.ok(RECENT, {"conversation_ids": given}) == {"messages": [message]}
    # Duplicates do not count towards the 100.
    assert api.ok(RECENT, {"conversation_ids": given + given[::-1] + [conv["id"]] * 50}) == {"messages": [message]}


def test_recent_messages_over_a_hundred_conversations_is_refused(api):
    api.err(RECENT, {"conversation_ids": HUNDRED_AND_ONE}, 400, "TOO_MANY_IDS")
    api.err(RECENT, {"conversation_ids": HUNDRED_AND_ONE * 2}, 400, "TOO_MANY_IDS")


# ---------------------------------------------------------------- hidden messages


def test_hidden_messages_are_never_returned(api):
    conv = api.conversation()
    sent = post_messages(api, conv["id"], 10)  # texts "message 1".."message 10"
    hidden = [sent[9]["id"], sent[8]["id"], sent[4]["id"]]
    Message.objects.filter(id__in=hidden).update(hidden=True)
    visible_newest_first = [f"message {i}" for i in (8, 7, 6, 4, 3, 2, 1)]

    def listed(**fields):
        return texts(api.ok(LIST_MSGS, {"conversation_id": conv["id"], **fields})["messages"])

    def recent(limit=None):
        body = {"conversation_ids": [conv["id"]], "limit_per_conversation": limit}
        return texts(api.ok(RECENT, body)["messages"])

    assert listed() == visible_newest_first
    assert recent() == visible_newest_first
    # The limit counts only visible messages.
    assert listed(limit=5) == visible_newest_first[:5]
    assert recent(limit=5) == visible_newest_first[:5]
    assert listed(sent_before=sent[9]["sent_at"], limit=3) == ["message 8", "message 7", "message 6"]
    assert listed(sent_before=sent[5]["sent_at"], limit=2) == ["message 4", "message 3"]
    # Hidden rows are still there; unhidden, they come back.
    assert Message.objects.filter(conversation_id=conv["id"]).count() == 10
    Message.objects.filter(id__in=hidden).update(hidden=False)
    everything = [f"message {i}" for i in range(10, 0, -1)]
    assert listed() == everything
    assert recent() == everything
    assert listed(limit=5) == everything[:5]


def test_all_hidden_gives_empty_lists(api):
    conv = api.conversation()
    post_messages(api, conv["id"], 3)
    Message.objects.update(hidden=True)
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": []}
    assert api.ok(RECENT, {"conversation_ids": [conv["id"]]}) == {"messages": []}


# ---------------------------------------------------------------- namespaces


def missing_like(client, rpc, body):
    """The answer `client` gets for a conversation id that does not exist."""
    response = client.post(rpc, body)
    return response.status_code, response.json()


def test_namespace_isolation_read_update(api, other):
    conv = api.conversation(group_id="g", topic="mine")
    absent = str(uuid.uuid4())
    for rpc, body in [
        (READ_CONV, {"id": "ID"}),
        (READ_CONV, {"id": "ID", "group_id": "g"}),
        (UPDATE_CONV, {"id": "ID", "topic": "theirs"}),
    ]:
        theirs = other.post(rpc, {**body, "id": conv["id"]})
        assert_envelope(theirs, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
        assert (theirs.status_code, theirs.json()) == missing_like(other, rpc, {**body, "id": absent})
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}
    assert Conversation.objects.get(id=conv["id"]).topic == "mine"


def test_namespace_isolation_delete(api, other):
    conv = api.conversation()
    api.message(conv["id"])
    assert other.ok(DELETE_CONV, {"id": conv["id"]}) == {}
    assert counts() == (1, 1)
    assert api.ok(READ_CONV, {"id": conv["id"]}) == {"conversation": conv}


def test_namespace_isolation_list_conversations(api, other):
    mine = api.conversation(group_id="g")
    theirs = other.conversation(group_id="g")
    assert api.ok(LIST_CONVS, {"group_id": "g"}) == {"conversations": [mine]}
    assert other.ok(LIST_CONVS, {"group_id": "g"}) == {"conversations": [theirs]}
    assert Conversation.objects.get(id=mine["id"]).namespace.name == "micro"
    assert Conversation.objects.get(id=theirs["id"]).namespace.name == "other"


def test_namespace_isolation_create_and_list_messages(api, other):
    conv = api.conversation()
    message = api.message(conv["id"])
    absent = str(uuid.uuid4())
    create = {"author_id": "mallory", "conversation_id": conv["id"], "text": "spam"}
    response = other.post(CREATE_MSG, create)
    assert_envelope(response, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    assert (response.status_code, response.json()) == missing_like(
        other, CREATE_MSG, {**create, "conversation_id": absent}
    )
    response = other.post(LIST_MSGS, {"conversation_id": conv["id"]})
    assert_envelope(response, 404, "NOT_FOUND", NOT_FOUND_DETAIL)
    assert (response.status_code, response.json()) == missing_like(other, LIST_MSGS, {"conversation_id": absent})
    assert counts() == (1, 1)
    assert api.ok(LIST_MSGS, {"conversation_id": conv["id"]}) == {"messages": [message]}


def test_namespace_isolation_recent_messages(api, other):
    conv = api.conversation()
    api.message(conv["id"])
    theirs = other.conversation()
    their_message = other.message(theirs["id"])
    assert other.ok(RECENT, {"conversation_ids": [conv["id"]]}) == {"messages": []}
    assert other.ok(RECENT, {"conversation_ids": [conv["id"], theirs["id"]]}) == {"messages": [their_message]}


def test_namespaces_have_independent_message_order(api, other):
    """The ordering guarantee is per conversation: a message in another
    namespace does not shift this one's sent_at."""
    mine, theirs = api.conversation(), other.conversation()
    a = api.message(mine["id"])
    b = other.message(theirs["id"])
    c = api.message(mine["id"])
    assert parse_ts(a["sent_at"]) < parse_ts(c["sent_at"])
    assert Message.objects.get(id=b["id"]).namespace.name == "other"


# ---------------------------------------------------------------- query counts


def test_query_counts_conversations(api, assert_queries):
    with assert_queries(2):  # the first request of a key looks it up, then INSERT
        conv = api.conversation(group_id="g")
    # From here on the key is cached: one statement per read.
    with assert_queries(1):  # INSERT
        api.conversation(group_id="g")
    with assert_queries(1):  # SELECT
        api.ok(READ_CONV, {"id": conv["id"], "group_id": "g"})
    with assert_queries(3):  # SELECT ... FOR UPDATE, UPDATE, its live event
        api.ok(UPDATE_CONV, {"id": conv["id"], "topic": "new"})
    with assert_queries(1):  # SELECT
        assert len(api.ok(LIST_CONVS, {"group_id": "g"})["conversations"]) == 2


@pytest.mark.parametrize("messages", [0, 3, 30])
def test_query_counts_delete_conversation(api, assert_queries, messages):
    conv = api.conversation()
    orm_messages(conv["id"], messages)
    # Lock the conversation, its live event, DELETE its messages' reports and
    # review queue items, its messages, it: the number does not grow with the
    # messages (no row-by-row cascade).
    with assert_queries(6) as captured:
        assert api.ok(DELETE_CONV, {"id": conv["id"]}) == {}
    deletes = [
        q["sql"].split()[2].strip('"') for q in captured.captured_queries if q["sql"].upper().startswith("DELETE")
    ]
    assert deletes == ["streams_report", "streams_reportedmessage", "streams_message", "streams_conversation"]
    assert counts() == (0, 0)
    with assert_queries(1):  # the (absent) conversation
        assert api.ok(DELETE_CONV, {"id": conv["id"]}) == {}


def test_query_counts_messages(api, assert_queries):
    conv = api.conversation()
    first = api.message(conv["id"])
    with assert_queries(create_message_statements()):
        api.message(conv["id"])
    with assert_queries(1):  # the page (its messages prove the conversation exists)
        assert len(api.ok(LIST_MSGS, {"conversation_id": conv["id"]})["messages"]) == 2
    with assert_queries(2):  # an empty page, then: does the conversation exist?
        assert api.ok(LIST_MSGS, {"conversation_id": conv["id"], "sent_before": first["sent_at"]}) == {"messages": []}
    with assert_queries(2):  # the same two for a conversation that does not exist
        api.err(LIST_MSGS, {"conversation_id": str(uuid.uuid4())}, 404, "NOT_FOUND")
    with assert_queries(1):  # one statement
        assert len(api.ok(RECENT, {"conversation_ids": [conv["id"]]})["messages"]) == 2


def test_query_counts_recent_messages_with_a_hundred_conversations(api, assert_queries):
    namespace = Namespace.objects.get(name="micro")
    convs = Conversation.objects.bulk_create(
        Conversation(namespace=namespace, group_id="g", topic=f"c{i}") for i in range(100)
    )
    Message.objects.bulk_create(
        Message(
            namespace=namespace,
            conversation=conv,
            author_id="a",
            text=f"{conv.topic} {j}",
            sent_at=BASE + datetime.timedelta(seconds=j),
        )
        for conv in convs
        for j in range(3)
    )
    given = [str(conv.id) for conv in convs][::-1]
    api.ok(LIST_CONVS, {"group_id": "warm-up"})  # the key is cached from here on
    with assert_queries(1):
        body = api.ok(RECENT, {"conversation_ids": given, "limit_per_conversation": 2})
    expected = [f"c{i} {j}" for i in range(99, -1, -1) for j in (2, 1)]
    assert texts(body["messages"]) == expected


# ---------------------------------------------------------------- index use


UNIQUE_INDEX = "streams_message_conversation_sent_at_uniq"
OTHER_PARENTS = 20
UNIQUE_COLUMNS = ["namespace_id", "conversation_id", "sent_at"]
PAGE_INDEXES = (UNIQUE_INDEX, parent_index_name(Message))  # either gives a page's order (pages.parent_stretch)


@pytest.mark.parametrize("with_sent_before", [False, True])
def test_list_messages_reads_a_page_index(api, with_sent_before):
    conv = api.conversation()
    orm_messages(conv["id"], 50)
    # As in a real namespace, most of its messages belong to other conversations,
    # written at the same times: only the (namespace, conversation, sent_at)
    # index reads just the rows this page needs.
    for _ in range(OTHER_PARENTS):
        orm_messages(api.conversation()["id"], 50)
    namespace = Namespace.objects.get(name="micro")
    sent_before = BASE + datetime.timedelta(seconds=20) if with_sent_before else None
    conversation_id = uuid.UUID(conv["id"])
    # The shell's statements, and the RPC's (on PostgreSQL the same page, each row's JSON written by the database).
    rpc_statements, _ = statements.pages.for_render(stream_serializers.render_message_rows)
    for page_statements in (statements.pages.typed, rpc_statements):
        if sent_before is None:
            page, values = page_statements.first, (*stretch_values(namespace.pk, conversation_id), 25)
        else:
            page, values = page_statements.before, (*stretch_values(namespace.pk, conversation_id, sent_before), 25)
        assert_reads_a_page_index(Message, page, values, UNIQUE_INDEX, UNIQUE_COLUMNS)
    page = statements.pages.typed.first if sent_before is None else statements.pages.typed.before
    # What that statement answers is the page as the ORM reads it, and what ListMessages answers.
    expected = [str(m.id) for m in newest_messages(Message, namespace, conversation_id, sent_before=sent_before)]
    assert [str(row.id) for row in page.rows(*values)] == expected
    body = {"conversation_id": conv["id"], "sent_before": fmt_ts(sent_before) if sent_before else None}
    assert ids(api.ok(LIST_MSGS, body)["messages"]) == expected


def test_a_big_quiet_conversation_is_still_read_from_a_page_index(api):
    """A conversation holding most of the namespace's messages, all older
    than the other conversations' newest: with the column statistics
    (ANALYZE), PostgreSQL's planner took the conversation for most of the
    table and walked the newest-first `sent_at` index, filtering out every
    newer message of the others (1.6x the time at 1,000,000 messages, and
    unbounded for a quiet conversation among busy ones). Bounded as
    pages.parent_stretch bounds them, the page, the deep page and
    CreateMessage's newest sent_at stay a walk of an index in their order
    (the unique one or the (conversation, sent_at) one)."""
    big = api.conversation()["id"]
    orm_messages(big, 3000, start=BASE)
    for _ in range(50):
        orm_messages(api.conversation()["id"], 6, start=BASE + datetime.timedelta(days=1), prefix="newer")
    namespace = Namespace.objects.get(name="micro")
    big_id = uuid.UUID(big)
    rpc_statements, _ = statements.pages.for_render(stream_serializers.render_message_rows)
    for page_statements in (statements.pages.typed, rpc_statements):
        assert_reads_a_page_index(
            Message, page_statements.first, (*stretch_values(namespace.pk, big_id), 25), UNIQUE_INDEX, UNIQUE_COLUMNS
        )
        assert_reads_a_page_index(
            Message,
            page_statements.before,
            (*stretch_values(namespace.pk, big_id, BASE + datetime.timedelta(seconds=100)), 25),
            UNIQUE_INDEX,
            UNIQUE_COLUMNS,
        )
    appender = statements.messages
    if connection.vendor == "postgresql":
        claim, values = appender.claim, (timezone.now(), *stretch_values(namespace.pk, big_id), namespace.pk, big_id)
    else:
        claim, values = appender.newest_sent_at, (*stretch_values(namespace.pk, big_id), namespace.pk, big_id)
    assert_reads_a_page_index(Message, claim, values, UNIQUE_INDEX, UNIQUE_COLUMNS)
    body = api.ok(LIST_MSGS, {"conversation_id": big})
    assert [m["text"] for m in body["messages"]] == [f"m {i}" for i in range(3000, 2975, -1)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics and plans")
def test_a_quiet_conversation_beside_one_busy_one_reads_only_its_own_messages(api):
    """Two conversations, the quiet one's messages all older than the busy
    one's, the table analyzed: told `conversation_id = ...`, PostgreSQL's
    planner took the conversation for half the table and walked the
    newest-first `sent_at` index, filtering, through every message of the
    busy one (the bench's 1-worker read: 261 req/s). Every statement that
    reads one conversation newest first (ListMessages' pages,
    RecentMessages, CreateMessage's newest sent_at) reads only rows of that
    conversation, from an index in the page's order (the unique one or the
    (conversation, sent_at) one)."""
    quiet, busy = api.conversation()["id"], api.conversation()["id"]
    orm_messages(quiet, 300, start=BASE)
    orm_messages(busy, 3000, start=BASE + datetime.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE streams_message")
    with CaptureQueriesContext(connection) as captured:
        page = api.ok(LIST_MSGS, {"conversation_id": quiet})["messages"]
        older = api.ok(LIST_MSGS, {"conversation_id": quiet, "sent_before": page[-1]["sent_at"]})["messages"]
        recent = api.ok(RECENT, {"conversation_ids": [quiet], "limit_per_conversation": 5})["messages"]
        api.ok(CREATE_MSG, {"conversation_id": quiet, "author_id": "alice", "text": "hi"})
    assert [m["text"] for m in page + older] == [f"m {i}" for i in range(300, 250, -1)]
    assert [m["text"] for m in recent] == [f"m {i}" for i in range(300, 295, -1)]
    reads = [q["sql"] for q in captured.captured_queries if "streams_message" in q["sql"] and "sent_at" in q["sql"]]
    assert len(reads) == 4, reads
    with connection.cursor() as cursor:
        for sql in reads[:3]:  # the writing statement is planned, not run again
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert any(index in plan for index in PAGE_INDEXES) and "Rows Removed by Filter" not in plan, plan
            # No sort of a conversation's messages (RecentMessages sorts its answer by position).
            assert all("wanted" in line for line in plan.splitlines() if "Sort Key" in line), plan
        cursor.execute("EXPLAIN " + reads[3])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert any(f"Scan Backward using {index}" in plan for index in PAGE_INDEXES), plan
        assert "sent_idx" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the LATERAL form is PostgreSQL's")
def test_recent_messages_reads_each_conversation_from_a_page_index(api):
    """PostgreSQL: one LATERAL join, a LIMITed backward scan of an index in
    the page's order per conversation; the messages table is never scanned
    or sorted."""
    convs = [api.conversation()["id"] for _ in range(OTHER_PARENTS)]
    for conv in convs:
        orm_messages(conv, 50)
    namespace = Namespace.objects.get(name="micro")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE streams_message")
        cursor.execute("SET LOCAL enable_seqscan = off")
    rpc_statements, as_json = statements.pages.for_render(stream_serializers.render_message_rows)
    assert as_json  # the RPC's rows are the database's JSON
    for lateral in (statements.pages.typed.each_lateral, rpc_statements.each_lateral):
        plan = explain(lateral, *each_values(namespace.pk, [uuid.UUID(c) for c in convs]), 3)
        assert any(f"Index Scan Backward using {index}" in plan for index in PAGE_INDEXES), plan
        assert "Seq Scan on streams_message" not in plan, plan
        # Only the answer (at most 3 per conversation) is sorted, by position.
        sort_keys = [line for line in plan.splitlines() if "Sort Key" in line]
        assert sort_keys and all("position" in line for line in sort_keys), plan
    body = api.ok(RECENT, {"conversation_ids": convs, "limit_per_conversation": 3})
    assert len(body["messages"]) == 3 * len(convs)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the JSON array form is SQLite's")
def test_recent_messages_reads_each_conversation_from_the_unique_index_on_sqlite(api, assert_queries):
    """SQLite: one statement, the ids a JSON array, each joined to a LIMITed
    walk of the unique index (newest first, no sort of its own) by a
    correlated IN; only the answer is sorted."""
    convs = [api.conversation()["id"] for _ in range(OTHER_PARENTS)]
    for conv in convs:
        orm_messages(conv, 50)
    namespace = Namespace.objects.get(name="micro")
    listed = json.dumps([uuid.UUID(c).hex for c in convs])
    plan = explain(statements.pages.typed.each_listed, listed, namespace.pk, 3)
    index = unique_index_name(Message, UNIQUE_INDEX, UNIQUE_COLUMNS)
    assert f"SEARCH page USING INDEX {index} (namespace_id=? AND conversation_id=?)" in plan, plan
    assert "SCAN streams_message" not in plan and "SCAN page" not in plan, plan
    assert plan.count("TEMP B-TREE") == 1, plan  # the answer's order (position, sent_at)
    with assert_queries(1):
        body = api.ok(RECENT, {"conversation_ids": convs, "limit_per_conversation": 3})
    expected = [
        str(m.id) for conv in convs for m in newest_messages(Message, namespace, uuid.UUID(conv), sent_before=None)[:3]
    ]
    assert ids(body["messages"]) == expected


def test_pages_are_newest_first_across_whole_seconds_and_fractions(api):
    """Pages in time order whatever the stored text: SQLite stores a
    timestamp without its fraction when it is zero, and its RPC pages come
    back as one packed row whose order is made again from that text
    (convoproject.messaging.pages.unpack). Messages written out of order, on
    whole seconds and a microsecond either side, with texts JSON must
    escape; ListMessages' two pages and RecentMessages over conversations
    given out of order give them newest first, parent by parent."""
    second, micro = datetime.timedelta(seconds=1), datetime.timedelta(microseconds=1)
    start = datetime.datetime(2021, 1, 22, 15, 1, 13, tzinfo=UTC)
    offsets = [second, -micro, 0 * second, 2 * second - micro, micro, 2 * second, second + micro, -second]
    texts = ['"quoted"', "back\\slash", "tab\tnew\nline", "\u2028", "ünï €", "\x01", "[1, 2]", "{}"]
    convs = [api.conversation()["id"] for _ in range(3)]
    for shift, conv in enumerate(convs):
        conversation = Conversation.objects.get(id=conv)
        Message.objects.bulk_create(
            Message(
                namespace_id=conversation.namespace_id,
                conversation=conversation,
                author_id="bot",
                text=f"{shift} {text}",
                sent_at=start + shift * datetime.timedelta(days=1) + offset,
            )
            for offset, text in zip(offsets, texts, strict=True)
        )

    def newest_first(conv):
        rows = Message.objects.filter(conversation_id=conv).order_by("-sent_at")
        return [(row.text, format_timestamp(row.sent_at)) for row in rows]

    def pairs(messages):
        return [(m["text"], m["sent_at"]) for m in messages]

    expected = newest_first(convs[1])
    assert len({sent_at for _, sent_at in expected}) == len(offsets)
    page = api.ok(LIST_MSGS, {"conversation_id": convs[1], "limit": 5})["messages"]
    older = api.ok(LIST_MSGS, {"conversation_id": convs[1], "sent_before": page[-1]["sent_at"]})["messages"]
    assert pairs(page + older) == expected
    wanted = [convs[2], convs[0], convs[1]]
    recent = api.ok(RECENT, {"conversation_ids": wanted, "limit_per_conversation": 6})["messages"]
    assert pairs(recent) == [pair for conv in wanted for pair in newest_first(conv)[:6]]


def test_unpack_puts_a_packed_page_in_time_order_whatever_order_sqlite_gave():
    """SQLite hands json_group_array() the subquery's rows in order, but does
    not promise it (3.40 has no ORDER BY inside an aggregate): unpack()
    orders them itself, by the stored text, a whole second's text a prefix
    of the same second's with a fraction; RecentMessages' rows parent by
    parent in the order asked, their positions left out."""
    stored = ["2021-01-22 15:01:14", "2021-01-22 15:01:13.999999", "2021-01-22 15:01:14.000001", "2021-01-22 15:01:15"]
    rows = [["id", "bob", "conv", f"text {i}", sent_at] for i, sent_at in enumerate(stored)]
    newest_first = [rows[3], rows[2], rows[0], rows[1]]
    for order in itertools.permutations(rows):
        assert unpack([(json.dumps(list(order)),)], 4) == newest_first
    # Parent 0 asked first holds rows 0 and 1, parent 1 rows 2 and 3.
    positioned = [[0, *rows[0]], [0, *rows[1]], [1, *rows[2]], [1, *rows[3]]]
    for order in itertools.permutations(positioned):
        assert unpack([(json.dumps(list(order)),)], 5, positioned=True) == [rows[0], rows[1], rows[3], rows[2]]


def test_create_message_reads_the_newest_sent_at_from_the_end_of_a_page_index(api):
    """One index entry however long the history: without the namespace in the
    filter no index fits, and the newest would be searched for among every
    message of every conversation (seconds for a quiet conversation at 1M).
    On PostgreSQL the term is part of the UPDATE that locks the conversation,
    on SQLite of the SELECT of its row."""
    conv = api.conversation()
    for _ in range(OTHER_PARENTS):
        orm_messages(api.conversation()["id"], 50)
    # Written without the Appender (last_sent_at not kept), after now.
    orm_messages(conv["id"], 50, start=timezone.now() + datetime.timedelta(days=1))
    namespace = Namespace.objects.get(name="micro")
    appender, conv_id = statements.messages, uuid.UUID(conv["id"])
    if connection.vendor == "postgresql":
        statement, values = (
            appender.claim,
            (timezone.now(), *stretch_values(namespace.pk, conv_id), namespace.pk, conv_id),
        )
    else:
        statement, values = appender.newest_sent_at, (*stretch_values(namespace.pk, conv_id), namespace.pk, conv_id)
    assert_reads_a_page_index(Message, statement, values, UNIQUE_INDEX, UNIQUE_COLUMNS)
    newest = Message.objects.filter(conversation_id=conv_id).latest("sent_at").sent_at
    with transaction.atomic():
        assert appender.claimed_parent(namespace.pk, conv_id).last_sent_at == newest + ONE_MICROSECOND
        transaction.set_rollback(True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan cache")
def test_pages_are_planned_once_per_connection_on_postgresql(api):
    """The page statements' parent and sent_before are opaque to the planner
    and their size is written in (pages.parent_stretch, SizedPage): after
    its first runs on a connection, each page statement is prepared
    (DB_PREPARE_THRESHOLD) and PostgreSQL's plan cache runs one generic
    plan, not a new plan for every page. Through the RPC: a first page, a
    page before a time, and RecentMessages' pages (its ids and namespace
    opaque too)."""
    conversations = [api.conversation()["id"] for _ in range(3)]
    for conversation_id in conversations:
        orm_messages(conversation_id, 30)  # the others: the page is not all there is
    pages = {
        "first": (LIST_MSGS, {"conversation_id": conversations[0]}),
        "before": (
            LIST_MSGS,
            {"conversation_id": conversations[0], "sent_before": fmt_ts(BASE + datetime.timedelta(seconds=20))},
        ),
        "recent": (RECENT, {"conversation_ids": conversations, "limit_per_conversation": 5}),
    }
    planned = {}
    for name, (method, body) in pages.items():
        for _ in range(15):
            api.ok(method, body)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM streams_message%' AND statement LIKE '%(SELECT $%'"
            )
            new = {sql: plans for sql, *plans in cursor.fetchall() if sql not in planned}
        assert len(new) == 1, (name, list(new))  # the page's own statement, prepared
        planned.update(new)
        ((generic, custom),) = new.values()
        # psycopg prepares it on its 6th run; PostgreSQL plans the first 5 of
        # those for their values, and then uses the plan made for none.
        assert (generic, custom) == (5, 5), name
