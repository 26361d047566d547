"""ReportMessage in Streams and Chats (CONTRACT 10): validation order,
reasons, one open report per reporter and message, chat membership, hidden
messages, namespaces, and the review queue item a report keeps."""

import datetime
import importlib
import re
import uuid

import pytest
from django.db import connection

from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from convoproject.moderation import services
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.models import Namespace
from streams.models import Message, Report, ReportedMessage
from tests.support import factories
from tests.support.rpc import assert_envelope

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MISSING_UUID = "00000000-0000-4000-8000-000000000000"
SERVICES = ["Streams", "Chats"]
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(params=SERVICES)
def reported(request, api):
    """(service, a message of that service in namespace micro, by sam; every reporter used here is a member)."""
    if request.param == "Streams":
        return "Streams", api.message(api.conversation()["id"], text="rude", author_id="sam")["id"]
    chat = api.chat(["rita", "sam", "tom", "a", "b", "c", "r0", "r1", "r2", "r3"])
    return "Chats", api.chat_message(chat["id"], "sam", text="rude")["id"]


def report_body(message_id, **fields):
    return {"message_id": message_id, "reporter_id": "rita", "reason": "spam", **fields}


def test_a_report_has_the_contract_shape(api, reported):
    service, message_id = reported
    report = api.report(service, message_id, description="buy now links")
    assert set(report) == {"id", "message_id", "reporter_id", "reason", "description", "created_at"}
    assert UUID_RE.fullmatch(report["id"]) and TIMESTAMP_RE.fullmatch(report["created_at"])
    assert (report["message_id"], report["reporter_id"], report["reason"]) == (message_id, "rita", "spam")
    assert report["description"] == "buy now links"
    model = Report if service == "Streams" else ChatReport
    row = model.objects.get()
    assert (str(row.id), row.state, row.namespace.name) == (report["id"], "open", "micro")


def test_a_report_keeps_its_messages_conversation_or_chat(api, admin_user, reported):
    """Set when the report is made (a message never changes parent), so that
    one parent's reports are read without the messages: by the first report,
    by another reporter's, and by a new round after a moderator's."""
    from convoproject.moderation import reports

    service, message_id = reported
    model = Message if service == "Streams" else ChatMessage
    parent = f"{model.PARENT}_id"
    api.report(service, message_id, reporter_id="rita")
    api.report(service, message_id, reporter_id="tom")
    reports.dismiss_reports(model.objects.filter(pk=message_id), actor=admin_user, reason="fine")
    api.report(service, message_id, reporter_id="rita")
    Report = model.reports.rel.related_model
    assert Report.objects.count() == 3
    assert set(Report.objects.values_list(parent, flat=True)) == {getattr(model.objects.get(pk=message_id), parent)}


@pytest.mark.parametrize("app", ["streams", "chats"])
def test_the_migration_fills_each_reports_parent_in(db, app):
    """The backfill of migration 0006_report_parent. The column is NOT NULL
    from there on, so the reports are made with a wrong parent in its place:
    every one gets its own message's."""
    namespace = factories.ns()
    if app == "streams":
        parents = [factories.conversation(namespace, topic=str(i)) for i in range(3)]
    else:
        parents = [factories.chat(namespace, user_ids=("alice", f"user{i}")) for i in range(3)]
    messages = [*factories.add(parents[0], 3), *factories.add(parents[1], 2, start=factories.BASE + HOUR)]
    made = factories.report_each(messages)
    Report = type(made[0])
    parent = f"{Report.PARENT}_id"
    Report.objects.update(**{parent: parents[2].pk})
    migration = importlib.import_module(f"{app}.migrations.0006_report_parent")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert sorted(Report.objects.values_list("message_id", parent)) == sorted(
        (message.pk, getattr(message, parent)) for message in messages
    )
    assert Report.objects.filter(**{parent: parents[0].pk}).count() == 3


def test_description_is_empty_when_absent_or_blank(api, reported):
    service, message_id = reported
    assert api.report(service, message_id, reporter_id="a")["description"] == ""
    assert api.report(service, message_id, reporter_id="b", description="  ")["description"] == ""
    assert api.report(service, message_id, reporter_id="c", description=None)["description"] == ""


@pytest.mark.parametrize(
    "fields, error_id, detail",
    [
        ({"message_id": None}, "MISSING_MESSAGE_ID", "Missing Message ID"),
        ({"message_id": " "}, "MISSING_MESSAGE_ID", "Missing Message ID"),
        ({"message_id": 7}, "BAD_REQUEST", None),
        ({"reporter_id": None}, "MISSING_REPORTER_ID", "Missing Reporter ID"),
        ({"reporter_id": ""}, "MISSING_REPORTER_ID", "Missing Reporter ID"),
        ({"reporter_id": "x" * 256}, "TOO_LONG", None),
        ({"reporter_id": ["rita"]}, "BAD_REQUEST", None),
        ({"reason": None}, "MISSING_REASON", None),
        ({"reason": " "}, "MISSING_REASON", None),
        ({"reason": "Spam"}, "INVALID_REASON", None),
        ({"reason": "rude"}, "INVALID_REASON", None),
        ({"reason": 1}, "BAD_REQUEST", None),
        ({"reason": "other"}, "MISSING_DESCRIPTION", None),
        ({"reason": "other", "description": "   "}, "MISSING_DESCRIPTION", None),
        ({"description": "x" * 1001}, "TOO_LONG", None),
        ({"description": "a\x00b"}, "BAD_REQUEST", None),
        ({"description": 5}, "BAD_REQUEST", None),
    ],
)
def test_invalid_fields(api, reported, fields, error_id, detail):
    service, message_id = reported
    body = {k: v for k, v in {**report_body(message_id), **fields}.items() if v is not None}
    api.err(f"{service}/ReportMessage", body, 400, error_id, detail)
    assert not Report.objects.exists() and not ChatReport.objects.exists()


@pytest.mark.parametrize("service", SERVICES)
def test_fields_are_checked_in_order_before_any_lookup(api, service):
    ask = f"{service}/ReportMessage"
    api.err(ask, {}, 400, "MISSING_MESSAGE_ID")
    api.err(ask, {"message_id": MISSING_UUID, "reason": "nope"}, 400, "MISSING_REPORTER_ID")
    api.err(ask, {"message_id": MISSING_UUID, "reporter_id": "r", "description": "x" * 1001}, 400, "MISSING_REASON")
    api.err(ask, {"message_id": MISSING_UUID, "reporter_id": "r", "reason": "nope"}, 400, "INVALID_REASON")
    too_long = {"message_id": MISSING_UUID, "reporter_id": "r", "reason": "other", "description": "x" * 1001}
    api.err(ask, too_long, 400, "TOO_LONG")
    # Every field valid: only then the lookup.
    api.err(ask, {"message_id": MISSING_UUID, "reporter_id": "r", "reason": "other"}, 400, "MISSING_DESCRIPTION")
    api.err(ask, report_body(MISSING_UUID), 404, "NOT_FOUND", "Message not found")


def test_every_reason_is_taken_and_a_description_up_to_1000(api, reported):
    service, message_id = reported
    for i, reason in enumerate(["spam", "harassment", "inappropriate", "other"]):
        report = api.report(service, message_id, reporter_id=f"r{i}", reason=reason, description="é" * 1000)
        assert report["reason"] == reason and len(report["description"]) == 1000


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("message_id", [MISSING_UUID, "not-a-uuid", str(uuid.uuid4()).upper()])
def test_unknown_message_is_not_found(api, service, message_id):
    api.err(f"{service}/ReportMessage", report_body(message_id), 404, "NOT_FOUND", "Message not found")


def test_a_message_of_the_other_service_is_not_found(api, reported):
    service, message_id = reported
    other_service = "Chats" if service == "Streams" else "Streams"
    api.err(f"{other_service}/ReportMessage", report_body(message_id), 404, "NOT_FOUND", "Message not found")


def test_a_message_of_another_namespace_is_not_found(api, other, reported):
    service, message_id = reported
    other.err(f"{service}/ReportMessage", report_body(message_id), 404, "NOT_FOUND", "Message not found")
    assert not Report.objects.exists() and not ChatReport.objects.exists()


def test_a_hidden_message_can_be_reported(api, admin_user, reported):
    service, message_id = reported
    model = Message if service == "Streams" else ChatMessage
    services.hide_messages(model.objects.filter(pk=message_id), actor=admin_user, reason="seen")
    assert api.report(service, message_id)["message_id"] == message_id


def test_reporting_again_while_open_answers_the_open_report_unchanged(api, reported):
    service, message_id = reported
    first = api.report(service, message_id, reason="spam", description="first")
    again = api.report(service, message_id, reason="inappropriate", description="second")
    assert again == first
    assert api.report(service, message_id, reason="other", description="third") == first
    model = Report if service == "Streams" else ChatReport
    assert model.objects.count() == 1


def test_other_reporters_make_their_own_reports(api, reported):
    service, message_id = reported
    reports = [api.report(service, message_id, reporter_id=who) for who in ("rita", "tom")]
    assert reports[0]["id"] != reports[1]["id"]


def test_after_a_moderator_resolves_it_a_new_report_may_be_made(api, admin_user, reported):
    from convoproject.moderation import reports

    service, message_id = reported
    model = Message if service == "Streams" else ChatMessage
    first = api.report(service, message_id)
    reports.dismiss_reports(model.objects.filter(pk=message_id), actor=admin_user, reason="fine")
    second = api.report(service, message_id)
    assert second["id"] != first["id"]
    states = dict(model.reports.rel.related_model.objects.values_list("id", "state"))
    assert sorted(states.values()) == ["dismissed", "open"]


def test_a_chat_reporter_must_be_a_member(api):
    chat = api.chat(["rita", "sam"])
    message = api.chat_message(chat["id"], "sam")
    api.err("Chats/ReportMessage", report_body(message["id"], reporter_id="eve"), 403, "NOT_A_MEMBER")
    # Fields first, then the lookup (404), then membership (403).
    api.err("Chats/ReportMessage", report_body(MISSING_UUID, reporter_id="eve"), 404, "NOT_FOUND")
    api.err("Chats/ReportMessage", report_body(message["id"], reporter_id="eve", reason="x"), 400, "INVALID_REASON")
    assert not ChatReport.objects.exists()
    # The author may report too (a member), as may the other member.
    api.report("Chats", message["id"], reporter_id="sam")


def test_a_report_needs_credentials(anon, reported):
    service, message_id = reported
    assert_envelope(anon.post(f"{service}/ReportMessage", report_body(message_id)), 401, "UNAUTHORIZED")


def test_a_report_is_counted_on_the_review_queue(api, reported):
    service, message_id = reported
    api.report(service, message_id, reporter_id="rita", reason="spam")
    api.report(service, message_id, reporter_id="tom", reason="harassment")
    api.report(service, message_id, reporter_id="tom", reason="other", description="repeat: not counted")
    model = Message if service == "Streams" else ChatMessage
    item = model.objects.get(pk=message_id).review
    assert (item.state, item.open_reports, item.reasons) == ("open", 2, "spam,harassment")
    assert item.first_reported_at < item.last_reported_at
    assert item.namespace.name == "micro"


def test_report_message_query_count(api, assert_queries):
    message_id = api.message(api.conversation()["id"])["id"]
    # The message with its conversation locked, the reporter's open report,
    # the insert, the queue item (locked), its insert; the API key is cached.
    with assert_queries(5):
        api.report("Streams", message_id)
    # A repeat: the lookup and the open report.
    with assert_queries(2):
        api.report("Streams", message_id)
    with assert_queries(5):  # the item exists now: updated instead of inserted
        api.report("Streams", message_id, reporter_id="tom")


# ---------------------------------------------------------------- the threshold


def set_threshold(n, name="micro"):
    Namespace.objects.filter(name=name).update(auto_hide_threshold=n)


def test_no_threshold_means_nothing_is_hidden(api, reported):
    service, message_id = reported
    for who in ("rita", "sam", "tom"):
        api.report(service, message_id, reporter_id=who)
    model = Message if service == "Streams" else ChatMessage
    assert not model.objects.get(pk=message_id).hidden


def test_at_the_threshold_the_message_is_hidden_at_once_and_logged(api, reported):
    service, message_id = reported
    set_threshold(2)
    model = Message if service == "Streams" else ChatMessage
    api.report(service, message_id, reporter_id="rita")
    api.report(service, message_id, reporter_id="rita", reason="harassment")  # the same reporter: still one
    assert not model.objects.get(pk=message_id).hidden
    api.report(service, message_id, reporter_id="tom")
    message = model.objects.get(pk=message_id)
    assert message.hidden and message.hidden_by is None
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor, event.actor_name, event.count) == ("auto_hide", None, "system", 1)
    assert event.details["ids"] == [message_id] and event.namespace.name == "micro"
    assert "2 users reported it" in event.reason
    item = message.review
    assert (item.state, item.open_reports, item.hidden_automatically) == ("open", 2, True)
    # Reports stay open, waiting for a moderator.
    assert set(model.reports.rel.related_model.objects.values_list("state", flat=True)) == {"open"}
    # Gone from reads at once.
    if service == "Streams":
        listed = api.ok("Streams/ListMessages", {"conversation_id": str(message.conversation_id)})["messages"]
    else:
        listed = api.ok("Chats/ListMessages", {"chat_id": str(message.chat_id)})["messages"]
    assert listed == []
    # A third report hides nothing more and logs nothing more.
    api.report(service, message_id, reporter_id="sam")
    assert ModerationEvent.objects.count() == 1


def test_the_threshold_is_per_namespace(api, other, reported):
    service, message_id = reported
    set_threshold(1, name="other")
    api.report(service, message_id)
    model = Message if service == "Streams" else ChatMessage
    assert not model.objects.get(pk=message_id).hidden


def test_racing_repeats_make_one_report(transactional_db, micro_key):
    """Eight threads, one reporter and message: one report, each answered it."""
    import threading

    from django.db import connection
    from django.test import Client

    from tests.support.rpc import Rpc

    api = Rpc(Client(), micro_key)
    message_id = api.message(api.conversation()["id"])["id"]
    answers, barrier = [], threading.Barrier(8)

    def report():
        try:
            barrier.wait()
            answers.append(Rpc(Client(), micro_key).report("Streams", message_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len({a["id"] for a in answers}) == 1
    assert Report.objects.count() == 1
    assert ReportedMessage.objects.get().open_reports == 1


def test_created_at_is_now(api, reported):
    service, message_id = reported
    created = datetime.datetime.fromisoformat(api.report(service, message_id)["created_at"].replace("Z", "+00:00"))
    assert abs(datetime.datetime.now(datetime.UTC) - created) < datetime.timedelta(minutes=1)
