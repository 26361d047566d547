"""GET /healthz and the one structured log line per request
(convoproject.requests)."""

import json
import logging

import pytest
from django.db import OperationalError
from django.test import Client

from streams import services
from tests.support.rpc import Rpc, assert_envelope

REQUEST_LOG = "convoproject.requests"
FIELDS = {"method", "path", "rpc", "namespace", "status", "duration_ms"}


def request_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == REQUEST_LOG]


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    return caplog


def test_healthz_answers_ok_when_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.head("/healthz").status_code == 200


class BrokenConnection:
    def cursor(self):
        raise OperationalError("connection refused")


def test_healthz_is_503_in_the_envelope_when_the_database_does_not_answer(client, db, monkeypatch):
    monkeypatch.setattr("convoproject.health.connection", BrokenConnection())
    response = client.get("/healthz")
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE", "The database does not answer")
    assert response.json()["status"] == "Service Unavailable"


def test_healthz_needs_no_credentials_and_only_reads(client, db):
    response = client.post("/healthz")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "GET, HEAD"


def test_one_log_line_per_rpc_without_message_text_or_key(api, micro_key, log):
    conversation = api.ok("Streams/CreateConversation", {"group_id": "g-secret-group", "topic": "topic-text-xyz"})
    log.clear()
    api.ok(
        "Streams/CreateMessage",
        {"conversation_id": conversation["conversation"]["id"], "author_id": "alice", "text": "message-text-xyz"},
    )
    lines = request_lines(log)
    assert len(lines) == 1
    (line,) = lines
    assert set(line) == FIELDS
    assert line["method"] == "POST"
    assert line["path"] == "/protobuf/Streams/CreateMessage"
    assert line["rpc"] == "Streams/CreateMessage"
    assert line["namespace"] == "micro"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    text = "\n".join(r.getMessage() for r in log.records)
    for secret in ("message-text-xyz", "alice", micro_key, micro_key[:12], "Bearer"):
        assert secret not in text


def test_failed_rpc_and_other_pages_are_logged_too(anon, client, log):
    anon.err("Streams/ListConversations", {}, 401, "UNAUTHORIZED")
    client.get("/healthz?token=query-secret")
    client.get("/no-such-page/")
    lines = request_lines(log)
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/protobuf/Streams/ListConversations", 401),
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page/", 404),
    ]
    assert lines[0]["namespace"] is None
    assert lines[1]["rpc"] is None
    assert all(set(x) == FIELDS for x in lines)
    assert "query-secret" not in "\n".join(r.getMessage() for r in log.records)


def test_a_browser_rpc_logs_its_namespace(client, admin_user, log):
    from convoproject.tenants.models import Namespace
    from tests.support.rpc import Rpc

    Namespace.objects.get_or_create(name="micro")
    client.force_login(admin_user)
    Rpc(client, namespace="micro").ok("Streams/ListConversations", {"group_id": "g"})
    (line,) = request_lines(log)
    assert line["namespace"] == "micro"


def test_an_rpc_failing_after_its_namespace_is_known_logs_it(api, log):
    api.err("Streams/CreateMessage", {"author_id": "alice"}, 400, "MISSING_CONVERSATION_ID")
    api.err("Streams/ReadConversation", {"id": "00000000-0000-4000-8000-000000000000"}, 404, "NOT_FOUND")
    assert [(x["rpc"], x["namespace"], x["status"]) for x in request_lines(log)] == [
        ("Streams/CreateMessage", "micro", 400),
        ("Streams/ReadConversation", "micro", 404),
    ]


def test_an_rpc_whose_database_fails_answers_503_in_the_envelope(micro_key, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(services, "create_conversation", unreachable)
    api = Rpc(Client(raise_request_exception=False), key=micro_key)
    response = api.post("Streams/CreateConversation", {"group_id": "g", "topic": "t"})
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert "127.0.0.1" not in response.content.decode()  # no internals reach the client


def test_an_api_key_rpc_skips_the_browser_middleware_a_browser_call_does_not(micro_key, client, admin_user):
    """Sessions, authentication and messages step aside for an RPC called
    with an API key (convoproject.rpc.middleware.BrowserOnly); pages and
    browser RPCs still get them."""
    keyed = Client(headers={"Authorization": f"Bearer {micro_key}"})
    answer = keyed.post("/protobuf/Streams/CreateConversation", {"group_id": "g", "topic": "t"}, "application/json")
    assert answer.status_code == 200
    assert not hasattr(answer.wsgi_request, "session") and not hasattr(answer.wsgi_request, "_messages")
    assert not answer.cookies

    page = client.get("/admin/login/")
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    assert hasattr(page.wsgi_request, "session") and "csrftoken" in page.cookies

    # A logged-in browser's RPC needs the session and the CSRF token: without the token, refused.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    refused = browser.post(
        "/protobuf/Streams/CreateConversation",
        {"group_id": "g", "topic": "t"},
        "application/json",
        headers={"Micro-Namespace": "micro"},
    )
    assert refused.status_code == 403, refused.content
    assert hasattr(refused.wsgi_request, "session")
