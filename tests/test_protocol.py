"""Transport and errors (CONTRACT 1, 2): body parsing, methods, routing,
body size, crashes, and the error envelope."""

import json
import logging

import pytest
from django.test import Client
from django.test.client import FakePayload

from chats.models import Chat
from streams.models import Conversation
from tests.support.rpc import ALL_RPCS, Rpc, assert_envelope

MAX_BODY = 1024 * 1024
CREATE_CHAT = "/protobuf/Chats/CreateChat"
VALID = {"user_ids": ["alice", "bob"]}


def send(client, method, path, body=b"", content_type=None, key=None, **extra):
    """A request built by hand, so that it carries no Content-Type at all when
    content_type is None (Django's test client always sends one for a body)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.split("?", 1)[0],
        "QUERY_STRING": path.split("?", 1)[1] if "?" in path else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": FakePayload(body),
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if key is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client.request(**environ, **extra)


def padded(body, size):
    """A JSON object padded with spaces to exactly `size` bytes."""
    text = json.dumps(body).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


# ------------------------------------------------------------- body parsing


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "application/xml",
        "",
    ],
)
def test_body_is_json_whatever_the_content_type(client, micro_key, content_type):
    response = send(client, "POST", CREATE_CHAT, json.dumps(VALID), content_type, key=micro_key)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["chat"]["user_ids"] == ["alice", "bob"]


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "application/x-www-form-urlencoded"])
def test_validation_errors_whatever_the_content_type(client, micro_key, content_type):
    response = send(client, "POST", CREATE_CHAT, '{"user_ids": ["alice"]}', content_type, key=micro_key)
    assert_envelope(response, 400, "MISSING_USER_IDs", "Two or more user IDs are required")


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
@pytest.mark.parametrize(
    "rpc, error_id",
    [
        ("Chats/CreateChat", "MISSING_USER_IDs"),
        ("Chats/CreateMessage", "MISSING_AUTHOR_ID"),
        ("Chats/ListMessages", "MISSING_CHAT_ID"),
        ("Streams/CreateConversation", "MISSING_GROUP_ID"),
        ("Streams/ReadConversation", "MISSING_ID"),
        ("Streams/RecentMessages", "MISSING_CONVERSATION_IDS"),
    ],
)
def test_empty_body_counts_as_empty_object(client, micro_key, content_type, rpc, error_id):
    response = send(client, "POST", f"/protobuf/{rpc}", b"", content_type, key=micro_key)
    assert_envelope(response, 400, error_id)


def test_unknown_fields_are_ignored(api):
    body = {"group_id": "g", "topic": "t", "unknown": {"deep": [1, 2, None]}, "id": "mine", "created_at": 5}
    conversation = api.ok("Streams/CreateConversation", body)["conversation"]
    assert conversation["id"] != "mine"
    assert (conversation["group_id"], conversation["topic"]) == ("g", "t")
    chat = api.ok("Chats/CreateChat", {**VALID, "chat": None, "Users": 1})["chat"]
    assert chat["user_ids"] == ["alice", "bob"]


def test_null_means_absent(api):
    api.err("Streams/CreateConversation", {"group_id": None, "topic": "t"}, 400, "MISSING_GROUP_ID", "Missing GroupID")
    api.err("Chats/CreateChat", {"user_ids": None}, 400, "MISSING_USER_IDs")
    chat = api.chat(["alice", "bob"])
    body = {"chat_id": chat["id"], "limit": None, "sent_before": None}
    assert api.ok("Chats/ListMessages", body) == {"messages": []}


def test_query_strings_are_ignored(api):
    chat = api.chat(["alice", "bob"])
    for i in range(3):
        api.chat_message(chat["id"], "alice", f"m{i}")
    response = api.post("/protobuf/Chats/ListMessages?limit=1&chat_id=nope&format=html", {"chat_id": chat["id"]})
    assert response.status_code == 200
    assert len(response.json()["messages"]) == 3
    response = api.post(f"{CREATE_CHAT}?user_ids=x&user_ids=y", {"user_ids": ["carol", "dave"]})
    assert response.json()["chat"]["user_ids"] == ["carol", "dave"]
    # a query string does not stand in for a missing body field either
    assert_envelope(api.post(f"{CREATE_CHAT}?user_ids=a&user_ids=b", {}), 400, "MISSING_USER_IDs")


def test_whitespace_around_the_json_object(api):
    response = api.post(CREATE_CHAT, raw=b"\n  " + json.dumps(VALID).encode() + b"  \r\n")
    assert response.status_code == 200


def test_non_ascii_json_text(api):
    raw = '{"user_ids": ["ünï", "😀"]}'.encode()
    assert api.ok(CREATE_CHAT, raw=raw)["chat"]["user_ids"] == ["ünï", "😀"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{",
        b'{"user_ids": ["a", "b"]',
        b"{'user_ids': ['a', 'b']}",
        b'{"user_ids": ["a", "b"],}',
        b"[]",
        b'[{"user_ids": ["a", "b"]}]',
        b'"a string"',
        b"42",
        b"true",
        b"null",
        b'{"user_ids": ["a", "b"]} {"x": 1}',
        b"\xff\xfe\xfd",
        b'{"user_ids": ["a\xff", "b"]}',
        b'{"user_ids": ["\xc3\x28", "b"]}',
        b"user_ids=a&user_ids=b",
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b'{"user_ids": ["a", "b"], "n": ' + b"1" * 5000 + b"}",
        b"1" * 5000,
        b'{"user_ids": ["a", "b"], "n": }',
    ],
    ids=lambda raw: repr(raw[:30]),
)
def test_bad_bodies_are_bad_request(api, raw):
    response = api.post(CREATE_CHAT, raw=raw)
    assert_envelope(response, 400, "BAD_REQUEST")
    assert Chat.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"group_id": "g\ud800", "topic": "t"},  # a lone surrogate, as the JSON escape \ud800
        {"group_id": "g", "topic": "t\x00"},  # a NUL character
        {"group_id": "g", "topic": ["t"]},
        {"group_id": "g", "topic": 5},
    ],
)
def test_bad_strings_are_bad_request(api, body):
    api.err("Streams/CreateConversation", body, 400, "BAD_REQUEST")
    assert Conversation.objects.count() == 0


# ------------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("with_key", [True, False])
@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_other_methods_are_405(client, micro_key, method, with_key, rpc):
    body = json.dumps(VALID) if method in ("PUT", "PATCH", "DELETE") else b""
    response = send(client, method, f"/protobuf/{rpc}", body, "application/json", key=micro_key if with_key else None)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"
    assert Chat.objects.count() == 0


@pytest.mark.parametrize("with_key", [True, False])
def test_head_is_405(client, micro_key, with_key):
    response = send(client, "HEAD", CREATE_CHAT, key=micro_key if with_key else None)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_405_comes_before_413_and_body(client):
    response = send(client, "PUT", CREATE_CHAT, b"x" * (MAX_BODY + 1), "application/json")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"


def test_get_with_query_string_is_405(client, micro_key):
    response = client.get(CREATE_CHAT, {"user_ids": ["a", "b"]}, HTTP_AUTHORIZATION=f"Bearer {micro_key}")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"


# ------------------------------------------------------------------- routing


UNKNOWN_PATHS = [
    "/protobuf/Nope/Nope",
    "/protobuf/streams/CreateConversation",
    "/protobuf/STREAMS/CREATECONVERSATION",
    "/protobuf/Streams/createConversation",
    "/protobuf/chats/CreateChat",
    "/protobuf/Streams/CreateConversation/",
    "/protobuf/Chats/CreateChat/",
    "/protobuf/Chats/CreateChat/extra",
    "/protobuf/Chats/CreateConversation",
    "/protobuf/Streams/CreateChat",
    "/protobuf/Chats",
    "/protobuf/Chats/",
    "/protobuf/",
    "/protobuf",
    "/Protobuf/Chats/CreateChat",
    "/protobuf//Chats/CreateChat",
    "/Chats/CreateChat",
    "/nope",
    "/nothing-here",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("with_key", [True, False])
def test_unknown_paths_are_404(client, micro_key, path, with_key):
    response = send(client, "POST", path, json.dumps(VALID), "application/json", key=micro_key if with_key else None)
    assert_envelope(response, 404, "NOT_FOUND")
    assert Chat.objects.count() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/protobuf/Nope/Nope", "/protobuf/streams/CreateConversation", CREATE_CHAT + "/"])
def test_unknown_paths_are_404_with_any_method(client, method, path):
    response = send(client, method, path, b"", "application/json")
    assert_envelope(response, 404, "NOT_FOUND")


def test_unknown_path_head_is_404(client):
    assert send(client, "HEAD", "/protobuf/Nope/Nope").status_code == 404


def test_404_comes_before_413(client):
    response = send(client, "POST", "/protobuf/Nope/Nope", b" " * (MAX_BODY + 1), "application/json")
    assert_envelope(response, 404, "NOT_FOUND")


# ----------------------------------------------------------------- body size


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "application/x-www-form-urlencoded"])
def test_body_of_exactly_one_mebibyte_is_fine(client, micro_key, content_type):
    body = padded(VALID, MAX_BODY)
    assert len(body) == 1_048_576
    response = send(client, "POST", CREATE_CHAT, body, content_type, key=micro_key)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["chat"]["user_ids"] == ["alice", "bob"]


def test_large_text_within_one_mebibyte(api):
    chat = api.chat(["alice", "bob"])
    body = padded({"author_id": "alice", "chat_id": chat["id"], "text": "x" * 10_000}, MAX_BODY)
    assert api.post("Chats/CreateMessage", raw=body).status_code == 200


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("with_key", [True, False])
def test_body_over_one_mebibyte_is_413(client, micro_key, content_type, with_key):
    body = padded(VALID, MAX_BODY + 1)
    key = micro_key if with_key else None
    response = send(client, "POST", CREATE_CHAT, body, content_type, key=key)
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert Chat.objects.count() == 0


def test_413_comes_before_401_and_403_and_body(client, micro_key):
    garbage = b"x" * (MAX_BODY + 1)
    assert_envelope(send(client, "POST", CREATE_CHAT, garbage, "text/plain"), 413, "PAYLOAD_TOO_LARGE")
    bad_key = send(client, "POST", CREATE_CHAT, garbage, "text/plain", key="nope")
    assert_envelope(bad_key, 413, "PAYLOAD_TOO_LARGE")
    wrong_ns = send(client, "POST", CREATE_CHAT, garbage, "text/plain", key=micro_key, HTTP_MICRO_NAMESPACE="other")
    assert_envelope(wrong_ns, 413, "PAYLOAD_TOO_LARGE")
    assert_envelope(send(client, "POST", CREATE_CHAT, garbage, key=micro_key), 413, "PAYLOAD_TOO_LARGE")


def test_much_larger_body_is_413(api):
    assert_envelope(api.post(CREATE_CHAT, raw=b"x" * (5 * MAX_BODY)), 413, "PAYLOAD_TOO_LARGE")


# --------------------------------------------------------------- order of checks


def test_401_comes_before_body_validation(client):
    assert_envelope(send(client, "POST", CREATE_CHAT, b"not json", "text/plain"), 401, "UNAUTHORIZED")
    assert_envelope(send(client, "POST", CREATE_CHAT, b"{}", "application/json"), 401, "UNAUTHORIZED")


def test_403_comes_before_body_validation(client, micro_key):
    response = send(client, "POST", CREATE_CHAT, b"not json", None, key=micro_key, HTTP_MICRO_NAMESPACE="other")
    assert_envelope(response, 403, "FORBIDDEN")


# -------------------------------------------------------------------- crashes


@pytest.mark.parametrize(
    "target, rpc, body",
    [
        ("chats.services.create_chat", "Chats/CreateChat", VALID),
        ("streams.services.create_conversation", "Streams/CreateConversation", {"group_id": "g", "topic": "t"}),
        ("chats.queries.list_messages", "Chats/ListMessages", {"chat_id": "00000000-0000-0000-0000-000000000000"}),
    ],
)
def test_unexpected_crash_is_500_envelope(micro_key, monkeypatch, caplog, target, rpc, body):
    def crash(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(target, crash)
    rpc_client = Rpc(Client(raise_request_exception=False), key=micro_key)
    with caplog.at_level(logging.ERROR):
        response = rpc_client.post(rpc, body, headers={"Accept": "text/html"})
    assert_envelope(response, 500, "INTERNAL_SERVER_ERROR")
    content = response.content.decode()
    assert "secret" not in content
    assert "Traceback" not in content
    assert "RuntimeError" not in content
    assert "<html" not in content.lower()
    # logged server-side, with the traceback
    logged = [r for r in caplog.records if r.exc_info and "secret detail" in str(r.exc_info[1])]
    assert logged, [r.getMessage() for r in caplog.records]


# --------------------------------------------------------------- the envelope


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8", "application/xml", "*/*"])
def test_accept_header_is_ignored(api, client, accept):
    response = api.post(CREATE_CHAT, VALID, headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    response = api.post(CREATE_CHAT, {"user_ids": []}, headers={"Accept": accept})
    assert_envelope(response, 400, "MISSING_USER_IDs")
    response = send(client, "GET", CREATE_CHAT, HTTP_ACCEPT=accept)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    response = send(client, "POST", "/protobuf/Nope/Nope", HTTP_ACCEPT=accept)
    assert_envelope(response, 404, "NOT_FOUND")
    response = send(client, "POST", CREATE_CHAT, b"{}", HTTP_ACCEPT=accept)
    assert_envelope(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "make_response, code, phrase",
    [
        (lambda api, c: api.post(CREATE_CHAT, {}), 400, "Bad Request"),
        (lambda api, c: send(c, "POST", CREATE_CHAT), 401, "Unauthorized"),
        (lambda api, c: api.post(CREATE_CHAT, {}, headers={"Micro-Namespace": "x"}), 403, "Forbidden"),
        (lambda api, c: api.post("Nope/Nope", {}), 404, "Not Found"),
        (lambda api, c: send(c, "GET", CREATE_CHAT), 405, "Method Not Allowed"),
    ],
)
def test_envelope_status_is_the_reason_phrase(api, client, make_response, code, phrase):
    response = make_response(api, client)
    assert response.status_code == code
    body = response.json()
    assert body["code"] == code
    assert body["status"] == phrase


def test_success_responses_are_json_objects(api):
    response = api.post(CREATE_CHAT, VALID)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert isinstance(json.loads(response.content), dict)


# -------------------------------------------------------------------- outside the RPCs


@pytest.mark.parametrize("path", ["/nothing-here", "/admin/no_such_app/nothing/"])
def test_a_missing_page_outside_the_rpcs_is_a_404_envelope(admin_client, path):
    # Admin raises Http404 itself: it must stay a 404, not become a crash.
    assert_envelope(admin_client.get(path), 404, "NOT_FOUND")


def test_a_permission_denied_outside_the_rpcs_is_a_403_envelope(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    # A staff user without permissions on a model: admin raises PermissionDenied.
    assert_envelope(client.get("/admin/streams/conversation/"), 403, "FORBIDDEN")
