"""The moderation REST API (/api/moderation/, convoproject.moderation.api):
every endpoint and filter, who may do what (superuser, a Moderators member,
plain staff, non-staff, tokens, revoked tokens, API keys, no credentials,
sessions with CSRF), the error envelopes of bad input, the moderation log
entry of each action, cursor paging, query counts, and the answers against
the OpenAPI document. The one selection shared with admin and the shell:
tests/test_moderation_selection.py."""

import base64
import datetime
from urllib.parse import parse_qs, urlencode, urlparse

import jsonschema
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats.models import Message as ChatMessage
from convoproject.moderation.models import ModerationEvent, ModerationToken
from convoproject.moderation.tokens import create_token, revoke_token
from convoproject.tenants.keys import create_api_key
from streams.models import Message
from tests.support.factories import BASE, MINUTE, a_big_quiet_parent, add, chat, conversation, ns
from tests.support.plans import assert_newest_first_from_a_page_index
from tests.support.rpc import assert_envelope
from tests.test_request_schemas import as_json_schema

pytestmark = pytest.mark.django_db

STREAMS = "/api/moderation/streams/messages/"
CHATS = "/api/moderation/chats/messages/"
LOG = "/api/moderation/log/"


# ---------------------------------------------------------------- users, tokens, data


def user(username, **flags):
    return get_user_model().objects.create_user(username, **flags)


@pytest.fixture
def nonstaff(db):
    member = user("member")
    member.groups.add(Group.objects.get(name="Moderators"))  # permissions, but not staff
    return member


class Api:
    """The moderation API through Django's test client, with a token (or none)."""

    def __init__(self, client, token=None, header=None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": header or f"Token {token}"} if (token or header) else {}

    def get(self, path, **query):
        return self.client.get(path + ("?" + urlencode(query) if query else ""), **self.headers)

    def post(self, path, body=None, **kwargs):
        return self.client.post(path, body or {}, content_type="application/json", **self.headers, **kwargs)

    def delete(self, path, body=None):
        return self.client.delete(path, body or {}, content_type="application/json", **self.headers)


def api_of(someone):
    return Api(Client(), create_token(someone)[1])


@pytest.fixture
def as_root(superuser):
    return api_of(superuser)


@pytest.fixture
def as_mod(moderator):
    return api_of(moderator)


@pytest.fixture
def world(db):
    micro, other = ns("micro"), ns("other")
    conv = conversation(micro, topic="Weekend plans")
    alice = add(conv, 3, author="alice", text="Hello narwhal {i}")
    spam = add(conv, 4, author="spammer", start=BASE + 10 * MINUTE, text="BUY NOW {i}")
    room = chat(micro)
    chat_rows = add(room, 2, author="bob", start=BASE + 30 * MINUTE)
    foreign = conversation(other, topic="Elsewhere")
    foreign_rows = add(foreign, 2, author="spammer", start=BASE + 20 * MINUTE, text="foreign spam {i}")
    return {
        "micro": micro,
        "conv": conv,
        "alice": alice,
        "spam": spam,
        "chat": room,
        "chat_rows": chat_rows,
        "foreign": foreign,
        "foreign_rows": foreign_rows,
    }


def ids(rows):
    return [str(row.pk) for row in rows]


def newest_first(rows):
    return ids(sorted(rows, key=lambda row: row.sent_at, reverse=True))


def listed(response):
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/json"
    return [row["id"] for row in response.json()["results"]]


# ---------------------------------------------------------------- reading


def test_the_messages_of_both_services_newest_first(world, as_mod):
    streams = as_mod.get(STREAMS)
    everything = world["alice"] + world["spam"] + world["foreign_rows"]
    assert listed(streams) == newest_first(everything)
    assert streams.json()["next"] is None and streams.json()["previous"] is None
    first = streams.json()["results"][-1]
    message = world["alice"][0]
    assert first == {
        "id": str(message.pk),
        "namespace": "micro",
        "author_id": "alice",
        "conversation_id": str(world["conv"].pk),
        "text": "Hello narwhal 0",
        "sent_at": "2024-03-10T12:00:00.000000Z",
        "hidden": False,
        "hidden_at": None,
        "hidden_by": None,
        "hidden_reason": "",
    }
    chats = as_mod.get(CHATS)
    assert listed(chats) == newest_first(world["chat_rows"])
    assert chats.json()["results"][0]["chat_id"] == str(world["chat"].pk)
    assert "conversation_id" not in chats.json()["results"][0]


def test_one_message_with_its_moderation_state(world, as_mod, moderator):
    target = world["spam"][0]
    as_mod.post(f"{STREAMS}{target.pk}/hide/", {"reason": "spam"})
    answer = as_mod.get(f"{STREAMS}{target.pk}/")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["hidden"], body["hidden_by"], body["hidden_reason"]) == (
        str(target.pk),
        True,
        "mod",
        "spam",
    )
    assert body["hidden_at"].endswith("Z") and len(body["hidden_at"]) == len("2024-03-10T12:00:00.000000Z")
    chat_answer = as_mod.get(f"{CHATS}{world['chat_rows'][0].pk}/")
    assert chat_answer.json()["chat_id"] == str(world["chat"].pk)


def test_unknown_and_malformed_ids_are_404_envelopes(world, as_mod):
    assert_envelope(as_mod.get(f"{STREAMS}00000000-0000-0000-0000-000000000000/"), 404, "NOT_FOUND")
    # A chat message is not a Streams message.
    assert_envelope(as_mod.get(f"{STREAMS}{world['chat_rows'][0].pk}/"), 404, "NOT_FOUND")
    assert_envelope(as_mod.get(f"{STREAMS}not-a-uuid/"), 404, "NOT_FOUND")
    assert_envelope(
        as_mod.post(f"{STREAMS}00000000-0000-0000-0000-000000000000/hide/", {"reason": "x"}), 404, "NOT_FOUND"
    )
    assert_envelope(as_mod.get(f"{LOG}999999/"), 404, "NOT_FOUND")
    assert_envelope(as_mod.get(f"{LOG}99999999999999999999/"), 404, "NOT_FOUND")


FILTERS = [
    ({"namespace": "other"}, lambda w: w["foreign_rows"]),
    ({"author_id": "spammer"}, lambda w: w["spam"] + w["foreign_rows"]),
    ({"author_id": "spammer", "namespace": "micro"}, lambda w: w["spam"]),
    ({"conversation": "{conv}"}, lambda w: w["alice"] + w["spam"]),
    ({"conversation": "00000000-0000-0000-0000-000000000000"}, lambda w: []),
    ({"hidden": "true"}, lambda w: w["spam"][:1]),
    ({"hidden": "False"}, lambda w: w["alice"] + w["spam"][1:] + w["foreign_rows"]),
    ({"hidden": "0"}, lambda w: w["alice"] + w["spam"][1:] + w["foreign_rows"]),
    # sent_after inclusive, sent_before exclusive; any offset.
    ({"sent_after": "2024-03-10T12:11:00Z"}, lambda w: w["spam"][1:] + w["foreign_rows"]),
    ({"sent_before": "2024-03-10T12:11:00Z"}, lambda w: w["alice"] + w["spam"][:1]),
    ({"sent_after": "2024-03-10T13:11:00+01:00", "sent_before": "2024-03-10T07:13:00-05:00"}, lambda w: w["spam"][1:3]),
    ({"text": "narWHAL"}, lambda w: w["alice"]),
    ({"text": "buy now 2"}, lambda w: w["spam"][2:3]),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS, ids=[str(q) for q, _ in FILTERS])
def test_every_filter(world, as_mod, query, expected):
    Message.objects.filter(pk=world["spam"][0].pk).update(hidden=True)
    query = {name: value.format(conv=world["conv"].pk) for name, value in query.items()}
    assert listed(as_mod.get(STREAMS, **query)) == newest_first(expected(world))


def test_the_chat_filter(world, as_mod):
    other_chat = chat(world["micro"], user_ids=("carol", "dave"))
    add(other_chat, 2, author="carol")
    assert listed(as_mod.get(CHATS, chat=str(world["chat"].pk))) == newest_first(world["chat_rows"])
    assert listed(as_mod.get(CHATS, author_id="bob", namespace="micro")) == newest_first(world["chat_rows"])


PARENTS = {
    "streams": (STREAMS, Message, lambda namespace, i: conversation(namespace, topic=f"t{i}")),
    "chats": (CHATS, ChatMessage, lambda namespace, i: chat(namespace, user_ids=(f"u{i}", "v"))),
}


@pytest.mark.parametrize("service", list(PARENTS))
def test_a_big_quiet_parents_messages_are_read_from_a_page_index(as_mod, service):
    """A conversation (or chat) holding most of the messages, all older than
    the others' newest: given its id, PostgreSQL's planner walked the
    newest-first `sent_at` index of all parents for its page, reading every
    newer message of the others first. The parent's id is a value the planner
    does not look into (convoproject.moderation.selection.of_parent): every
    page is a walk of an index in its order: the unique (namespace, parent,
    sent_at) one or the (parent, sent_at) one."""
    path, model, make_parent = PARENTS[service]
    big, rows = a_big_quiet_parent(ns("micro"), make_parent)
    pages = []
    with CaptureQueriesContext(connection) as captured:
        first = as_mod.get(path, **{model.PARENT: str(big.pk), "page_size": "25"})
        pages.append(listed(first))
        pages.append(listed(as_mod.client.get(first.json()["next"], **as_mod.headers)))
    assert pages == [newest_first(rows)[:25], newest_first(rows)[25:50]]
    ordered = f'ORDER BY "{model._meta.db_table}"."sent_at" DESC'
    statements = [query["sql"] for query in captured.captured_queries if ordered in query["sql"]]
    assert len(statements) == 2
    assert_newest_first_from_a_page_index(model, statements)


BAD_QUERIES = [
    ({"conversation": "nope"}, "conversation: Enter a valid UUID."),
    ({"sent_after": "yesterday"}, "sent_after: Enter a valid date/time."),
    ({"sent_before": "2024-03-10T12:00:00"}, "sent_before: Enter a valid date/time."),  # no offset
    ({"sent_after": "2024-02-30T12:00:00Z"}, "sent_after: Enter a valid date/time."),
    ({"hidden": "maybe"}, "hidden: Enter true or false."),
    ({"namespace": "nowhere"}, "namespace: No namespace named 'nowhere'."),
    (
        {"sent_after": "2024-03-10T12:00:00Z", "sent_before": "2024-03-10T12:00:00Z"},
        "sent_before: Must be later than sent_after.",
    ),
    ({"page_size": "0"}, "page_size: Enter a whole number from 1 to 500."),
    ({"page_size": "501"}, "page_size: Enter a whole number from 1 to 500."),
    ({"page_size": "ten"}, "page_size: Enter a whole number from 1 to 500."),
    ({"cursor": "garbage"}, "cursor: Invalid cursor."),
    ({"cursor": base64.b64encode(b"p=not a time").decode()}, "cursor: Invalid cursor."),
    ({"author_id": "a\x00b"}, "author_id: Null characters are not allowed."),
]


@pytest.mark.parametrize(("query", "detail"), BAD_QUERIES, ids=[str(q) for q, _ in BAD_QUERIES])
def test_bad_filter_values_are_400_envelopes_naming_the_field(world, as_mod, query, detail):
    assert_envelope(as_mod.get(STREAMS, **query), 400, "BAD_REQUEST", detail)


def test_bad_log_filters(world, as_mod):
    assert_envelope(
        as_mod.get(LOG, action="nuke"),
        400,
        "BAD_REQUEST",
        "action: Select a valid choice. nuke is not one of the available choices.",
    )
    assert_envelope(
        as_mod.get(LOG, created_after="soon"), 400, "BAD_REQUEST", "created_after: Enter a valid date/time."
    )


def test_cursor_pages_cover_every_row_once_in_order(world, as_mod):
    rows = add(world["conv"], 120, author="bulk", start=BASE + 60 * MINUTE, step=datetime.timedelta(seconds=1))
    # Two messages at the same instant in two conversations: the cursor's offset keeps both.
    same = add(conversation(world["micro"]), 1, author="bulk", start=rows[50].sent_at)
    expected = newest_first(rows + same)
    seen, pages, response = [], 0, as_mod.get(STREAMS, author_id="bulk", page_size="50")
    while True:
        seen += listed(response)
        pages += 1
        next_url = response.json()["next"]
        if next_url is None:
            break
        assert parse_qs(urlparse(next_url).query)["author_id"] == ["bulk"]
        response = as_mod.client.get(next_url, **as_mod.headers)
    # Every row once, newest first (the two of one instant in either order).
    assert (len(seen), len(set(seen)), set(seen), pages) == (121, 121, set(expected), 3)
    sent = {str(row.pk): row.sent_at for row in rows + same}
    assert [sent[pk] for pk in seen] == sorted(sent.values(), reverse=True)
    # And back: the last page's previous link is the second page.
    back = as_mod.client.get(response.json()["previous"], **as_mod.headers)
    assert listed(back) == seen[50:100]
    # The default page size is 50; at most 500.
    assert len(listed(as_mod.get(STREAMS))) == 50
    assert len(listed(as_mod.get(STREAMS, page_size="500"))) == 130


def test_the_log_is_read_only_filtered_and_paged(world, as_mod, as_root, moderator, superuser):
    spam, alice = world["spam"], world["alice"]
    as_mod.post(f"{STREAMS}{spam[0].pk}/hide/", {"reason": "one"})
    as_root.post(f"{STREAMS}{alice[0].pk}/hide/", {"reason": "two"})
    as_root.post(f"{STREAMS}{alice[0].pk}/unhide/", {"reason": "three"})
    as_root.post(f"{STREAMS}clean-up-author/", {"namespace": "other", "author_id": "spammer", "reason": "four"})
    events = list(ModerationEvent.objects.order_by("-created_at"))
    everything = [event.pk for event in events]
    assert [row["id"] for row in as_mod.get(LOG).json()["results"]] == everything

    def log(**query):
        answer = as_mod.get(LOG, **query)
        assert answer.status_code == 200, answer.content
        return [row["id"] for row in answer.json()["results"]]

    assert log(action="hide") == [e.pk for e in events if e.action == "hide"]
    assert log(actor="mod") == [e.pk for e in events if e.actor == moderator]
    assert log(actor="nobody") == []
    assert log(namespace="other") == [events[0].pk]
    middle = events[1].created_at
    assert log(created_before=middle.isoformat()) == [e.pk for e in events if e.created_at < middle]
    assert log(created_after=middle.isoformat()) == [e.pk for e in events if e.created_at >= middle]
    assert log(page_size="2") == everything[:2]
    one = as_mod.get(f"{LOG}{events[-1].pk}/").json()
    assert (one["action"], one["actor"], one["namespace"], one["count"], one["reason"]) == (
        "hide",
        "mod",
        "micro",
        1,
        "one",
    )
    assert one["details"]["ids"] == [str(spam[0].pk)]
    assert one["created_at"].endswith("Z")
    for method in ("post", "delete"):
        response = getattr(as_root, method)(f"{LOG}{events[-1].pk}/", {"reason": "x"})
        assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
        assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_errors_are_json_whatever_the_accept_header(world, as_mod):
    response = as_mod.client.get(f"{STREAMS}?hidden=maybe", HTTP_ACCEPT="text/html", **as_mod.headers)
    assert_envelope(response, 400, "BAD_REQUEST")
    response = as_mod.client.get(STREAMS, HTTP_ACCEPT="text/html", **as_mod.headers)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


# ---------------------------------------------------------------- actions, each recorded


def event_of(response):
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    event = ModerationEvent.objects.get(pk=body["id"])
    assert set(body) == {
        "id",
        "action",
        "actor",
        "namespace",
        "count",
        "target_type",
        "target",
        "reason",
        "created_at",
        "details",
    }
    assert (body["action"], body["actor"], body["count"], body["reason"], body["target"], body["details"]) == (
        event.action,
        event.actor_name,
        event.count,
        event.reason,
        event.target,
        event.details,
    )
    return event


def test_hide_and_unhide_one_message(world, as_mod, moderator):
    target = world["spam"][0]
    event = event_of(as_mod.post(f"{STREAMS}{target.pk}/hide/", {"reason": "  spam  "}))
    assert (event.action, event.actor, event.count, event.reason, event.namespace) == (
        "hide",
        moderator,
        1,
        "spam",
        world["micro"],
    )
    assert event.details["ids"] == [str(target.pk)]
    target.refresh_from_db()
    assert (target.hidden, target.hidden_by, target.hidden_reason) == (True, moderator, "spam")
    # Hiding it again changes nothing, and says so.
    assert event_of(as_mod.post(f"{STREAMS}{target.pk}/hide/", {"reason": "again"})).count == 0
    event = event_of(as_mod.post(f"{STREAMS}{target.pk}/unhide/", {"reason": "appeal"}))
    assert (event.action, event.count) == ("unhide", 1)
    target.refresh_from_db()
    assert (target.hidden, target.hidden_by, target.hidden_reason) == (False, None, "")
    chat_row = world["chat_rows"][0]
    event = event_of(as_mod.post(f"{CHATS}{chat_row.pk}/hide/", {"reason": "rude"}))
    assert (event.action, event.target_type) == ("hide", "chats.message")
    assert ChatMessage.objects.get(pk=chat_row.pk).hidden


def test_delete_one_message(world, as_root, superuser):
    target = world["alice"][1]
    event = event_of(as_root.delete(f"{STREAMS}{target.pk}/", {"reason": "illegal"}))
    assert (event.action, event.actor, event.count, event.reason) == ("delete", superuser, 1, "illegal")
    assert not Message.objects.filter(pk=target.pk).exists()
    assert_envelope(as_root.delete(f"{STREAMS}{target.pk}/", {"reason": "again"}), 404, "NOT_FOUND")


def test_clean_up_an_author(world, as_mod, as_root, moderator, superuser):
    body = {"namespace": "micro", "author_id": "spammer", "reason": "spam wave", "sent_after": "2024-03-10T12:11:00Z"}
    event = event_of(as_mod.post(f"{STREAMS}clean-up-author/", body))
    assert (event.action, event.actor, event.count, event.namespace) == ("hide_author", moderator, 3, world["micro"])
    assert event.details["author_id"] == "spammer"
    assert event.details["since"] == "2024-03-10T12:11:00+00:00" and event.details["until"] is None
    assert sorted(event.details["ids"]) == sorted(ids(world["spam"][1:]))
    assert set(Message.objects.filter(hidden=True).values_list("pk", flat=True)) == {m.pk for m in world["spam"][1:]}

    event = event_of(as_root.post(f"{STREAMS}clean-up-author/", {**body, "sent_after": None, "delete": True}))
    assert (event.action, event.count) == ("delete_author", 4)
    assert not Message.objects.filter(author_id="spammer", namespace=world["micro"]).exists()
    assert Message.objects.filter(author_id="spammer").count() == 2  # other's stay

    event = event_of(as_mod.post(f"{CHATS}clean-up-author/", {"namespace": "micro", "author_id": "bob", "reason": "x"}))
    assert (event.action, event.target_type, event.count) == ("hide_author", "chats.message", 2)


BAD_BODIES = [
    (f"{STREAMS}{{spam}}/hide/", {}, "reason: This field is required."),
    (f"{STREAMS}{{spam}}/hide/", {"reason": "   "}, "reason: This field may not be blank."),
    (f"{STREAMS}{{spam}}/unhide/", {"reason": None}, "reason: This field may not be null."),
    (f"{STREAMS}clean-up-author/", {"author_id": "spammer", "reason": "x"}, "namespace: This field is required."),
    (
        f"{STREAMS}clean-up-author/",
        {"namespace": "micro", "author_id": "spammer", "reason": "x", "sent_before": "noon"},
        "sent_before: Enter a valid date/time.",
    ),
    (
        f"{STREAMS}clean-up-author/",
        {"namespace": "nowhere", "author_id": "spammer", "reason": "x"},
        "namespace: No namespace named 'nowhere'.",
    ),
    (
        f"{STREAMS}clean-up-author/",
        {
            "namespace": "micro",
            "author_id": "spammer",
            "reason": "x",
            "sent_after": "2024-03-10T12:13:00Z",
            "sent_before": "2024-03-10T12:11:00Z",
        },
        "sent_before: Must be later than sent_after.",
    ),
    (
        f"{STREAMS}clean-up-author/",
        {"namespace": "micro", "author_id": "spammer", "reason": "x", "delete": "perhaps"},
        "delete: Must be a valid boolean.",
    ),
]


@pytest.mark.parametrize(("path", "body", "detail"), BAD_BODIES, ids=[d for _, _, d in BAD_BODIES])
def test_bad_bodies_are_400_envelopes_and_change_nothing(world, as_root, path, body, detail):
    path = path.format(spam=world["spam"][0].pk)
    assert_envelope(as_root.post(path, body), 400, "BAD_REQUEST", detail)
    assert not ModerationEvent.objects.exists()
    assert not Message.objects.filter(hidden=True).exists()


def test_a_body_that_is_not_json(world, as_root):
    path = f"{STREAMS}{world['spam'][0].pk}/hide/"
    assert_envelope(
        as_root.client.post(path, "reason=x", content_type="text/plain", **as_root.headers),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_envelope(
        as_root.client.post(path, "{nope", content_type="application/json", **as_root.headers), 400, "BAD_REQUEST"
    )
    assert_envelope(as_root.post(path, ["reason"]), 400, "BAD_REQUEST")
    assert not ModerationEvent.objects.exists()


# ---------------------------------------------------------------- who may do what


def call(api, what, world):
    spam, alice = world["spam"], world["alice"]
    cleanup = {"namespace": "micro", "author_id": "spammer", "reason": "r"}
    return {
        "list": lambda: api.get(STREAMS),
        "read": lambda: api.get(f"{STREAMS}{spam[0].pk}/"),
        "log": lambda: api.get(LOG),
        "hide": lambda: api.post(f"{STREAMS}{spam[1].pk}/hide/", {"reason": "r"}),
        "unhide": lambda: api.post(f"{STREAMS}{spam[1].pk}/unhide/", {"reason": "r"}),
        "clean-up": lambda: api.post(f"{STREAMS}clean-up-author/", cleanup),
        "clean-up-delete": lambda: api.post(f"{STREAMS}clean-up-author/", {**cleanup, "delete": True}),
        "delete": lambda: api.delete(f"{STREAMS}{alice[2].pk}/", {"reason": "r"}),
    }[what]()


ACTIONS = ["list", "read", "log", "hide", "unhide", "clean-up", "clean-up-delete", "delete"]
ALLOWED = {
    "superuser": set(ACTIONS),
    "moderator": {"list", "read", "log", "hide", "unhide", "clean-up"},
    "staff": set(),
}


@pytest.mark.parametrize("role", ["superuser", "moderator", "staff"])
def test_what_each_role_may_do_with_a_token(world, role, request):
    api = api_of(request.getfixturevalue(role))
    for what in ACTIONS:
        response = call(api, what, world)
        if what in ALLOWED[role]:
            assert response.status_code == 200, (role, what, response.content)
        else:
            assert_envelope(response, 403, "FORBIDDEN")
    if role == "staff":
        assert not ModerationEvent.objects.exists()


@pytest.mark.parametrize("what", ACTIONS)
def test_non_staff_and_strangers_are_refused(world, nonstaff, moderator, what):
    # Not staff (even with the Moderators' permissions): 403, by token or session.
    assert_envelope(call(api_of(nonstaff), what, world), 403, "FORBIDDEN")
    session = Client()
    session.force_login(nonstaff)
    assert_envelope(call(Api(session), what, world), 403, "FORBIDDEN")
    inactive = user("gone", is_staff=True, is_superuser=True)
    api = api_of(inactive)
    inactive.is_active = False
    inactive.save()
    assert_envelope(call(api, what, world), 401, "UNAUTHORIZED")
    # No credentials, a revoked token, an unknown one, an API key: 401, saying how.
    response = call(Api(Client()), what, world)
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == 'Token realm="moderation"'
    assert "Authorization: Token" in response.json()["detail"]
    token, raw = create_token(moderator)
    revoke_token(token)
    assert_envelope(call(Api(Client(), raw), what, world), 401, "UNAUTHORIZED")
    assert_envelope(call(Api(Client(), "cvm_" + "x" * 43), what, world), 401, "UNAUTHORIZED")
    raw_key = create_api_key("micro")[1]
    for header in (f"Bearer {raw_key}", f"Token {raw_key}"):
        assert_envelope(call(Api(Client(), header=header), what, world), 401, "UNAUTHORIZED")
    assert not ModerationEvent.objects.exists()


def test_a_staff_session_works_and_needs_the_csrf_token(world, moderator):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(moderator)
    api = Api(browser)
    assert listed(api.get(STREAMS))
    path = f"{STREAMS}{world['spam'][0].pk}/hide/"
    refused = api.post(path, {"reason": "r"})
    assert_envelope(refused, 403, "FORBIDDEN")
    assert "CSRF" in refused.json()["detail"]
    csrf = "k" * 32  # a CSRF secret as Django's cookie holds it; the header repeats it
    browser.cookies["csrftoken"] = csrf
    assert event_of(api.post(path, {"reason": "r"}, HTTP_X_CSRFTOKEN=csrf)).actor == moderator


# ---------------------------------------------------------------- query counts


def test_query_counts(world, moderator, django_assert_num_queries, assert_queries):
    api = api_of(moderator)
    add(world["conv"], 60, author="bulk", start=BASE + 60 * MINUTE)
    spam = world["spam"]
    # The token (with its user), the user's and group permissions, the page.
    with django_assert_num_queries(4):
        assert len(listed(api.get(STREAMS, page_size="50"))) == 50
    with django_assert_num_queries(5):  # and the namespace, by name
        assert len(listed(api.get(STREAMS, namespace="micro", author_id="bulk"))) == 50
    with django_assert_num_queries(4):
        assert api.get(f"{STREAMS}{spam[0].pk}/").status_code == 200
    with django_assert_num_queries(4):
        assert api.get(LOG).status_code == 200
    # hide: the token, the permissions (2), the message, then the service's
    # (services.hide_messages, as from admin): lock the conversation, its
    # namespaces, the ids, the namespace, the rows to announce, the live
    # event, the UPDATE, the log entry. The same for a chat message.
    with assert_queries(12):
        response = api.post(f"{STREAMS}{spam[0].pk}/hide/", {"reason": "r"})
    assert event_of(response).count == 1
    with assert_queries(12):
        response = api.post(f"{CHATS}{world['chat_rows'][0].pk}/hide/", {"reason": "r"})
    assert event_of(response).count == 1
    # The clean-up: no message read, but the namespace by name.
    with assert_queries(12):
        response = api.post(f"{STREAMS}clean-up-author/", {"namespace": "micro", "author_id": "bulk", "reason": "r"})
    assert event_of(response).count == 60


# ---------------------------------------------------------------- tokens


def test_tokens_are_made_shown_once_stored_hashed_and_revoked(moderator, staff, nonstaff, capsys):
    call_command("create_moderation_token", "mod")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert raw.startswith("cvm_") and len(raw) >= 36
    token = ModerationToken.objects.get(user=moderator)
    assert raw not in {token.prefix, token.digest} and raw.startswith(token.prefix)
    assert Api(Client(), raw).get(STREAMS).status_code == 200
    call_command("revoke_moderation_token", raw)
    assert "Revoked" in capsys.readouterr().out
    assert_envelope(Api(Client(), raw).get(STREAMS), 401, "UNAUTHORIZED")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_moderation_token", "member")  # not staff
    with pytest.raises(CommandError):
        call_command("create_moderation_token", "nobody")
    with pytest.raises(CommandError):
        call_command("revoke_moderation_token", "cvm_unknown")


def test_the_tokens_admin_lists_prefixes_and_revokes(moderator, superuser):
    token, raw = create_token(moderator)
    browser = Client()
    browser.force_login(superuser)
    page = browser.get("/admin/moderation/moderationtoken/")
    assert page.status_code == 200
    html = page.content.decode()
    assert token.prefix in html and token.digest not in html and raw not in html
    assert browser.get("/admin/moderation/moderationtoken/add/").status_code == 403
    answer = browser.post(
        "/admin/moderation/moderationtoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert answer.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


# ---------------------------------------------------------------- the OpenAPI document


def moderation_operations(document):
    return {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        if path.startswith("/api/moderation/")
        for method, op in item.items()
    }


def test_the_document_describes_the_moderation_api(client):
    document = client.get("/api/schema/").json()
    operations = moderation_operations(document)
    expected = {("GET", LOG), ("GET", LOG + "{id}/")}
    for base in (STREAMS, CHATS):
        expected |= {
            ("GET", base),
            ("GET", base + "{id}/"),
            ("DELETE", base + "{id}/"),
            ("POST", base + "{id}/hide/"),
            ("POST", base + "{id}/unhide/"),
            ("POST", base + "clean-up-author/"),
        }
    for base in ("/api/moderation/streams/reports/", "/api/moderation/chats/reports/"):
        expected |= {
            ("GET", base),
            ("GET", base + "{id}/"),
            ("POST", base + "{id}/confirm/"),
            ("POST", base + "{id}/dismiss/"),
        }
    assert set(operations) == expected
    security = [{"ModerationToken": []}, {"StaffSession": [], "StaffCsrfToken": []}]
    for (method, path), op in operations.items():
        assert op["tags"] == ["Moderation"], path
        assert op["security"] == security, path
        assert {"401", "403"} <= set(op["responses"]), path
        for code, response in op["responses"].items():
            if code != "200":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": f"#/components/schemas/Error{code}"
                }
        if "{id}" in path:
            assert "404" in op["responses"], path
        if path.endswith(("/confirm/", "/dismiss/")):
            assert "409" in op["responses"], path
        if method in ("POST", "DELETE"):
            body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert "reason" in document["components"]["schemas"][body.rsplit("/", 1)[1]]["required"], path
            assert {"400", "415"} <= set(op["responses"]), path
    filters = {p["name"] for p in operations[("GET", STREAMS)]["parameters"]}
    assert filters == {
        "namespace",
        "author_id",
        "conversation",
        "hidden",
        "sent_after",
        "sent_before",
        "text",
        "cursor",
        "page_size",
    }
    assert {p["name"] for p in operations[("GET", CHATS)]["parameters"]} == filters - {"conversation"} | {"chat"}
    assert {p["name"] for p in operations[("GET", LOG)]["parameters"]} == {
        "action",
        "namespace",
        "actor",
        "created_after",
        "created_before",
        "cursor",
        "page_size",
    }
    by_name = {p["name"]: p["schema"] for p in operations[("GET", STREAMS)]["parameters"]}
    assert by_name["sent_after"]["format"] == "date-time"
    assert by_name["hidden"]["type"] == "boolean"
    assert by_name["conversation"]["format"] == "uuid"
    assert by_name["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500}


def test_real_answers_match_the_document(client, world, as_root):
    document = client.get("/api/schema/").json()
    operations = moderation_operations(document)

    def check(method, path, response):
        answer = operations[(method, path)]["responses"][str(response.status_code)]
        schema = answer["content"]["application/json"]["schema"]
        openapi = as_json_schema({"allOf": [schema], "components": document["components"]})
        jsonschema.validate(response.json(), openapi, cls=jsonschema.Draft7Validator)

    spam = world["spam"]
    check("POST", STREAMS + "{id}/hide/", as_root.post(f"{STREAMS}{spam[0].pk}/hide/", {"reason": "r"}))
    check("GET", STREAMS, as_root.get(STREAMS, page_size="2"))
    check("GET", CHATS, as_root.get(CHATS))
    check("GET", STREAMS + "{id}/", as_root.get(f"{STREAMS}{spam[0].pk}/"))
    check("GET", LOG, as_root.get(LOG))
    check("GET", STREAMS, as_root.get(STREAMS, hidden="maybe"))
    check("GET", STREAMS, Api(Client()).get(STREAMS))
    check("GET", STREAMS + "{id}/", as_root.get(f"{STREAMS}00000000-0000-0000-0000-000000000000/"))
    check("DELETE", STREAMS + "{id}/", as_root.delete(f"{STREAMS}{spam[1].pk}/", {"reason": "r"}))
    check("POST", STREAMS + "clean-up-author/", as_root.post(f"{STREAMS}clean-up-author/", {"reason": "r"}))
