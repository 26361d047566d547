"""CONTRACT 7: the Idempotency-Key header of the create RPCs."""

import io
import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.rpc.models import IdempotentResponse
from convoproject.tenants.keys import create_api_key
from streams import services as stream_services
from streams.models import Conversation
from streams.models import Message as StreamMessage
from tests.support.counts import create_message_statements
from tests.support.rpc import Rpc
from tests.test_concurrency import run_concurrently

pytestmark = pytest.mark.django_db

BASE, REPEAT = create_message_statements(), 2  # measured: see test_query_counts


def key(value):
    return {"Idempotency-Key": value}


@pytest.fixture
def conversation(api):
    return api.conversation()


@pytest.fixture
def chat(api):
    return api.chat(["alice", "bob"])


@pytest.fixture
def creates(conversation, chat):
    """(rpc, body, model whose rows it creates) for each of the four create RPCs."""
    return [
        ("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, Conversation),
        (
            "Streams/CreateMessage",
            {"author_id": "a", "conversation_id": conversation["id"], "text": "x"},
            StreamMessage,
        ),
        ("Chats/CreateChat", {"user_ids": ["carol", "dave"]}, Chat),
        ("Chats/CreateMessage", {"author_id": "alice", "chat_id": chat["id"], "text": "x"}, ChatMessage),
    ]


def test_a_repeat_answers_the_original_and_creates_nothing(api, creates):
    for rpc, body, model in creates:
        first = api.ok(rpc, body, headers=key(f"k-{rpc}"))
        count = model.objects.count()
        again = api.ok(rpc, body, headers=key(f"k-{rpc}"))
        assert again == first, rpc
        assert model.objects.count() == count, rpc
    assert IdempotentResponse.objects.count() == 4


def test_a_retry_after_a_lost_response_gets_the_original(api):
    body = {"group_id": "g", "topic": "t"}
    api.post("Streams/CreateConversation", body, headers=key("lost"))  # the answer never arrived
    again = api.ok("Streams/CreateConversation", body, headers=key("lost"))
    assert [str(c.id) for c in Conversation.objects.all()] == [again["conversation"]["id"]]


def test_without_the_header_every_call_creates(api):
    body = {"group_id": "g", "topic": "t"}
    a = api.ok("Streams/CreateConversation", body)
    b = api.ok("Streams/CreateConversation", body)
    assert a["conversation"]["id"] != b["conversation"]["id"]
    assert not IdempotentResponse.objects.exists()


def test_different_keys_are_different_requests(api):
    body = {"group_id": "g", "topic": "t"}
    a = api.ok("Streams/CreateConversation", body, headers=key("one"))
    b = api.ok("Streams/CreateConversation", body, headers=key("two"))
    assert a["conversation"]["id"] != b["conversation"]["id"]


def test_key_order_and_spacing_do_not_matter(api):
    first = api.ok("Streams/CreateConversation", raw=b'{"group_id":"g","topic":"t\\u00e9"}', headers=key("same"))
    again = api.ok(
        "Streams/CreateConversation", raw='{ "topic" : "t\u00e9",\n "group_id": "g" }'.encode(), headers=key("same")
    )
    assert again == first
    assert Conversation.objects.count() == 1


def test_a_different_body_is_409(api):
    api.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, headers=key("k"))
    api.err(
        "Streams/CreateConversation",
        {"group_id": "g", "topic": "other"},
        409,
        "IDEMPOTENCY_KEY_REUSED",
        headers=key("k"),
    )
    # an unknown field is still part of the body sent
    api.err(
        "Streams/CreateConversation",
        {"group_id": "g", "topic": "t", "extra": 1},
        409,
        "IDEMPOTENCY_KEY_REUSED",
        headers=key("k"),
    )
    assert Conversation.objects.count() == 1


def test_a_different_rpc_is_409(api, conversation, chat):
    api.ok(
        "Streams/CreateMessage",
        {"author_id": "alice", "conversation_id": conversation["id"], "text": "x"},
        headers=key("k"),
    )
    # the same field names, the other service's CreateMessage
    api.err(
        "Chats/CreateMessage",
        {"author_id": "alice", "chat_id": chat["id"], "text": "x"},
        409,
        "IDEMPOTENCY_KEY_REUSED",
        headers=key("k"),
    )
    api.err(
        "Streams/CreateConversation", {"group_id": "g", "topic": "t"}, 409, "IDEMPOTENCY_KEY_REUSED", headers=key("k")
    )
    assert ChatMessage.objects.count() == 0


def test_a_failed_request_is_not_remembered(api, conversation):
    body = {"author_id": "a", "conversation_id": conversation["id"]}
    api.err("Streams/CreateMessage", body, 400, "MISSING_TEXT", headers=key("k"))
    api.err(
        "Streams/CreateMessage", {**body, "text": "x", "conversation_id": "nope"}, 404, "NOT_FOUND", headers=key("k")
    )
    assert not IdempotentResponse.objects.exists()
    first = api.ok("Streams/CreateMessage", {**body, "text": "x"}, headers=key("k"))
    assert api.ok("Streams/CreateMessage", {**body, "text": "x"}, headers=key("k")) == first
    assert StreamMessage.objects.count() == 1


def test_a_not_a_member_failure_is_rolled_back(api, chat):
    body = {"author_id": "mallory", "chat_id": chat["id"], "text": "x"}
    api.err("Chats/CreateMessage", body, 403, "NOT_A_MEMBER", headers=key("k"))
    assert not IdempotentResponse.objects.exists()
    api.ok("Chats/CreateMessage", {**body, "author_id": "bob"}, headers=key("k"))


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "clé", "tab\there", "new\x7fline"])
def test_a_malformed_key_is_400(api, value):
    api.err("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, 400, "BAD_REQUEST", headers=key(value))
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("value", ["x", "x" * 255, "a b ~!@#$%^&*()", "550e8400-e29b-41d4-a716-446655440000"])
def test_well_formed_keys(api, value):
    first = api.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, headers=key(value))
    assert api.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, headers=key(value)) == first
    assert IdempotentResponse.objects.get().key == value


def test_the_header_is_checked_after_credentials_and_before_the_body(api, anon):
    anon.err("Streams/CreateConversation", {}, 401, "UNAUTHORIZED", headers=key(""))
    api.err(
        "Streams/CreateConversation",
        raw=b"not json",
        body=None,
        code=400,
        error_id="BAD_REQUEST",
        headers=key(""),
        detail="The Idempotency-Key header is empty",
    )
    api.err(
        "Streams/CreateConversation", raw=b"not json", body=None, code=400, error_id="BAD_REQUEST", headers=key("fine")
    )
    assert not IdempotentResponse.objects.exists()


def test_keys_are_per_namespace(api, other, micro_key):
    body = {"group_id": "g", "topic": "t"}
    mine = api.ok("Streams/CreateConversation", body, headers=key("k"))
    theirs = other.ok("Streams/CreateConversation", body, headers=key("k"))
    assert mine["conversation"]["id"] != theirs["conversation"]["id"]
    assert IdempotentResponse.objects.count() == 2
    # a different body in the other namespace is no conflict either
    other.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"}, headers=key("k2"))
    api.ok("Streams/CreateConversation", {"group_id": "h", "topic": "t"}, headers=key("k2"))


def test_any_api_key_of_the_namespace_shares_the_keys(api, client):
    second = Rpc(client, key=create_api_key("micro")[1])
    body = {"group_id": "g", "topic": "t"}
    assert second.ok("Streams/CreateConversation", body, headers=key("k")) == api.ok(
        "Streams/CreateConversation", body, headers=key("k")
    )
    assert Conversation.objects.count() == 1


def test_a_key_expires_after_24_hours(api):
    body = {"group_id": "g", "topic": "t"}
    first = api.ok("Streams/CreateConversation", body, headers=key("k"))
    row = IdempotentResponse.objects.get()
    IdempotentResponse.objects.update(created_at=row.created_at - timedelta(hours=23, minutes=59))
    assert api.ok("Streams/CreateConversation", body, headers=key("k")) == first
    IdempotentResponse.objects.update(created_at=row.created_at - timedelta(hours=24, seconds=1))
    # expired: the key is free again, even for another body
    again = api.ok("Streams/CreateConversation", {**body, "topic": "new"}, headers=key("k"))
    assert again["conversation"]["id"] != first["conversation"]["id"]
    assert Conversation.objects.count() == 2
    assert IdempotentResponse.objects.get().response == json.dumps(again, separators=(",", ":"), ensure_ascii=False)


def test_purge_command_deletes_only_expired_keys(api):
    body = {"group_id": "g", "topic": "t"}
    api.ok("Streams/CreateConversation", body, headers=key("old"))
    api.ok("Streams/CreateConversation", body, headers=key("new"))
    old = IdempotentResponse.objects.get(key="old")
    IdempotentResponse.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(hours=25))
    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert list(IdempotentResponse.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.parametrize(
    "rpc, body",
    [
        ("Streams/ListConversations", {"group_id": "g"}),
        ("Streams/ReadConversation", {"id": "nope"}),
        ("Chats/ListMessages", {"chat_id": "nope"}),
    ],
)
def test_other_rpcs_ignore_the_header(api, rpc, body):
    for value in ["k", "", "clé"]:
        assert api.post(rpc, body, headers=key(value)).status_code in (200, 404)
    assert not IdempotentResponse.objects.exists()


def test_update_conversation_ignores_the_header(api, conversation):
    body = {"id": conversation["id"], "topic": "a"}
    api.ok("Streams/UpdateConversation", body, headers=key("k"))
    assert (
        api.ok("Streams/UpdateConversation", {**body, "topic": "b"}, headers=key("k"))["conversation"]["topic"] == "b"
    )
    assert not IdempotentResponse.objects.exists()


def test_query_counts(api, conversation, assert_queries):
    """Measured (API key cached by the fixture's first request): CreateMessage
    alone runs BASE statements (tests.support.counts);
    a key adds the claim INSERT and the UPDATE that stores the answer; a repeat
    runs the failing INSERT and one SELECT of the stored row."""
    body = {"author_id": "a", "conversation_id": conversation["id"], "text": "x"}
    with assert_queries(BASE):
        api.ok("Streams/CreateMessage", body)
    with assert_queries(BASE + 2):
        first = api.ok("Streams/CreateMessage", body, headers=key("k"))
    with assert_queries(REPEAT):
        assert api.ok("Streams/CreateMessage", body, headers=key("k")) == first


def test_racing_requests_with_one_key_create_one_row(transactional_db):
    """Several processes x threads, each its own connection, send the same
    create with the same key at once (CONTRACT 7): one row, one answer."""
    from django.db import connection

    assert connection.vendor == "postgresql" or not connection.is_in_memory_db()
    raw_key = create_api_key("micro")[1]
    rounds = 3
    rpcs = [
        ("Streams/CreateConversation", {"group_id": "g", "topic": "race"}),
        ("Chats/CreateChat", {"user_ids": ["x", "y"]}),
        ("Streams/CreateConversation", {"group_id": "g", "topic": "race 2"}),
    ]

    def work(writer, round_):
        rpc, body = rpcs[round_]
        response = Rpc(Client(), key=raw_key).post(rpc, body, headers=key(f"race-{round_}"))
        return response.status_code, response.content

    real_create = stream_services.create_conversation

    def slow_create(*args, **kwargs):  # the racers surely overlap the first one's work
        time.sleep(0.2)
        return real_create(*args, **kwargs)

    with mock.patch.object(stream_services, "create_conversation", slow_create):
        results, errors = run_concurrently(work, processes=4, threads=2, rounds=rounds)
    assert errors == [], "\n".join(errors)
    assert len(results) == 8
    for round_ in range(rounds):
        answers = {writer_answers[round_] for writer_answers in results.values()}
        assert len(answers) == 1, answers
        status, content = answers.pop()
        assert status == 200, content
    assert Conversation.objects.count() == 2
    assert Chat.objects.count() == 1
    assert IdempotentResponse.objects.count() == 3
