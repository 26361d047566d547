"""Who may call, and whose data they see (CONTRACT 6): API keys, the
management commands, the Micro-Namespace header and browser sessions."""

import io
import json

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import Client

from chats.models import Chat
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.keys import KEY_PREFIX, create_api_key, find_active_key, revoke_api_key
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation
from tests.support.rpc import ALL_RPCS, Rpc, assert_envelope

# A body each RPC would accept (or answer 404 to) once authenticated.
VALID_BODIES = {
    "Streams/CreateConversation": {"group_id": "g", "topic": "t"},
    "Streams/ReadConversation": {"id": "00000000-0000-0000-0000-000000000000"},
    "Streams/UpdateConversation": {"id": "00000000-0000-0000-0000-000000000000", "topic": "t"},
    "Streams/DeleteConversation": {"id": "00000000-0000-0000-0000-000000000000"},
    "Streams/ListConversations": {"group_id": "g"},
    "Streams/CreateMessage": {"author_id": "a", "conversation_id": "00000000-0000-0000-0000-000000000000", "text": "t"},
    "Streams/ListMessages": {"conversation_id": "00000000-0000-0000-0000-000000000000"},
    "Streams/RecentMessages": {"conversation_ids": ["00000000-0000-0000-0000-000000000000"]},
    "Chats/CreateChat": {"user_ids": ["alice", "bob"]},
    "Chats/CreateMessage": {"author_id": "a", "chat_id": "00000000-0000-0000-0000-000000000000", "text": "t"},
    "Chats/ListMessages": {"chat_id": "00000000-0000-0000-0000-000000000000"},
    "Streams/ReportMessage": {
        "message_id": "00000000-0000-0000-0000-000000000000",
        "reporter_id": "r",
        "reason": "spam",
    },
    "Chats/ReportMessage": {"message_id": "00000000-0000-0000-0000-000000000000", "reporter_id": "r", "reason": "spam"},
}
VALID = VALID_BODIES["Chats/CreateChat"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def assert_nothing_written():
    assert Chat.objects.count() == 0
    assert Conversation.objects.count() == 0


def post_with_authorization(client, authorization, rpc="Chats/CreateChat", body=VALID, **extra):
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    return client.post(f"/protobuf/{rpc}", json.dumps(body), content_type="application/json", **extra)


# ------------------------------------------------------------ no credentials


@pytest.mark.parametrize("rpc", ALL_RPCS)
@pytest.mark.parametrize("body", ["valid", "empty", "invalid"])
def test_no_credentials_is_401(anon, rpc, body):
    if body == "valid":
        response = anon.post(rpc, VALID_BODIES[rpc])
    elif body == "empty":
        response = anon.post(rpc)
    else:
        response = anon.post(rpc, raw=b"not json")
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert_nothing_written()


@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_namespace_header_alone_is_401(client, db, rpc):
    Namespace.objects.create(name="micro")
    response = Rpc(client, namespace="micro").post(rpc, VALID_BODIES[rpc])
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert_nothing_written()


NO_CREDENTIALS = (
    "No credentials: send 'Authorization: Bearer <API key>', or call from a logged-in browser session "
    "with Django's CSRF token in X-CSRFToken"
)


def test_no_credentials_says_how_to_authenticate(anon, client, db):
    """Not DRF's stock "Authentication credentials were not provided.": the two ways in."""
    Namespace.objects.create(name="micro")
    for response in [
        anon.post("Streams/ListConversations", {"group_id": "g"}),
        Rpc(client, namespace="micro").post("Chats/CreateChat", VALID),
    ]:
        assert_envelope(response, 401, "UNAUTHORIZED", NO_CREDENTIALS)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    # A wrong key keeps its own sentence.
    response = post_with_authorization(client, "Bearer nope-nope-nope")
    assert_envelope(response, 401, "UNAUTHORIZED", "Unknown or revoked API key")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_valid_key_works_for_every_rpc(api, rpc):
    """The counterpart of the 401 tests: the same requests with a key get past auth."""
    response = api.post(rpc, VALID_BODIES[rpc])
    assert response.status_code in (200, 404), response.content


# --------------------------------------------------------------- bad keys


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cvk_this-key-does-not-exist-anywhere-0123456789",
        "Bearer x",
        "Token KEY",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer",
        "Bearer ",
        "KEY",
        "Bearer KEYx",
        "Bearer KEY_PREFIX",
        "Bearer " + "k" * 5000,
    ],
)
@pytest.mark.parametrize("rpc", ["Chats/CreateChat", "Streams/ListConversations"])
def test_unknown_or_malformed_key_is_401(client, micro_key, authorization, rpc):
    authorization = authorization.replace("KEY_PREFIX", micro_key[:12]).replace("KEY", micro_key)
    response = post_with_authorization(client, authorization, rpc, VALID_BODIES[rpc])
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert_nothing_written()


def test_unknown_key_is_401_even_with_a_logged_in_session(client, micro_key, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    response = post_with_authorization(client, "Bearer nope-nope-nope", HTTP_MICRO_NAMESPACE="micro")
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert_nothing_written()


def test_revoked_key_is_refused_on_the_next_request(client, api, micro_key):
    chat = api.chat(["alice", "bob"])
    second_key = create_api_key("micro")[1]
    assert revoke_api_key(micro_key) is not None
    api.err("Chats/CreateChat", VALID, 401, "UNAUTHORIZED")
    api.err("Chats/ListMessages", {"chat_id": chat["id"]}, 401, "UNAUTHORIZED")
    # Other keys of the namespace keep working and see the same rows.
    assert Rpc(client, key=second_key).chat(["bob", "alice"]) == chat


def test_revoke_api_key_command(client, micro_key):
    api = Rpc(client, key=micro_key)
    api.chat(["alice", "bob"])
    out = io.StringIO()
    call_command("revoke_api_key", micro_key, stdout=out)
    assert micro_key not in out.getvalue()
    api.err("Chats/CreateChat", VALID, 401, "UNAUTHORIZED")
    assert ApiKey.objects.get().revoked_at is not None
    # Revoking again is harmless, and the key stays refused.
    call_command("revoke_api_key", micro_key, "--reason", "rotated", stdout=io.StringIO())
    api.err("Chats/CreateChat", VALID, 401, "UNAUTHORIZED")
    # Both are in the moderation log, by the command line, the second changing nothing.
    events = ModerationEvent.objects.filter(action="revoke_key").order_by("created_at")
    assert [(e.actor, e.actor_name, e.count, e.reason) for e in events] == [
        (None, "system", 1, "Revoked with manage.py revoke_api_key"),
        (None, "system", 0, "rotated"),
    ]


def test_revoking_one_namespace_key_leaves_others(client, micro_key, other_key):
    call_command("revoke_api_key", micro_key, stdout=io.StringIO())
    assert Rpc(client, key=other_key).chat(["alice", "bob"])["user_ids"] == ["alice", "bob"]


@pytest.mark.parametrize("key", ["cvk_unknown-key-0123456789abcdefghijklmnop", "x"])
def test_revoke_unknown_key_is_a_command_error(micro_key, key):
    with pytest.raises(CommandError):
        call_command("revoke_api_key", key, stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.get().revoked_at is None


# ------------------------------------------------------------ create_api_key


def run_create_api_key(namespace):
    out = io.StringIO()
    call_command("create_api_key", namespace, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines, out.getvalue()
    return lines[-1], out.getvalue()


def test_create_api_key_command(client, db):
    assert not Namespace.objects.filter(name="ns").exists()
    key, output = run_create_api_key("ns")
    assert key == key.strip() and " " not in key
    assert len(key) >= 32
    assert output.count(key) == 1
    namespace = Namespace.objects.get(name="ns")
    chat = Rpc(client, key=key).chat(["alice", "bob"])
    assert Chat.objects.get(id=chat["id"]).namespace == namespace
    # The key's namespace is "ns": naming it is fine, naming another is not.
    Namespace.objects.create(name="micro")
    assert Rpc(client, key=key, namespace="ns").chat(["alice", "bob"]) == chat
    Rpc(client, key=key, namespace="micro").err("Chats/CreateChat", VALID, 403, "FORBIDDEN")


def test_create_api_key_for_an_existing_namespace(client, micro_key):
    api = Rpc(client, key=micro_key)
    chat = api.chat(["alice", "bob"])
    key, _ = run_create_api_key("micro")
    assert key != micro_key
    assert Namespace.objects.filter(name="micro").count() == 1
    assert Rpc(client, key=key).chat(["bob", "alice"]) == chat
    assert api.chat(["alice", "bob"]) == chat


def test_keys_are_random(db):
    keys = {run_create_api_key("ns")[0] for _ in range(5)}
    assert len(keys) == 5
    assert ApiKey.objects.count() == 5
    assert Namespace.objects.filter(name="ns").count() == 1


def test_database_stores_no_raw_key(db):
    key, _ = run_create_api_key("ns")
    api_key = ApiKey.objects.get()
    assert api_key.digest != key
    assert key not in api_key.digest
    # Neither the key nor any long part of it is in any column of any table.
    probes = {key, key[len(key) // 2 :], key[-16:]}
    for model in apps.get_models():
        for row in model.objects.all().values():
            for column, value in row.items():
                for probe in probes:
                    assert probe not in str(value), (model.__name__, column)


def test_create_api_key_command_keys_work_immediately_and_independently(client, db):
    key_a, _ = run_create_api_key("a")
    key_b, _ = run_create_api_key("b")
    chat_a = Rpc(client, key=key_a).chat(["alice", "bob"])
    chat_b = Rpc(client, key=key_b).chat(["alice", "bob"])
    assert chat_a["id"] != chat_b["id"]
    Rpc(client, key=key_b).err("Chats/ListMessages", {"chat_id": chat_a["id"]}, 404, "NOT_FOUND", "Chat not found")


# ------------------------------------------------------- Micro-Namespace header


def test_namespace_header_equal_to_the_keys_namespace(client, micro_key):
    api = Rpc(client, key=micro_key, namespace="micro")
    chat = api.chat(["alice", "bob"])
    assert Rpc(client, key=micro_key).chat(["alice", "bob"]) == chat


@pytest.mark.parametrize("namespace", ["other", "does-not-exist", "MICRO", "Micro", "micro2"])
@pytest.mark.parametrize("rpc", ["Chats/CreateChat", "Streams/CreateConversation", "Chats/ListMessages"])
def test_namespace_header_different_from_the_keys_namespace(client, micro_key, other_key, namespace, rpc):
    response = Rpc(client, key=micro_key, namespace=namespace).post(rpc, VALID_BODIES[rpc])
    assert_envelope(response, 403, "FORBIDDEN")
    assert_nothing_written()


def test_key_of_other_namespace_cannot_reach_micro(client, api, other_key):
    chat = api.chat(["alice", "bob"])
    other = Rpc(client, key=other_key, namespace="micro")
    other.err("Chats/ListMessages", {"chat_id": chat["id"]}, 403, "FORBIDDEN")
    other.err("Chats/CreateChat", VALID, 403, "FORBIDDEN")
    assert Chat.objects.count() == 1


# ------------------------------------------------------------ browser sessions


def csrf_pair():
    """(cookie secret, masked token) exactly as a Django page would hand out."""
    request = HttpRequest()
    token = get_token(request)
    return request.META["CSRF_COOKIE"], token


class Browser:
    """A logged-in browser: session cookie, CSRF cookie, X-CSRFToken header."""

    def __init__(self, user, csrf="masked"):
        self.client = Client(enforce_csrf_checks=True)
        if user is not None:
            self.client.force_login(user)
        secret, masked = csrf_pair()
        self.client.cookies[settings.CSRF_COOKIE_NAME] = secret
        self.token = {"masked": masked, "secret": secret}.get(csrf, csrf)

    def post(self, rpc, body, namespace="micro", csrf=True, **extra):
        """body None sends an empty body (which counts as {})."""
        if namespace is not None:
            extra["HTTP_MICRO_NAMESPACE"] = namespace
        if csrf and self.token:
            extra["HTTP_X_CSRFTOKEN"] = self.token
        data = b"" if body is None else json.dumps(body)
        return self.client.post(f"/protobuf/{rpc}", data, content_type="application/json", **extra)

    def ok(self, rpc, body, **kwargs):
        response = self.post(rpc, body, **kwargs)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json"
        return response.json()


@pytest.fixture
def micro(db):
    return Namespace.objects.get_or_create(name="micro")[0]


@pytest.fixture
def member(micro, django_user_model):
    user = django_user_model.objects.create_user("member", "member@example.com", "pw-member-123")
    micro.members.add(user)
    return user


@pytest.mark.parametrize(
    "who, namespace, csrf, allowed",
    [
        ("member", "micro", "masked", True),
        ("member", "micro", "secret", True),
        ("member", "micro", "same-site", True),
        ("superuser", "micro", "masked", True),
        ("superuser", "other", "masked", True),
        ("member", "other", "masked", False),
        ("member", "does-not-exist", "masked", False),
        ("member", "MICRO", "masked", False),
        ("member", "", "masked", False),
        ("member", None, "masked", False),
        ("superuser", None, "masked", False),
        ("stranger", "micro", "masked", False),
        ("staff", "micro", "masked", False),
        ("member", "micro", "none", False),
        ("member", "micro", "wrong", False),
        ("member", "micro", "garbage", False),
        ("member", "micro", "no cookie", False),
        ("member", "micro", "cross-site", False),
        ("superuser", "micro", "none", False),
    ],
)
@pytest.mark.parametrize("body", [None, VALID], ids=["empty body", "json body"])
def test_session_access(micro, django_user_model, who, namespace, csrf, allowed, body):
    """Who may call in which namespace with a session. With an empty body an
    allowed call gets as far as body validation (MISSING_USER_IDs)."""
    Namespace.objects.create(name="other")
    if who == "superuser":
        user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    else:
        user = django_user_model.objects.create_user(who, password="pw", is_staff=who == "staff")
        if who == "member":
            micro.members.add(user)
    browser = Browser(user, csrf=csrf if csrf in ("masked", "secret") else "masked")
    extra = {}
    if csrf == "none":
        extra["csrf"] = False
    elif csrf == "wrong":
        browser.token = csrf_pair()[1]
    elif csrf == "garbage":
        browser.token = "not-a-token"
    elif csrf == "no cookie":
        del browser.client.cookies[settings.CSRF_COOKIE_NAME]
    elif csrf == "cross-site":
        extra["HTTP_ORIGIN"] = "http://evil.example"
    elif csrf == "same-site":  # a page of the same site sends its Origin
        extra["HTTP_ORIGIN"] = "http://testserver"
    response = browser.post("Chats/CreateChat", body, namespace=namespace, **extra)
    if not allowed:
        assert_envelope(response, 403, "FORBIDDEN")
        assert_nothing_written()
    elif body is None:
        assert_envelope(response, 400, "MISSING_USER_IDs", "Two or more user IDs are required")
    else:
        assert response.status_code == 200, response.content
        assert Chat.objects.get().namespace.name == namespace


@pytest.mark.parametrize("csrf", ["masked", "secret"])
def test_member_session_with_csrf_token(member, csrf):
    browser = Browser(member, csrf=csrf)
    chat = browser.ok("Chats/CreateChat", VALID)["chat"]
    assert chat["user_ids"] == ["alice", "bob"]
    assert Chat.objects.get().namespace.name == "micro"
    message = browser.ok("Chats/CreateMessage", {"author_id": "alice", "chat_id": chat["id"], "text": "hi"})
    assert browser.ok("Chats/ListMessages", {"chat_id": chat["id"]}) == {"messages": [message["message"]]}


@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_member_session_reaches_every_rpc(member, rpc):
    response = Browser(member).post(rpc, VALID_BODIES[rpc])
    assert response.status_code in (200, 404), response.content
    assert response.status_code == 200 or response.json()["id"] == "NOT_FOUND"


def test_password_login_session(member):
    browser = Browser(None)
    # django-axes needs the request to count attempts per address.
    assert browser.client.login(request=HttpRequest(), username="member", password="pw-member-123")
    assert browser.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"})["conversation"]["topic"] == "t"


def test_csrf_token_from_the_sites_own_page(member):
    """A real page of the site (the admin login form) sets the CSRF cookie;
    its value works in X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.get("/admin/login/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    client.force_login(member)
    response = client.post(
        "/protobuf/Chats/CreateChat",
        json.dumps(VALID),
        content_type="application/json",
        HTTP_MICRO_NAMESPACE="micro",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content


def test_member_of_two_namespaces_sees_each_separately(member):
    Namespace.objects.create(name="other").members.add(member)
    browser = Browser(member)
    in_micro = browser.ok("Chats/CreateChat", VALID, namespace="micro")["chat"]
    in_other = browser.ok("Chats/CreateChat", VALID, namespace="other")["chat"]
    assert in_micro["id"] != in_other["id"]
    response = browser.post("Chats/ListMessages", {"chat_id": in_micro["id"]}, namespace="other")
    assert_envelope(response, 404, "NOT_FOUND", "Chat not found")


def test_logged_out_session_is_401(member):
    browser = Browser(member)
    browser.client.logout()
    assert_envelope(browser.post("Chats/CreateChat", VALID), 401, "UNAUTHORIZED")


def test_deactivated_user_session_is_401(member):
    """A deactivated user's session is no login at all: no credentials."""
    browser = Browser(member)
    member.is_active = False
    member.save()
    assert_envelope(browser.post("Chats/CreateChat", VALID), 401, "UNAUTHORIZED")
    assert_nothing_written()


def test_session_rows_are_the_namespaces_rows(client, member, micro_key):
    browser = Browser(member)
    api = Rpc(client, key=micro_key)
    chat = browser.ok("Chats/CreateChat", {"user_ids": ["bob", "alice"]})["chat"]
    assert api.chat(["alice", "bob"]) == chat
    from_browser = browser.ok("Chats/CreateMessage", {"author_id": "alice", "chat_id": chat["id"], "text": "b"})
    from_api = api.chat_message(chat["id"], "bob", "a")
    expected = [from_api, from_browser["message"]]
    assert api.ok("Chats/ListMessages", {"chat_id": chat["id"]})["messages"] == expected
    assert browser.ok("Chats/ListMessages", {"chat_id": chat["id"]})["messages"] == expected
    conversation = browser.ok("Streams/CreateConversation", {"group_id": "g", "topic": "t"})["conversation"]
    assert api.ok("Streams/ReadConversation", {"id": conversation["id"]}) == {"conversation": conversation}
    # ... and not another namespace's
    other = Rpc(client, key=create_api_key("other")[1])
    other.err("Chats/ListMessages", {"chat_id": chat["id"]}, 404, "NOT_FOUND", "Chat not found")


# ---------------------------------------------------------------- keys in admin


def test_revoking_in_admin_asks_a_reason_and_refuses_the_key_at_once(api, admin_client, micro_key):
    api.ok("Streams/ListConversations", {"group_id": "g"})
    api_key = find_active_key(micro_key)
    action = {"action": "revoke_keys", "_selected_action": [api_key.pk], "index": 0}
    confirmation = admin_client.post("/admin/tenants/apikey/", action)
    assert confirmation.status_code == 200 and b'name="reason"' in confirmation.content
    api.ok("Streams/ListConversations", {"group_id": "g"})  # not yet revoked
    response = admin_client.post(
        "/admin/tenants/apikey/", {**action, "confirm": "yes", "reason": "leaked"}, follow=True
    )
    assert response.status_code == 200
    api.err("Streams/ListConversations", {"group_id": "g"}, 401, "UNAUTHORIZED")
    event = ModerationEvent.objects.get(action="revoke_key")
    assert (event.actor_name, event.reason, event.count, event.namespace.name) == ("admin", "leaked", 1, "micro")


def test_a_key_made_in_admin_is_shown_once_and_works(admin_client, client, db):
    namespace = Namespace.objects.create(name="made-in-admin")
    response = admin_client.post("/admin/tenants/apikey/add/", {"namespace": namespace.pk}, follow=True)
    notices = [str(m) for m in response.context["messages"]]
    keys = [word for notice in notices for word in notice.split() if word.startswith(KEY_PREFIX)]
    assert len(keys) == 1, notices
    raw_key = keys[0]
    assert ApiKey.objects.get(namespace=namespace).digest != raw_key
    Rpc(client, key=raw_key).ok("Streams/ListConversations", {"group_id": "g"})
    # Never again: the key's page shows only its prefix.
    page = admin_client.get(f"/admin/tenants/apikey/{ApiKey.objects.get(namespace=namespace).pk}/change/")
    assert raw_key not in page.content.decode()
