"""Chats: CreateChat, CreateMessage, ListMessages (CONTRACT 3, 5, 6)."""

import datetime
import re
import uuid

import pytest

from chats import serializers as chat_serializers
from chats import statements
from chats.models import Chat, Message
from convoproject.messaging.pages import stretch_values
from tests.support.counts import create_message_statements
from tests.support.factories import newest_messages
from tests.support.plans import assert_reads_a_page_index
from tests.support.rpc import assert_envelope

SECOND = datetime.timedelta(seconds=1)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MISSING_USER_IDS = ("MISSING_USER_IDs", "Two or more user IDs are required")


def parse_ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_chat_shape(chat):
    assert set(chat) == {"id", "user_ids", "created_at"}
    assert UUID_RE.fullmatch(chat["id"]), chat
    assert TIMESTAMP_RE.fullmatch(chat["created_at"]), chat
    assert isinstance(chat["user_ids"], list)


def assert_message_shape(message):
    assert set(message) == {"id", "author_id", "chat_id", "text", "sent_at"}
    assert UUID_RE.fullmatch(message["id"]), message
    assert TIMESTAMP_RE.fullmatch(message["sent_at"]), message


def list_messages(api, chat_id, **fields):
    return api.ok("Chats/ListMessages", {"chat_id": chat_id, **fields})["messages"]


# ------------------------------------------------------------------ CreateChat


def test_create_chat_shape(api):
    body = api.ok("Chats/CreateChat", {"user_ids": ["bob", "alice"]})
    assert set(body) == {"chat"}
    chat = body["chat"]
    assert_chat_shape(chat)
    assert chat["user_ids"] == ["alice", "bob"]
    now = datetime.datetime.now(datetime.UTC)
    assert abs(now - parse_ts(chat["created_at"])) < datetime.timedelta(minutes=1)
    row = Chat.objects.get()
    assert str(row.id) == chat["id"]
    assert row.namespace.name == "micro"


@pytest.mark.parametrize(
    "user_ids, expected",
    [
        (["b", "a", "c"], ["a", "b", "c"]),
        # Upper case sorts before lower case; digits by code point, not numerically.
        (["b", "B", "a", "A", "10", "9"], ["10", "9", "A", "B", "a", "b"]),
        # Code point order, not UTF-16 order: U+FF5E < U+1F600 although the
        # emoji's surrogates (0xD83D...) sort below 0xFF5E in UTF-16.
        (["\U0001f600", "\uff5e", "é", "z"], ["z", "é", "\uff5e", "\U0001f600"]),
        # Stored exactly: a leading space makes a different (non-blank) id.
        (["a", " a"], [" a", "a"]),
    ],
)
def test_create_chat_sorts_user_ids_by_code_point(api, user_ids, expected):
    assert api.chat(user_ids)["user_ids"] == expected


def test_same_set_in_any_order_is_the_same_chat(api):
    first = api.chat(["carol", "alice", "bob"])
    for order in (["alice", "bob", "carol"], ["bob", "carol", "alice"], ["carol", "bob", "alice", "bob"]):
        assert api.chat(order) == first
    assert Chat.objects.count() == 1


def test_different_sets_are_different_chats(api):
    ab = api.chat(["a", "b"])
    abc = api.chat(["a", "b", "c"])
    bc = api.chat(["b", "c"])
    assert len({ab["id"], abc["id"], bc["id"]}) == 3
    assert Chat.objects.count() == 3


def test_blanks_are_dropped(api):
    chat = api.chat(["", "alice", "   ", "\t\n", "bob"])
    assert chat["user_ids"] == ["alice", "bob"]
    assert api.chat(["alice", "bob"]) == chat


def test_duplicates_are_merged(api):
    chat = api.chat(["alice", "bob", "alice", "bob", "alice"])
    assert chat["user_ids"] == ["alice", "bob"]
    assert api.chat(["bob", "alice"]) == chat


def test_user_ids_are_compared_exactly(api):
    lower = api.chat(["alice", "bob"])
    upper = api.chat(["Alice", "bob"])
    assert lower["id"] != upper["id"]
    assert upper["user_ids"] == ["Alice", "bob"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_ids": None},
        {"user_ids": []},
        {"user_ids": ["alice"]},
        {"user_ids": ["alice", "alice"]},
        {"user_ids": ["alice", "", "  "]},
        {"user_ids": ["", " "]},
    ],
)
def test_fewer_than_two_distinct_user_ids(api, body):
    api.err("Chats/CreateChat", body, 400, *MISSING_USER_IDS)
    assert Chat.objects.count() == 0


def test_one_hundred_distinct_user_ids_is_fine(api):
    ids = [f"user{i:03d}" for i in range(100)]
    chat = api.chat(list(reversed(ids)) + ids[:10])  # 110 entries, 100 distinct
    assert chat["user_ids"] == ids


@pytest.mark.parametrize("count", [101, 150])
def test_more_than_one_hundred_distinct_user_ids(api, count):
    api.err("Chats/CreateChat", {"user_ids": [f"user{i}" for i in range(count)]}, 400, "TOO_MANY_IDS")
    assert Chat.objects.count() == 0


def test_user_id_length_limit(api):
    # 255 code points is fine, even when each is 4 bytes in UTF-8.
    emoji = "\U0001f600" * 255
    chat = api.chat(["a" * 255, emoji])
    assert chat["user_ids"] == ["a" * 255, emoji]
    assert Chat.objects.get().user_ids == ["a" * 255, emoji]
    for too_long in ("a" * 256, "\U0001f600" * 256):
        body = api.err("Chats/CreateChat", {"user_ids": ["alice", too_long]}, 400, "TOO_LONG")
        assert "255" in body["detail"]
    assert Chat.objects.count() == 1


@pytest.mark.parametrize(
    "user_ids",
    [
        "alice,bob",
        "alice",
        5,
        True,
        {"alice": "bob"},
        {},
        {"value": ["alice", "bob"]},
        ["alice", 5],
        ["alice", "bob", None],
        ["alice", None, "bob"],
        ["alice", ["bob"]],
        ["alice", {"value": "bob"}],
        ["alice", True],
        ["alice", "b\x00b"],
        ["alice", "b\ud800b"],  # a lone surrogate is not valid Unicode
    ],
)
def test_user_ids_of_the_wrong_type(api, user_ids):
    body = api.err("Chats/CreateChat", {"user_ids": user_ids}, 400, "BAD_REQUEST")
    assert "user_ids" in body["detail"]
    assert Chat.objects.count() == 0


def test_unknown_fields_are_ignored(api):
    chat = api.ok("Chats/CreateChat", {"user_ids": ["a", "b"], "id": "x", "created_at": "nope", "extra": [1]})["chat"]
    assert chat["user_ids"] == ["a", "b"]
    assert chat["id"] != "x"


def test_repeated_create_chat_keeps_one_row(api):
    chats = [api.chat(ids) for ids in (["a", "b"], ["b", "a"], ["a", "b", "a"], ["", "b", "a"]) * 3]
    assert all(chat == chats[0] for chat in chats)
    assert Chat.objects.count() == 1
    assert Chat.objects.get().user_ids == ["a", "b"]


# --------------------------------------------------------------- CreateMessage


@pytest.fixture
def chat(api):
    return api.chat(["alice", "bob"])


def test_create_message_shape(api, chat):
    body = api.ok("Chats/CreateMessage", {"author_id": "bob", "chat_id": chat["id"], "text": "hello"})
    assert set(body) == {"message"}
    message = body["message"]
    assert_message_shape(message)
    assert message["author_id"] == "bob"
    assert message["chat_id"] == chat["id"]
    assert message["text"] == "hello"
    assert list_messages(api, chat["id"]) == [message]
    row = Message.objects.get()
    assert str(row.id) == message["id"]
    assert row.namespace.name == "micro"


@pytest.mark.parametrize("text", ["  padded\n", "emoji \U0001f600 and ünïcödé", "line1\r\nline2\t", "<b>&amp;</b>"])
def test_message_text_is_stored_exactly(api, chat, text):
    message = api.chat_message(chat["id"], "alice", text)
    assert message["text"] == text
    assert list_messages(api, chat["id"])[0]["text"] == text
    assert Message.objects.get().text == text


@pytest.mark.parametrize(
    "body, code, error_id, detail",
    [
        # author_id first
        ({}, 400, "MISSING_AUTHOR_ID", "Missing Author ID"),
        ({"chat_id": "CHAT", "text": "hi"}, 400, "MISSING_AUTHOR_ID", "Missing Author ID"),
        ({"author_id": None, "chat_id": None, "text": None}, 400, "MISSING_AUTHOR_ID", "Missing Author ID"),
        ({"author_id": "  ", "chat_id": "CHAT", "text": "hi"}, 400, "MISSING_AUTHOR_ID", "Missing Author ID"),
        ({"author_id": 7, "text": "x" * 10_001}, 400, "BAD_REQUEST", None),
        ({"author_id": ["alice"], "chat_id": "CHAT", "text": "hi"}, 400, "BAD_REQUEST", None),
        ({"author_id": "a" * 256}, 400, "TOO_LONG", None),
        # then chat_id
        ({"author_id": "alice"}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"author_id": "alice", "chat_id": "", "text": "hi"}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"author_id": "alice", "chat_id": None, "text": "x" * 10_001}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"author_id": "alice", "chat_id": 5, "text": ""}, 400, "BAD_REQUEST", None),
        ({"author_id": "alice", "chat_id": {"value": "CHAT"}, "text": "hi"}, 400, "BAD_REQUEST", None),
        # then text, before any database lookup
        ({"author_id": "alice", "chat_id": "CHAT"}, 400, "MISSING_TEXT", "Missing text"),
        ({"author_id": "alice", "chat_id": "CHAT", "text": " \n\t "}, 400, "MISSING_TEXT", "Missing text"),
        ({"author_id": "mallory", "chat_id": "UNKNOWN", "text": ""}, 400, "MISSING_TEXT", "Missing text"),
        ({"author_id": "mallory", "chat_id": "not-a-uuid", "text": "x" * 10_001}, 400, "TOO_LONG", None),
        ({"author_id": "alice", "chat_id": "CHAT", "text": 42}, 400, "BAD_REQUEST", None),
        ({"author_id": "alice", "chat_id": "CHAT", "text": "nul\x00"}, 400, "BAD_REQUEST", None),
        # then NOT_FOUND, then NOT_A_MEMBER
        ({"author_id": "alice", "chat_id": "UNKNOWN", "text": "hi"}, 404, "NOT_FOUND", "Chat not found"),
        ({"author_id": "mallory", "chat_id": "UNKNOWN", "text": "hi"}, 404, "NOT_FOUND", "Chat not found"),
        ({"author_id": "alice", "chat_id": "not-a-uuid", "text": "hi"}, 404, "NOT_FOUND", "Chat not found"),
        ({"author_id": "alice", "chat_id": "CHAT-with-suffix", "text": "hi"}, 404, "NOT_FOUND", "Chat not found"),
        ({"author_id": "mallory", "chat_id": "CHAT", "text": "hi"}, 403, "NOT_A_MEMBER", None),
        ({"author_id": "Alice", "chat_id": "CHAT", "text": "hi"}, 403, "NOT_A_MEMBER", None),
        ({"author_id": "alice ", "chat_id": "CHAT", "text": "hi"}, 403, "NOT_A_MEMBER", None),
    ],
)
def test_create_message_errors_in_order(api, chat, body, code, error_id, detail):
    api.chat_message(chat["id"], "alice", "before")
    substitutes = {"CHAT": chat["id"], "UNKNOWN": str(uuid.uuid4()), "CHAT-with-suffix": chat["id"] + "0"}
    body = {k: substitutes.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    api.err("Chats/CreateMessage", body, code, error_id, detail)
    # nothing written
    assert Message.objects.count() == 1
    assert [m["text"] for m in list_messages(api, chat["id"])] == ["before"]


def test_error_detail_names_the_field(api, chat):
    body = api.err("Chats/CreateMessage", {"author_id": "alice", "chat_id": chat["id"], "text": 1}, 400, "BAD_REQUEST")
    assert "text" in body["detail"]
    body = api.err("Chats/CreateMessage", {"author_id": "a" * 256}, 400, "TOO_LONG")
    assert "author_id" in body["detail"]
    assert "255" in body["detail"]
    body = api.err(
        "Chats/CreateMessage", {"author_id": "alice", "chat_id": chat["id"], "text": "x" * 10_001}, 400, "TOO_LONG"
    )
    assert "text" in body["detail"]
    assert "10000" in body["detail"].replace(",", "")


def test_a_streams_conversation_id_is_not_a_chat(api, chat):
    conversation = api.conversation()
    body = {"author_id": "alice", "chat_id": conversation["id"], "text": "hi"}
    api.err("Chats/CreateMessage", body, 404, "NOT_FOUND", "Chat not found")
    api.err("Chats/ListMessages", {"chat_id": conversation["id"]}, 404, "NOT_FOUND", "Chat not found")


def test_text_limits(api, chat):
    for text in ("x", "x" * 10_000, "\U0001f600" * 10_000):
        assert api.chat_message(chat["id"], "alice", text)["text"] == text
    for text in ("x" * 10_001, "\U0001f600" * 10_001):
        body = {"author_id": "alice", "chat_id": chat["id"], "text": text}
        api.err("Chats/CreateMessage", body, 400, "TOO_LONG")
    assert Message.objects.count() == 3


def test_author_id_limits(api):
    long_id = "\U0001f600" * 255
    chat = api.chat(["alice", long_id])
    assert api.chat_message(chat["id"], long_id)["author_id"] == long_id


def test_every_member_may_write(api):
    chat = api.chat(["alice", "bob", "carol"])
    for author in ("carol", "alice", "bob"):
        assert api.chat_message(chat["id"], author)["author_id"] == author
    assert [m["author_id"] for m in list_messages(api, chat["id"])] == ["bob", "alice", "carol"]


def test_sent_at_strictly_increases(api, chat):
    messages = [api.chat_message(chat["id"], "alice", str(i)) for i in range(10)]
    stamps = [parse_ts(m["sent_at"]) for m in messages]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


# ---------------------------------------------------------------- ListMessages


def test_list_messages_of_an_empty_chat(api, chat):
    assert api.ok("Chats/ListMessages", {"chat_id": chat["id"]}) == {"messages": []}


def test_list_messages_default_limit_is_25_newest_first(api, chat):
    created = [api.chat_message(chat["id"], "alice" if i % 2 else "bob", f"m{i}") for i in range(30)]
    listed = list_messages(api, chat["id"])
    assert listed == list(reversed(created))[:25]
    for message in listed:
        assert_message_shape(message)
    stamps = [m["sent_at"] for m in listed]
    assert stamps == sorted(stamps, reverse=True)
    # Null, {} and a blank string mean "absent".
    for limit in (None, {}, {"value": None}, ""):
        assert list_messages(api, chat["id"], limit=limit) == listed


@pytest.mark.parametrize(
    "limit, expected", [(1, 1), (3, 3), ("3", 3), ({"value": 4}, 4), ({"value": "2"}, 2), (1000, 6)]
)
def test_list_messages_explicit_limit(api, chat, limit, expected):
    created = [api.chat_message(chat["id"], "alice", f"m{i}") for i in range(6)]
    assert list_messages(api, chat["id"], limit=limit) == list(reversed(created))[:expected]


@pytest.mark.parametrize("limit", [0, -1, 1001, "abc", "1.5", 1.5, True, [5], {"value": 0}, "1e3"])
def test_list_messages_invalid_limit(api, chat, limit):
    api.err("Chats/ListMessages", {"chat_id": chat["id"], "limit": limit}, 400, "INVALID_LIMIT")


@pytest.mark.parametrize(
    "sent_before",
    [
        "2021-01-22",
        "2021-01-22T15:01:13",
        "2021-01-22T15:01:13.123456",
        "yesterday",
        1611327673,
        "2021-02-30T00:00:00Z",
    ],
)
def test_list_messages_invalid_sent_before(api, chat, sent_before):
    api.err("Chats/ListMessages", {"chat_id": chat["id"], "sent_before": sent_before}, 400, "INVALID_TIMESTAMP")


def test_list_messages_sent_before_is_strict(api, chat):
    created = [api.chat_message(chat["id"], "alice", f"m{i}") for i in range(5)]
    assert list_messages(api, chat["id"], sent_before=created[3]["sent_at"]) == created[2::-1]
    assert list_messages(api, chat["id"], sent_before=created[0]["sent_at"]) == []
    far_future = "9999-12-31T23:59:59.999999Z"
    assert list_messages(api, chat["id"], sent_before=far_future) == created[::-1]
    # An offset other than Z means the same instant.
    newest = parse_ts(created[4]["sent_at"])
    plus_two = newest.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()
    assert list_messages(api, chat["id"], sent_before=plus_two) == created[3::-1]


def test_sent_before_paging_returns_every_message_exactly_once(api, chat):
    created = [api.chat_message(chat["id"], "alice" if i % 3 else "bob", f"m{i}") for i in range(11)]
    seen, sent_before = [], None
    for _ in range(10):
        fields = {"limit": 3} | ({"sent_before": sent_before} if sent_before else {})
        page = list_messages(api, chat["id"], **fields)
        if not page:
            break
        assert len(page) <= 3
        seen.extend(page)
        sent_before = page[-1]["sent_at"]
    assert seen == list(reversed(created))
    assert len({m["id"] for m in seen}) == 11


def test_hidden_messages_are_never_returned(api, chat):
    created = [api.chat_message(chat["id"], "alice", f"m{i}") for i in range(6)]
    hidden = {created[1]["id"], created[4]["id"], created[5]["id"]}
    Message.objects.filter(id__in=hidden).update(hidden=True)
    visible = [m for m in reversed(created) if m["id"] not in hidden]
    assert list_messages(api, chat["id"]) == visible
    assert list_messages(api, chat["id"], limit=2) == visible[:2]
    assert list_messages(api, chat["id"], sent_before=created[5]["sent_at"], limit=1) == visible[:1]
    # paging also skips them
    assert list_messages(api, chat["id"], sent_before=visible[1]["sent_at"], limit=5) == visible[2:]
    # A hidden newest message still counts for the ordering guarantee.
    new = api.chat_message(chat["id"], "bob", "after")
    assert parse_ts(new["sent_at"]) > parse_ts(created[5]["sent_at"])
    assert list_messages(api, chat["id"], limit=1) == [new]


@pytest.mark.parametrize(
    "body, code, error_id, detail",
    [
        ({}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"chat_id": None, "limit": 0, "sent_before": "bad"}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"chat_id": "  "}, 400, "MISSING_CHAT_ID", "Missing Chat ID"),
        ({"chat_id": 12}, 400, "BAD_REQUEST", None),
        # sent_before is checked before limit, both before the lookup
        ({"chat_id": "UNKNOWN", "sent_before": "bad", "limit": 0}, 400, "INVALID_TIMESTAMP", None),
        ({"chat_id": "UNKNOWN", "limit": 0}, 400, "INVALID_LIMIT", None),
        ({"chat_id": "UNKNOWN"}, 404, "NOT_FOUND", "Chat not found"),
        ({"chat_id": "not-a-uuid"}, 404, "NOT_FOUND", "Chat not found"),
    ],
)
def test_list_messages_errors(api, chat, body, code, error_id, detail):
    body = {k: str(uuid.uuid4()) if v == "UNKNOWN" else v for k, v in body.items()}
    api.err("Chats/ListMessages", body, code, error_id, detail)


# ----------------------------------------------------------------- namespaces


def test_another_namespaces_chat_is_not_found(api, other, chat):
    api.chat_message(chat["id"], "alice", "secret")
    body = {"author_id": "alice", "chat_id": chat["id"], "text": "hi"}
    other.err("Chats/CreateMessage", body, 404, "NOT_FOUND", "Chat not found")
    other.err("Chats/ListMessages", {"chat_id": chat["id"]}, 404, "NOT_FOUND", "Chat not found")
    assert Message.objects.count() == 1
    assert [m["text"] for m in list_messages(api, chat["id"])] == ["secret"]


def test_same_users_in_another_namespace_get_another_chat(api, other, chat):
    theirs = other.chat(["bob", "alice"])
    assert theirs["id"] != chat["id"]
    assert theirs["user_ids"] == chat["user_ids"]
    assert other.chat(["alice", "bob"]) == theirs
    assert api.chat(["alice", "bob"]) == chat
    assert Chat.objects.count() == 2
    assert Chat.objects.filter(namespace__name="micro").count() == 1
    api.chat_message(chat["id"], "alice", "in micro")
    other.chat_message(theirs["id"], "alice", "in other")
    assert [m["text"] for m in list_messages(api, chat["id"])] == ["in micro"]
    assert [m["text"] for m in list_messages(other, theirs["id"])] == ["in other"]
    api.err("Chats/ListMessages", {"chat_id": theirs["id"]}, 404, "NOT_FOUND", "Chat not found")


# -------------------------------------------------------------- query counts


def test_create_chat_queries(api, assert_queries):
    with assert_queries(3):  # the first request of a key looks it up; the lookup, the insert
        created = api.chat(["alice", "bob"])
    # From here on the key is cached.
    with assert_queries(1):  # the lookup
        assert api.chat(["bob", "alice"]) == created
    with assert_queries(2):  # the lookup, the insert
        assert api.chat(["carol", "alice"]) != created


def test_create_message_queries(api, chat, assert_queries):
    api.chat_message(chat["id"], "alice")
    with assert_queries(create_message_statements()):
        api.chat_message(chat["id"], "bob")


def test_list_messages_queries(api, chat, assert_queries):
    for i in range(5):
        api.chat_message(chat["id"], "alice", f"m{i}")
    with assert_queries(1):  # the page (its messages prove the chat exists)
        assert len(list_messages(api, chat["id"], limit=3)) == 3
    with assert_queries(2):  # an empty page, then: does the chat exist?
        assert list_messages(api, chat["id"], sent_before="2000-01-01T00:00:00Z") == []


def test_error_responses_are_envelopes(api):
    response = api.post("Chats/CreateChat", {"user_ids": ["alice"]})
    assert_envelope(response, 400, *MISSING_USER_IDS)


# ---------------------------------------------------------------- index use


@pytest.mark.parametrize("with_sent_before", [False, True])
def test_list_messages_reads_a_page_index(api, with_sent_before):
    chat = Chat.objects.get(id=api.chat(["alice", "bob"])["id"])
    # As in a real namespace, most of its messages belong to other chats,
    # written at the same times: only the (namespace, chat, sent_at) index
    # reads just the rows this page needs.
    others = [Chat.objects.get(id=api.chat(["alice", f"user{i}"])["id"]) for i in range(20)]
    start = datetime.datetime(2021, 1, 22, tzinfo=datetime.UTC)
    Message.objects.bulk_create(
        Message(namespace_id=c.namespace_id, chat=c, author_id="alice", text=f"m{i}", sent_at=start + i * SECOND)
        for c in [chat, *others]
        for i in range(50)
    )
    sent_before = start + 20 * SECOND if with_sent_before else None
    # The shell's statements, and the RPC's (on PostgreSQL the same page, each row's JSON written by the database).
    rpc_statements, _ = statements.pages.for_render(chat_serializers.render_message_rows)
    for page_statements in (statements.pages.typed, rpc_statements):
        if sent_before is None:
            page, values = page_statements.first, (*stretch_values(chat.namespace_id, chat.id), 25)
        else:
            page, values = page_statements.before, (*stretch_values(chat.namespace_id, chat.id, sent_before), 25)
        assert_reads_a_page_index(
            Message, page, values, "chats_message_chat_sent_at_uniq", ["namespace_id", "chat_id", "sent_at"]
        )
    page = statements.pages.typed.first if sent_before is None else statements.pages.typed.before
    # What that statement answers is the page as the ORM reads it, and what ListMessages answers.
    expected = [str(m.id) for m in newest_messages(Message, chat.namespace, chat.id, sent_before=sent_before)]
    assert [str(row.id) for row in page.rows(*values)] == expected
    body = {"chat_id": str(chat.id), "sent_before": sent_before.strftime("%Y-%m-%dT%H:%M:%SZ") if sent_before else None}
    assert [m["id"] for m in api.ok("Chats/ListMessages", body)["messages"]] == expected
