"""A small client for calling the RPCs in tests, through Django's test client
(the whole stack: middleware, DRF, serializers, database)."""

import json
from http import HTTPStatus

ENVELOPE_KEYS = {"id", "code", "detail", "status"}
ALL_RPCS = [
    "Streams/CreateConversation",
    "Streams/ReadConversation",
    "Streams/UpdateConversation",
    "Streams/DeleteConversation",
    "Streams/ListConversations",
    "Streams/CreateMessage",
    "Streams/ListMessages",
    "Streams/RecentMessages",
    "Streams/ReportMessage",
    "Chats/CreateChat",
    "Chats/CreateMessage",
    "Chats/ListMessages",
    "Chats/ReportMessage",
]


class Rpc:
    def __init__(self, client, key=None, namespace=None):
        self.client, self.key, self.namespace = client, key, namespace

    def post(self, rpc, body=None, *, raw=None, content_type="application/json", headers=None, method="post"):
        """`rpc` is "Streams/CreateConversation" or a full path. (A request without
        any Content-Type needs client.request: see test_protocol.send.)"""
        path = rpc if rpc.startswith("/") else f"/protobuf/{rpc}"
        data = raw if raw is not None else (b"" if body is None else json.dumps(body))
        extra = {}
        if self.key:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        if self.namespace:
            extra["HTTP_MICRO_NAMESPACE"] = self.namespace
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        return getattr(self.client, method)(path, data, content_type=content_type, **extra)

    def ok(self, rpc, body=None, **kwargs):
        response = self.post(rpc, body, **kwargs)
        assert response.status_code == 200, (response.status_code, response.content[:500])
        assert response["Content-Type"] == "application/json"
        return response.json()

    def err(self, rpc, body, code, error_id, detail=None, **kwargs):
        response = self.post(rpc, body, **kwargs)
        assert_envelope(response, code, error_id, detail)
        return response.json()

    # conveniences
    def conversation(self, group_id="group", topic="topic"):
        return self.ok("Streams/CreateConversation", {"group_id": group_id, "topic": topic})["conversation"]

    def message(self, conversation_id, text="hello", author_id="alice"):
        body = {"author_id": author_id, "conversation_id": conversation_id, "text": text}
        return self.ok("Streams/CreateMessage", body)["message"]

    def chat(self, user_ids):
        return self.ok("Chats/CreateChat", {"user_ids": user_ids})["chat"]

    def report(self, service, message_id, reporter_id="rita", reason="spam", **fields):
        body = {"message_id": message_id, "reporter_id": reporter_id, "reason": reason, **fields}
        return self.ok(f"{service}/ReportMessage", body)["report"]

    def chat_message(self, chat_id, author_id, text="hi"):
        body = {"author_id": author_id, "chat_id": chat_id, "text": text}
        return self.ok("Chats/CreateMessage", body)["message"]


def assert_envelope(response, code, error_id, detail=None):
    """The response is exactly the contract's error envelope."""
    assert response.status_code == code, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert body["id"] == error_id, body
    assert body["code"] == code, body
    assert body["status"] == HTTPStatus(code).phrase, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if detail is not None:
        assert body["detail"] == detail, body


class HttpRpc:
    """The RPCs of a server process over HTTP (tests/support/server.py), one
    keep-alive connection per client."""

    def __init__(self, base_url, key):
        import http.client
        import urllib.parse

        url = urllib.parse.urlsplit(base_url)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        self.key = key

    def post(self, rpc, body):
        self.connection.request(
            "POST",
            f"/protobuf/{rpc}",
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())

    def ok(self, rpc, body):
        status, answer = self.post(rpc, body)
        assert status == 200, (rpc, status, answer)
        return answer
