"""The moderation API's reports (/api/moderation/{streams,chats}/reports/):
list and read with every filter, cursor pages, confirm and dismiss (all
open reports of the report's message, through convoproject.moderation.reports,
recorded), who may, and the error envelopes."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from convoproject.moderation.models import ModerationEvent
from convoproject.moderation.reports import file_report
from convoproject.moderation.tokens import create_token
from streams.models import Message, Report
from tests.support.factories import BASE, a_big_quiet_parent, add, chat, conversation, ns, report_each
from tests.support.plans import assert_reports_newest_first_from_parent_index
from tests.support.rpc import assert_envelope

pytestmark = pytest.mark.django_db

REPORTS = "/api/moderation/streams/reports/"
CHAT_REPORTS = "/api/moderation/chats/reports/"


def api_of(user):
    return Client(HTTP_AUTHORIZATION=f"Token {create_token(user)[1]}")


@pytest.fixture
def as_mod(moderator):
    return api_of(moderator)


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


def report(message, reporter, reason="spam", at=None):
    filed = file_report(message, reporter_id=reporter, reason=reason, description="" if reason != "other" else "why")
    if at is not None:
        type(filed).objects.filter(pk=filed.pk).update(created_at=at)
        filed.refresh_from_db()
    return filed


@pytest.fixture
def world(db):
    micro, other = ns("micro"), ns("other")
    spam, fine = add(conversation(micro), 2, author="sam", text="BUY NOW, the best narwhal deals {i}")
    foreign = add(conversation(other), 1, author="sam")[0]
    chat_message = add(chat(micro, ("rita", "sam")), 1, author="sam")[0]
    return {
        "spam": spam,
        "fine": fine,
        "foreign": foreign,
        "chat_message": chat_message,
        "rita": report(spam, "rita", "spam", BASE),
        "tom": report(spam, "tom", "harassment", BASE + datetime.timedelta(minutes=1)),
        "ann": report(fine, "ann", "other", BASE + datetime.timedelta(minutes=2)),
        "zed": report(foreign, "zed", "spam", BASE + datetime.timedelta(minutes=3)),
        "chat_report": report(chat_message, "rita", "inappropriate", BASE),
    }


def listed(response):
    assert response.status_code == 200, response.content[:500]
    return [row["id"] for row in response.json()["results"]]


def ids(*reports):
    return [str(r.pk) for r in reports]


def test_reports_newest_first_with_their_message(world, as_mod):
    answer = as_mod.get(REPORTS)
    w = world
    assert listed(answer) == ids(w["zed"], w["ann"], w["tom"], w["rita"])
    rita = answer.json()["results"][-1]
    assert rita == {
        "id": str(w["rita"].pk),
        "namespace": "micro",
        "message_id": str(w["spam"].pk),
        "message_excerpt": "BUY NOW, the best narwhal deals 0",
        "reporter_id": "rita",
        "reason": "spam",
        "description": "",
        "created_at": "2024-03-10T12:00:00.000000Z",
        "state": "open",
        "resolved_at": None,
        "resolved_by": None,
        "resolution_note": "",
    }
    assert as_mod.get(f"{REPORTS}{w['rita'].pk}/").json() == rita
    assert listed(as_mod.get(CHAT_REPORTS)) == ids(w["chat_report"])
    assert_envelope(as_mod.get(f"{REPORTS}{w['chat_report'].pk}/"), 404, "NOT_FOUND")


FILTERS = [
    ({"state": "open"}, ["zed", "ann", "tom", "rita"]),
    ({"state": "dismissed"}, []),
    ({"reason": "spam"}, ["zed", "rita"]),
    ({"namespace": "other"}, ["zed"]),
    ({"reporter_id": "tom"}, ["tom"]),
    ({"message": "{spam}"}, ["tom", "rita"]),
    ({"created_after": "2024-03-10T12:01:00Z"}, ["zed", "ann", "tom"]),
    ({"created_before": "2024-03-10T13:01:00+01:00"}, ["rita"]),
    ({"namespace": "micro", "state": "open", "page_size": "2"}, ["ann", "tom"]),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS, ids=[str(q) for q, _ in FILTERS])
def test_every_report_filter(world, as_mod, query, expected):
    query = {k: v.format(spam=world["spam"].pk) for k, v in query.items()}
    assert listed(as_mod.get(REPORTS, query)) == ids(*(world[name] for name in expected))


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"state": "closed"}, "state: Select a valid choice. closed is not one of the available choices."),
        ({"reason": "rude"}, "reason: Select a valid choice. rude is not one of the available choices."),
        ({"message": "x"}, "message: Enter a valid UUID."),
        ({"created_after": "today"}, "created_after: Enter a valid date/time."),
        ({"page_size": "1000"}, "page_size: Enter a whole number from 1 to 500."),
        ({"cursor": "bad"}, "cursor: Invalid cursor."),
    ],
)
def test_bad_report_filters(world, as_mod, query, detail):
    assert_envelope(as_mod.get(REPORTS, query), 400, "BAD_REQUEST", detail)


def test_report_pages(world, as_mod):
    spam = world["spam"]
    many = [report(spam, f"user{i}", at=BASE + datetime.timedelta(hours=1, seconds=i)) for i in range(7)]
    seen, answer = [], as_mod.get(REPORTS, {"page_size": "3"})
    while True:
        seen += listed(answer)
        if answer.json()["next"] is None:
            break
        answer = as_mod.get(answer.json()["next"])
    assert seen == ids(*reversed(many), world["zed"], world["ann"], world["tom"], world["rita"])


def test_confirm_acts_on_every_open_report_of_the_message(world, as_mod, moderator):
    answer = post(as_mod, f"{REPORTS}{world['tom'].pk}/confirm/", {"reason": "clear spam"})
    assert answer.status_code == 200, answer.content
    event = ModerationEvent.objects.get(pk=answer.json()["id"])
    assert (event.action, event.actor, event.count, event.reason) == ("confirm_reports", moderator, 2, "clear spam")
    assert answer.json()["action"] == "confirm_reports"
    spam = Message.objects.get(pk=world["spam"].pk)
    assert spam.hidden and spam.hidden_by == moderator
    rows = {r.reporter_id: r for r in Report.objects.filter(message=spam)}
    assert {r.state for r in rows.values()} == {"actioned"}
    assert Report.objects.get(pk=world["ann"].pk).state == "open"  # another message's
    again = as_mod.get(f"{REPORTS}{world['rita'].pk}/").json()
    assert (again["state"], again["resolved_by"], again["resolution_note"]) == ("actioned", "mod", "clear spam")
    assert again["resolved_at"].endswith("Z")
    assert listed(as_mod.get(REPORTS, {"state": "actioned"})) == ids(world["tom"], world["rita"])
    # Nothing open is left on that message: 409, and nothing recorded.
    assert_envelope(post(as_mod, f"{REPORTS}{world['rita'].pk}/confirm/", {"reason": "x"}), 409, "NO_OPEN_REPORTS")
    assert ModerationEvent.objects.filter(action="confirm_reports").count() == 1


def test_dismiss_and_chats(world, as_mod, moderator):
    answer = post(as_mod, f"{REPORTS}{world['ann'].pk}/dismiss/", {"reason": "not abusive"})
    assert answer.status_code == 200 and answer.json()["action"] == "dismiss_reports"
    assert Report.objects.get(pk=world["ann"].pk).state == "dismissed"
    assert not Message.objects.get(pk=world["fine"].pk).hidden
    chat_answer = post(as_mod, f"{CHAT_REPORTS}{world['chat_report'].pk}/confirm/", {"reason": "rude"})
    assert chat_answer.status_code == 200 and chat_answer.json()["target_type"] == "chats.message"
    assert ChatMessage.objects.get(pk=world["chat_message"].pk).hidden


def test_resolving_needs_a_reason_and_the_permission(world, as_mod):
    path = f"{REPORTS}{world['tom'].pk}/confirm/"
    assert_envelope(post(as_mod, path, {}), 400, "BAD_REQUEST", "reason: This field is required.")
    assert_envelope(post(as_mod, path, {"reason": " "}), 400, "BAD_REQUEST", "reason: This field may not be blank.")
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    assert_envelope(post(api_of(staff), path, {"reason": "x"}), 403, "FORBIDDEN")
    assert_envelope(api_of(staff).get(REPORTS), 403, "FORBIDDEN")
    assert_envelope(Client().get(REPORTS), 401, "UNAUTHORIZED")
    member = get_user_model().objects.create_user("member")
    member.groups.add(Group.objects.get(name="Moderators"))
    assert_envelope(post(api_of(member), path, {"reason": "x"}), 403, "FORBIDDEN")
    assert_envelope(
        post(as_mod, f"{REPORTS}00000000-0000-0000-0000-000000000000/confirm/", {"reason": "x"}), 404, "NOT_FOUND"
    )
    assert not ModerationEvent.objects.filter(action="confirm_reports").exists()
    assert Report.objects.filter(state="open").count() == 4


def test_report_query_counts(world, as_mod, assert_queries):
    # The token, the permissions (user's, groups'), the page with its messages.
    with assert_queries(4):
        assert len(listed(as_mod.get(REPORTS))) == 4
    with assert_queries(4):
        assert as_mod.get(f"{REPORTS}{world['rita'].pk}/").status_code == 200
    # By conversation or chat: the report's own column, no lookup first.
    with assert_queries(4):
        assert len(listed(as_mod.get(REPORTS, {"conversation": str(world["spam"].conversation_id)}))) == 3
    with assert_queries(4):
        assert len(listed(as_mod.get(CHAT_REPORTS, {"chat": str(world["chat_message"].chat_id)}))) == 1


def test_the_reports_in_the_document(client, world, as_mod):
    import jsonschema

    from tests.test_request_schemas import as_json_schema

    document = client.get("/api/schema/").json()
    listing = document["paths"][REPORTS]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "state",
        "reason",
        "namespace",
        "reporter_id",
        "message",
        "author_id",
        "conversation",
        "created_after",
        "created_before",
        "cursor",
        "page_size",
    }
    states = next(p for p in listing["parameters"] if p["name"] == "state")["schema"]["enum"]
    assert states == ["actioned", "dismissed", "open"]

    def check(method, path, response):
        schema = document["paths"][path][method]["responses"][str(response.status_code)]
        schema = schema["content"]["application/json"]["schema"]
        openapi = as_json_schema({"allOf": [schema], "components": document["components"]})
        jsonschema.validate(response.json(), openapi, cls=jsonschema.Draft7Validator)

    check("get", REPORTS, as_mod.get(REPORTS))
    check("get", REPORTS + "{id}/", as_mod.get(f"{REPORTS}{world['rita'].pk}/"))
    confirm = REPORTS + "{id}/confirm/"
    check("post", confirm, post(as_mod, f"{REPORTS}{world['rita'].pk}/confirm/", {"reason": "x"}))
    check("post", confirm, post(as_mod, f"{REPORTS}{world['rita'].pk}/confirm/", {"reason": "x"}))  # 409


def test_reports_by_author_and_by_conversation_or_chat(as_mod, world):
    """As Synapse's report API filters by sender and room."""
    spam, foreign = world["spam"], world["foreign"]
    assert sorted(listed(as_mod.get(REPORTS, {"author_id": "sam"}))) == sorted(
        ids(world["rita"], world["tom"], world["ann"], world["zed"])
    )
    assert listed(as_mod.get(REPORTS, {"author_id": "nobody"})) == []
    by_conversation = listed(as_mod.get(REPORTS, {"conversation": str(spam.conversation_id)}))
    assert sorted(by_conversation) == sorted(ids(world["rita"], world["tom"], world["ann"]))
    assert listed(as_mod.get(REPORTS, {"conversation": str(foreign.conversation_id), "namespace": "micro"})) == []
    chat_id = str(world["chat_message"].chat_id)
    assert listed(as_mod.get(CHAT_REPORTS, {"chat": chat_id, "author_id": "sam"})) == ids(world["chat_report"])
    assert_envelope(as_mod.get(REPORTS, {"conversation": "not-a-uuid"}), 400, "BAD_REQUEST")


PARENTS = {
    "streams": (REPORTS, Message, Report, lambda namespace, i: conversation(namespace, topic=f"t{i}")),
    "chats": (CHAT_REPORTS, ChatMessage, ChatReport, lambda namespace, i: chat(namespace, user_ids=(f"u{i}", "v"))),
}


@pytest.mark.parametrize("service", list(PARENTS))
def test_a_big_quiet_parents_reports_are_read_from_the_parent_index(as_mod, service):
    """A conversation (or chat) with many reports, all older than the others'
    newest. Filtered through the message, PostgreSQL's planner walked the
    created_at index of all reports for its page, reading every newer report
    of the others first (and their messages). Each report keeps its message's
    parent, with a (parent, created_at, id) index, and the filter hides the
    id from the planner (convoproject.moderation.selection.reports_of_parent):
    every page is a walk of that index, in its order."""
    path, model, Report, make_parent = PARENTS[service]
    big, rows = a_big_quiet_parent(ns("micro"), make_parent, size=1000)
    report_each(model.objects.all())
    expected = ids(*Report.objects.filter(message__in=rows).order_by("-created_at", "-id"))
    pages = []
    with CaptureQueriesContext(connection) as captured:
        first = as_mod.get(path, {model.PARENT: str(big.pk), "page_size": "25"})
        pages.append(listed(first))
        pages.append(listed(as_mod.get(first.json()["next"])))
    assert pages == [expected[:25], expected[25:50]]
    ordered = f'ORDER BY "{Report._meta.db_table}"."created_at" DESC'
    statements = [query["sql"] for query in captured.captured_queries if ordered in query["sql"]]
    assert len(statements) == 2
    assert_reports_newest_first_from_parent_index(Report, statements)
