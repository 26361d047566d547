"""Hostile input at scale (CONTRACT 1-5): hypothesis throws random bytes, random
JSON objects built from the RPCs' real field names, and random non-object JSON
at every RPC. Whatever comes in:

- the answer is a 200 with a JSON object of the contract's shape for that RPC,
  or a 4xx that is exactly the error envelope; never a 5xx;
- the database stays consistent: every message's parent exists in the
  message's namespace, a chat message's author is a member of the chat, no two
  messages of one parent share a sent_at, and the messages created during the
  test have strictly increasing sent_at per parent, in creation order.

Reproducible: every test runs with `derandomize=True` (examples are derived
from the test's source, not from a random seed) and no example database, so CI
sees the same examples on every run. The function-scoped fixtures (`client`,
the API key, the rows of `world`) are deliberately shared by all examples of a
test, hence `HealthCheck.function_scoped_fixture` is suppressed: the rows are
re-created when an example deleted them, and consistency is checked after every
example.
"""

import datetime
import json
import re
import uuid
from http import HTTPStatus

import pytest
from django.db.models import Count, Exists, Max, OuterRef
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chats.models import Chat
from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from chats.models import ReportedMessage as ChatQueueItem
from streams.models import Conversation
from streams.models import Message as StreamMessage
from streams.models import Report as StreamReport
from streams.models import ReportedMessage as StreamQueueItem
from tests.support.rpc import ALL_RPCS, ENVELOPE_KEYS, Rpc
from tests.test_protocol import send

MAX_BODY = 1024 * 1024
MEMBERS = ["alice", "bob"]

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

FIELDS = [
    "group_id",
    "topic",
    "id",
    "author_id",
    "conversation_id",
    "text",
    "sent_before",
    "limit",
    "limit_per_conversation",
    "conversation_ids",
    "user_ids",
    "chat_id",
    "message_id",
    "reporter_id",
    "reason",
    "description",
]

# Tokens that stand for the ids of real rows of namespace micro; replaced by
# `resolve` just before the request (real ids differ from run to run).
REFS = ["$conversation", "$chat", "$message", "$chat_message", "$member", "$group", "$sent_at"]


# ----------------------------------------------------------------- strategies

SPECIAL_STRINGS = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\ud800",  # lone high surrogate: json.dumps writes it as the escape \ud800
    "\udfff",
    "x\udc00y",
    "😀",
    "👩‍👩‍👧‍👦",
    "\u200b",
    "\ufeff",
    "null",
    "10",
    "-1",
    "0",
    "1e3",
    "true",
    "2021-01-22T15:01:13.123456Z",
    "2021-01-22T15:01:13.1234567891+05:30",
    "2021-01-22",
    "9999-12-31T23:59:59.999999999Z",
    "0001-01-01T00:00:00Z",
    "2021-02-30T00:00:00Z",
    "00000000-0000-0000-0000-000000000000",
    "' OR 1=1 --",
    "%s%s%s",
    "\\",
    '"',
]


def long_strings():
    """Strings around the limits (255 and 10,000 code points) and beyond, up to ~12,000."""
    return st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["a", "é", "😀", "\ud800", "\x00", " "]),
        st.one_of(st.sampled_from([254, 255, 256, 9999, 10000, 10001]), st.integers(0, 12000)),
    )


strings = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=None), max_size=10),  # surrogates included
    long_strings(),
    st.sampled_from(REFS),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 1, 1000, 1001, 2**31, 2**63, -(2**63) - 1, 10**400, -(10**400)]),
    st.floats(),  # NaN and +-Infinity too: json.dumps writes them as non-standard tokens
    st.sampled_from([1.0, 25.0, 1.5, 1e308, -0.0, 5e-324]),
    strings,
)

values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), inner, max_size=5),
        st.builds(lambda v: {"value": v}, inner),
    ),
    max_leaves=12,
)

field_values = st.one_of(
    values,
    st.lists(strings, max_size=6),  # plausible conversation_ids / user_ids
    st.lists(st.sampled_from([*REFS, "alice", "bob", "carol", "", None]), max_size=6),
    st.builds(lambda n: [f"u{i}" for i in range(n)], st.integers(95, 105)),  # around TOO_MANY_IDS
)

json_objects = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)),
    field_values,
    max_size=len(FIELDS),
)

non_objects = st.one_of(
    scalars,
    st.lists(values, max_size=5),
    st.lists(json_objects, min_size=1, max_size=2),
)


def nested(depth, opener, closer, inside=b""):
    return opener * depth + inside + closer * depth


deep_bodies = st.builds(
    lambda depth, kind, field: {
        "list": nested(depth, b"[", b"]"),
        "object": nested(depth, b'{"a":', b"}", b"1"),
        "field": b'{"' + field.encode() + b'":' + nested(depth, b"[", b"]") + b"}",
        "wrapper": b'{"' + field.encode() + b'":' + nested(depth, b'{"value":', b"}", b"1") + b"}",
        "unclosed": b"[" * depth,
    }[kind][:MAX_BODY],
    st.one_of(st.sampled_from([1, 100, 1000, 1001, 10_000, 100_000, 500_000]), st.integers(1, 150_000)),
    st.sampled_from(["list", "object", "field", "wrapper", "unclosed"]),
    st.sampled_from(FIELDS),
)

random_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"\x00",
            b"\xff\xfe",
            b"\xc3\x28",  # invalid UTF-8
            b'{"topic": "\xed\xa0\x80"}',  # UTF-8-encoded surrogate: invalid UTF-8
            b'{"topic": "a\x00b", "group_id": "g"}',  # raw NUL inside a JSON string
            b'{"text": "\\u0000"}',
            b'{"topic": "\\ud800", "group_id": "g"}',
            b"\xef\xbb\xbf{}",  # BOM
            b"{",
            b"}",
            b"null",
            b"NaN",
            b"-Infinity",
            b'{"limit": 1e999}',
            b'{"a": 1, "a": 2}',
            b"1" * 5000,
            b" " * MAX_BODY,
        ]
    ),
    deep_bodies,
    st.builds(lambda prefix, junk: prefix + junk, st.sampled_from([b"{", b'{"id":', b'{"user_ids":[']), st.binary()),
)

content_types = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded", ""])


def encode(value, mode):
    """JSON text as bytes: ASCII escapes (lone surrogates become \\ud800), raw
    UTF-8 (lone surrogates become invalid UTF-8 bytes), or compact."""
    if mode == "ascii":
        return json.dumps(value).encode("ascii")
    if mode == "utf8":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(value, separators=(",", ":")).encode("ascii")


encodings = st.sampled_from(["ascii", "utf8", "compact"])


# ------------------------------------------------------------------- the world


class World:
    """Real rows of namespace micro for the fuzzer to aim at."""

    def __init__(self, api):
        self.api = api
        self.chat = api.chat(MEMBERS)
        self.chat_message = api.chat_message(self.chat["id"], "alice")
        self.make_conversation()

    def make_conversation(self):
        self.conversation = self.api.conversation(group_id="fuzz-group", topic="fuzz")
        self.message = self.api.message(self.conversation["id"])
        self.api.message(self.conversation["id"], author_id="bob")

    def refresh(self):
        if not Conversation.objects.filter(id=self.conversation["id"]).exists():
            self.make_conversation()

    def refs(self):
        return {
            "$conversation": self.conversation["id"],
            "$chat": self.chat["id"],
            "$message": self.message["id"],
            "$chat_message": self.chat_message["id"],
            "$member": "alice",
            "$group": "fuzz-group",
            "$sent_at": self.message["sent_at"],
        }


@pytest.fixture
def world(api):
    return World(api)


VALID = {
    "Streams/CreateConversation": {"group_id": "$group", "topic": "t"},
    "Streams/ReadConversation": {"id": "$conversation", "group_id": "$group"},
    "Streams/UpdateConversation": {"id": "$conversation", "topic": "t2"},
    "Streams/DeleteConversation": {"id": "$conversation"},
    "Streams/ListConversations": {"group_id": "$group"},
    "Streams/CreateMessage": {"author_id": "$member", "conversation_id": "$conversation", "text": "hi"},
    "Streams/ListMessages": {"conversation_id": "$conversation", "sent_before": "$sent_at", "limit": 5},
    "Streams/RecentMessages": {"conversation_ids": ["$conversation"], "limit_per_conversation": 5},
    "Chats/CreateChat": {"user_ids": ["alice", "bob"]},
    "Chats/CreateMessage": {"author_id": "$member", "chat_id": "$chat", "text": "hi"},
    "Chats/ListMessages": {"chat_id": "$chat", "sent_before": "$sent_at", "limit": 5},
    "Streams/ReportMessage": {"message_id": "$message", "reporter_id": "$member", "reason": "spam"},
    "Chats/ReportMessage": {
        "message_id": "$chat_message",
        "reporter_id": "$member",
        "reason": "other",
        "description": "d",
    },
}
assert set(VALID) == set(ALL_RPCS)


def mutated(rpc, base, overrides, drop):
    """The RPC's valid body (if `base`), minus the fields in `drop`, plus `overrides`."""
    body = {k: v for k, v in VALID[rpc].items() if k not in drop} if base else {}
    return {**body, **overrides}


def resolve(value, refs):
    if isinstance(value, str):
        return refs.get(value, value)
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- the checks

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def check_id(value):
    assert isinstance(value, str) and UUID_RE.match(value), value


def check_timestamp(value):
    assert isinstance(value, str) and TIMESTAMP_RE.match(value), value


def check_client_id(value):
    assert isinstance(value, str) and 1 <= len(value) <= 255 and value.strip(), value


def check_conversation(c):
    assert isinstance(c, dict) and set(c) == {"id", "group_id", "topic", "created_at"}, c
    check_id(c["id"])
    check_client_id(c["group_id"])
    assert isinstance(c["topic"], str) and c["topic"].strip() and len(c["topic"]) <= 255, c
    check_timestamp(c["created_at"])


def check_message(m, parent):
    assert isinstance(m, dict) and set(m) == {"id", "author_id", parent, "text", "sent_at"}, m
    check_id(m["id"])
    check_id(m[parent])
    check_client_id(m["author_id"])
    assert isinstance(m["text"], str) and m["text"].strip() and len(m["text"]) <= 10_000, m
    check_timestamp(m["sent_at"])


def check_chat(c):
    assert isinstance(c, dict) and set(c) == {"id", "user_ids", "created_at"}, c
    check_id(c["id"])
    assert isinstance(c["user_ids"], list) and 2 <= len(c["user_ids"]) <= 100, c
    assert c["user_ids"] == sorted(set(c["user_ids"])), c
    for user_id in c["user_ids"]:
        check_client_id(user_id)
    check_timestamp(c["created_at"])


def check_report(r):
    assert isinstance(r, dict) and set(r) == {"id", "message_id", "reporter_id", "reason", "description", "created_at"}
    check_id(r["id"])
    check_id(r["message_id"])
    check_client_id(r["reporter_id"])
    assert r["reason"] in ("spam", "harassment", "inappropriate", "other"), r
    assert isinstance(r["description"], str) and len(r["description"]) <= 1000, r
    assert r["description"].strip() or r["reason"] != "other", r
    check_timestamp(r["created_at"])


def check_list(body, key, check, *args):
    assert set(body) == {key}, body
    assert isinstance(body[key], list), body
    for item in body[key]:
        check(item, *args)


SHAPES = {
    "Streams/CreateConversation": lambda b: set(b) == {"conversation"} and check_conversation(b["conversation"]),
    "Streams/ReadConversation": lambda b: set(b) == {"conversation"} and check_conversation(b["conversation"]),
    "Streams/UpdateConversation": lambda b: set(b) == {"conversation"} and check_conversation(b["conversation"]),
    "Streams/DeleteConversation": lambda b: b == {} or pytest.fail(f"not {{}}: {b}"),
    "Streams/ListConversations": lambda b: check_list(b, "conversations", check_conversation),
    "Streams/CreateMessage": lambda b: set(b) == {"message"} and check_message(b["message"], "conversation_id"),
    "Streams/ListMessages": lambda b: check_list(b, "messages", check_message, "conversation_id"),
    "Streams/RecentMessages": lambda b: check_list(b, "messages", check_message, "conversation_id"),
    "Chats/CreateChat": lambda b: set(b) == {"chat"} and check_chat(b["chat"]),
    "Chats/CreateMessage": lambda b: set(b) == {"message"} and check_message(b["message"], "chat_id"),
    "Chats/ListMessages": lambda b: check_list(b, "messages", check_message, "chat_id"),
    "Streams/ReportMessage": lambda b: set(b) == {"report"} and check_report(b["report"]),
    "Chats/ReportMessage": lambda b: set(b) == {"report"} and check_report(b["report"]),
}
assert set(SHAPES) == set(ALL_RPCS)


def check_response(rpc, response, body):
    described = f"{rpc} {body[:300]!r} -> {response.status_code} {response.content[:500]!r}"
    assert response.status_code < 500, described
    assert response.status_code == 200 or 400 <= response.status_code < 500, described
    assert response["Content-Type"] == "application/json", described
    data = json.loads(response.content)
    assert isinstance(data, dict), described
    if response.status_code == 200:
        assert SHAPES[rpc](data) is not False, described
    else:
        assert set(data) == ENVELOPE_KEYS, described
        assert isinstance(data["id"], str) and data["id"], described
        assert data["code"] == response.status_code, described
        assert data["status"] == HTTPStatus(response.status_code).phrase, described
        assert isinstance(data["detail"], str) and data["detail"], described
    return data


def check_created_message(rpc, data):
    """A 200 CreateMessage: the row exists as answered, and its sent_at is after
    every other message of the parent (all created before it)."""
    if rpc == "Streams/CreateMessage":
        model, parent = StreamMessage, "conversation"
    elif rpc == "Chats/CreateMessage":
        model, parent = ChatMessage, "chat"
    else:
        return
    answered = data["message"]
    row = model.objects.get(id=answered["id"])
    assert str(getattr(row, f"{parent}_id")) == answered[f"{parent}_id"]
    assert row.sent_at == datetime.datetime.fromisoformat(answered["sent_at"])
    newest_other = (
        model.objects.filter(**{f"{parent}_id": getattr(row, f"{parent}_id")})
        .exclude(id=row.id)
        .aggregate(newest=Max("sent_at"))["newest"]
    )
    assert newest_other is None or row.sent_at > newest_other, (row.sent_at, newest_other)


def check_database():
    orphans = StreamMessage.objects.filter(
        ~Exists(Conversation.objects.filter(pk=OuterRef("conversation_id"), namespace=OuterRef("namespace")))
    )
    assert not orphans.exists(), list(orphans.values("id", "conversation_id", "namespace_id"))
    chat_orphans = ChatMessage.objects.filter(
        ~Exists(Chat.objects.filter(pk=OuterRef("chat_id"), namespace=OuterRef("namespace")))
    )
    assert not chat_orphans.exists(), list(chat_orphans.values("id", "chat_id", "namespace_id"))
    for author_id, user_ids in ChatMessage.objects.values_list("author_id", "chat__user_ids"):
        assert author_id in user_ids, (author_id, user_ids)
    for model, parent in ((StreamMessage, "conversation"), (ChatMessage, "chat")):
        duplicates = model.objects.values(parent, "sent_at").annotate(n=Count("id")).filter(n__gt=1)
        assert not duplicates.exists(), list(duplicates)
    # Reports: one open report per reporter and message; the queue counts them.
    for report_model, queue_model in ((StreamReport, StreamQueueItem), (ChatReport, ChatQueueItem)):
        open_reports = report_model.objects.filter(state="open")
        twice = open_reports.values("message", "reporter_id").annotate(n=Count("id")).filter(n__gt=1)
        assert not twice.exists(), list(twice)
        counted = dict(queue_model.objects.filter(open_reports__gt=0).values_list("message_id", "open_reports"))
        assert counted == dict(open_reports.values("message").annotate(n=Count("id")).values_list("message", "n"))
    for reporter_id, user_ids in ChatReport.objects.values_list("reporter_id", "message__chat__user_ids"):
        assert reporter_id in user_ids, (reporter_id, user_ids)


def fire(client, key, world, rpc, body, content_type):
    assert len(body) <= MAX_BODY
    world.refresh()
    response = send(client, "POST", f"/protobuf/{rpc}", body, content_type, key=key)
    data = check_response(rpc, response, body)
    if response.status_code == 200:
        check_created_message(rpc, data)
    check_database()
    return response


# ------------------------------------------------------------------ the tests

RPCS = pytest.mark.parametrize("rpc", ALL_RPCS)


@RPCS
@FUZZ
@given(body=random_bytes, content_type=content_types)
@example(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
@example(body=b'{"topic": "\xed\xa0\x80", "group_id": "g", "id": "x"}', content_type=None)
def test_random_bytes(client, micro_key, world, rpc, body, content_type):
    fire(client, micro_key, world, rpc, body, content_type)


@RPCS
@FUZZ
@given(
    base=st.booleans(),
    overrides=st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=3) | json_objects,
    drop=st.sets(st.sampled_from(FIELDS), max_size=2),
    mode=encodings,
    content_type=content_types,
)
@example(
    base=False,
    drop=set(),
    overrides={"group_id": "g", "topic": "\ud800", "id": "$conversation", "text": "\ud800", "author_id": "alice"},
    mode="ascii",
    content_type="application/json",
)
@example(
    base=False,
    drop=set(),
    overrides={
        "group_id": {"value": "\x00"},
        "id": "$conversation",
        "conversation_id": "$conversation",
        "chat_id": "$chat",
        "author_id": "$member",
        "text": "😀" * 10_001,
        "topic": "😀" * 256,
        "user_ids": ["alice", "\ud800"],
        "conversation_ids": ["$conversation", None],
        "limit": 10**400,
        "limit_per_conversation": {"value": "1000"},
        "sent_before": "$sent_at",
    },
    mode="utf8",
    content_type=None,
)
def test_random_json_objects(client, micro_key, world, rpc, base, overrides, drop, mode, content_type):
    fields = mutated(rpc, base, overrides, drop)
    fire(client, micro_key, world, rpc, encode(resolve(fields, world.refs()), mode), content_type)


@RPCS
@FUZZ
@given(value=non_objects, mode=encodings, content_type=content_types)
@example(value=[{"id": "$conversation"}], mode="ascii", content_type="application/json")
def test_random_json_that_is_not_an_object(client, micro_key, world, rpc, value, mode, content_type):
    fire(client, micro_key, world, rpc, encode(resolve(value, world.refs()), mode), content_type)


NEAR_VALID = {
    "author_id": st.sampled_from(["alice", "bob", "carol", "$member", "", "\x00"]),
    "conversation_id": st.sampled_from(["$conversation", str(uuid.UUID(int=0)), "x"]),
    "chat_id": st.sampled_from(["$chat", str(uuid.UUID(int=0))]),
    "text": strings,
    "id": st.sampled_from(["$conversation", "$chat", "$message"]),
    "group_id": st.sampled_from(["$group", {"value": "$group"}, "", None]),
    "topic": strings,
    "user_ids": st.lists(st.sampled_from(["alice", "bob", "carol", "", "\ud800"]), max_size=4),
    "conversation_ids": st.lists(st.sampled_from(["$conversation", "x", ""]), max_size=3),
    "sent_before": st.sampled_from(["$sent_at", "2999-01-01T00:00:00Z", "bad"]),
    "limit": st.sampled_from([1, 2, "3", {"value": 4}, 0, 1001, None]),
    "message_id": st.sampled_from(["$message", "$chat_message", str(uuid.UUID(int=0)), ""]),
    "reporter_id": st.sampled_from(["alice", "bob", "carol", "$member", ""]),
    "reason": st.sampled_from(["spam", "other", "harassment", "Spam", ""]),
    "description": st.sampled_from(["", "why", "x" * 1001, None]),
}
near_valid_overrides = st.lists(
    st.sampled_from(sorted(NEAR_VALID)).flatmap(lambda k: NEAR_VALID[k].map(lambda v: (k, v))), max_size=2
).map(dict)


@settings(FUZZ, max_examples=80)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ALL_RPCS), st.sets(st.sampled_from(FIELDS), max_size=1), near_valid_overrides),
        min_size=1,
        max_size=12,
    )
)
def test_mostly_valid_sequences_keep_the_database_consistent(client, micro_key, world, steps):
    """Sequences of near-valid calls on real rows, so that many of them succeed
    and create, update and delete: the invariants hold after every call."""
    for rpc, drop, overrides in steps:
        fields = mutated(rpc, True, overrides, drop)
        fire(client, micro_key, world, rpc, encode(resolve(fields, world.refs()), "ascii"), "application/json")


def test_the_fuzzer_reaches_the_success_paths(client, micro_key, world):
    """A sanity check on the harness itself: real ids through `resolve` succeed."""
    api = Rpc(client, key=micro_key)
    body = resolve({"author_id": "$member", "chat_id": "$chat", "text": "hi"}, world.refs())
    assert fire(client, micro_key, world, "Chats/CreateMessage", json.dumps(body).encode(), None).status_code == 200
    body = resolve({"conversation_ids": ["$conversation"]}, world.refs())
    assert len(api.ok("Streams/RecentMessages", body)["messages"]) == 2
