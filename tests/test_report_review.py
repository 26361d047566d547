"""Resolving reports (convoproject.moderation.reports): confirm hides the
message and makes its open reports "actioned", dismiss makes them
"dismissed" and shows a message the threshold hid again; both keep who, when
and why, log the action, publish the live events of CONTRACT 9, and leave
the queue item closed. Deleting a reported message removes its reports."""

import json

import pytest

from chats.models import Message as ChatMessage
from convoproject.live.models import Event
from convoproject.moderation import reports, services
from convoproject.moderation.models import ModerationEvent
from convoproject.moderation.services import ReasonRequired
from convoproject.tenants.models import Namespace
from streams.models import Message, Report, ReportedMessage

MODELS = {"Streams": Message, "Chats": ChatMessage}


@pytest.fixture(params=["Streams", "Chats"])
def reported(request, api):
    """(message model, a message of it reported by rita and tom)."""
    if request.param == "Streams":
        message_id = api.message(api.conversation()["id"], author_id="sam")["id"]
    else:
        message_id = api.chat_message(api.chat(["rita", "sam", "tom"])["id"], "sam")["id"]
    api.report(request.param, message_id, reporter_id="rita", reason="spam")
    api.report(request.param, message_id, reporter_id="tom", reason="harassment")
    return MODELS[request.param], message_id


def events_of(message_id, type):
    return [e for e in Event.objects.filter(type=type) if message_id in e.data]


def test_confirm_hides_and_actions_every_open_report(admin_user, reported):
    model, message_id = reported
    event = reports.confirm_reports(model.objects.filter(pk=message_id), actor=admin_user, reason="clear spam")
    message = model.objects.get(pk=message_id)
    assert message.hidden and message.hidden_by == admin_user and message.hidden_reason == "clear spam"
    rows = list(message.reports.all())
    assert {r.state for r in rows} == {"actioned"} and len(rows) == 2
    assert all(r.resolved_by == admin_user and r.resolved_at and r.resolution_note == "clear spam" for r in rows)
    item = message.review
    assert (item.state, item.open_reports, item.reasons, item.first_reported_at) == ("actioned", 0, "", None)
    assert (item.reviewed_by, item.hidden_automatically) == (admin_user, False)
    assert (event.action, event.count, event.actor, event.details["ids"]) == (
        "confirm_reports",
        2,
        admin_user,
        [message_id],
    )
    assert event.namespace.name == "micro"
    # The hiding is logged too, and published (CONTRACT 9's message_removed).
    assert list(ModerationEvent.objects.values_list("action", flat=True).order_by("id")) == ["hide", "confirm_reports"]
    removed = events_of(message_id, "message_removed")
    assert len(removed) == 1 and json.loads(removed[0].data)["id"] == message_id


def test_dismiss_keeps_the_message_and_dismisses_the_reports(admin_user, reported):
    model, message_id = reported
    event = reports.dismiss_reports(model.objects.filter(pk=message_id), actor=admin_user, reason="banter")
    message = model.objects.get(pk=message_id)
    assert not message.hidden
    assert set(message.reports.values_list("state", "resolution_note")) == {("dismissed", "banter")}
    assert message.review.state == "dismissed"
    assert (event.action, event.count) == ("dismiss_reports", 2)
    assert ModerationEvent.objects.count() == 1  # nothing was unhidden
    assert not Event.objects.filter(type__in=["message_removed"]).exists()


def test_dismiss_shows_a_message_the_threshold_hid_again(api, admin_user):
    Namespace.objects.filter(name="micro").update(auto_hide_threshold=2)
    message_id = api.message(api.conversation()["id"])["id"]
    api.report("Streams", message_id, reporter_id="rita")
    api.report("Streams", message_id, reporter_id="tom")
    assert Message.objects.get(pk=message_id).hidden
    assert len(events_of(message_id, "message_removed")) == 1  # the automatic hiding is live too
    reports.dismiss_reports(Message.objects.filter(pk=message_id), actor=admin_user, reason="a pile-on")
    message = Message.objects.get(pk=message_id)
    assert not message.hidden and message.hidden_by is None
    assert not message.review.hidden_automatically
    actions = list(ModerationEvent.objects.order_by("id").values_list("action", "actor_name"))
    assert actions == [("auto_hide", "system"), ("unhide", "admin"), ("dismiss_reports", "admin")]
    shown = events_of(message_id, "message")
    assert len(shown) == 2  # created, then shown again
    assert json.loads(shown[-1].data)["message"]["id"] == message_id


def test_dismiss_leaves_a_message_a_moderator_hid_hidden(api, admin_user):
    message_id = api.message(api.conversation()["id"])["id"]
    api.report("Streams", message_id)
    services.hide_messages(Message.objects.filter(pk=message_id), actor=admin_user, reason="seen it")
    reports.dismiss_reports(Message.objects.filter(pk=message_id), actor=admin_user, reason="report wrong")
    assert Message.objects.get(pk=message_id).hidden


def test_confirm_of_a_message_the_threshold_hid_keeps_it_hidden(api, admin_user):
    Namespace.objects.filter(name="micro").update(auto_hide_threshold=1)
    message_id = api.message(api.conversation()["id"])["id"]
    api.report("Streams", message_id)
    reports.confirm_reports(Message.objects.filter(pk=message_id), actor=admin_user, reason="yes")
    message = Message.objects.get(pk=message_id)
    assert message.hidden and message.review.state == "actioned"
    actions = list(ModerationEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["auto_hide", "confirm_reports"]  # no second hide: it was hidden


def test_resolved_reports_stay_resolved_and_new_ones_open_a_new_round(api, admin_user):
    message_id = api.message(api.conversation()["id"])["id"]
    api.report("Streams", message_id, reporter_id="rita")
    reports.dismiss_reports(Message.objects.filter(pk=message_id), actor=admin_user, reason="fine")
    api.report("Streams", message_id, reporter_id="rita", reason="other", description="again")
    item = ReportedMessage.objects.get()
    assert (item.state, item.open_reports, item.reasons) == ("open", 1, "other")
    assert sorted(Report.objects.values_list("state", flat=True)) == ["dismissed", "open"]


def test_resolving_nothing_open_does_nothing(api, admin_user):
    message_id = api.message(api.conversation()["id"])["id"]
    assert reports.confirm_reports(Message.objects.filter(pk=message_id), actor=admin_user, reason="x") is None
    assert not Message.objects.get(pk=message_id).hidden
    assert not ModerationEvent.objects.exists()


def test_a_reason_is_required(admin_user, reported):
    model, message_id = reported
    with pytest.raises(ReasonRequired):
        reports.confirm_reports(model.objects.filter(pk=message_id), actor=admin_user, reason="  ")
    assert set(model.objects.get(pk=message_id).reports.values_list("state", flat=True)) == {"open"}


def test_bulk_confirm_over_many_messages(api, admin_user):
    conv = api.conversation()["id"]
    ids = [api.message(conv, text=f"spam {i}")["id"] for i in range(30)]
    for message_id in ids:
        api.report("Streams", message_id)
    event = reports.confirm_reports(Message.objects.filter(pk__in=ids), actor=admin_user, reason="a spam wave")
    assert (
        event.count == 30 and event.target == "reports of 30 messages" and sorted(event.details["ids"]) == sorted(ids)
    )
    assert Message.objects.filter(hidden=True).count() == 30
    assert not ReportedMessage.objects.filter(state="open").exists()


def test_deleting_reported_messages_deletes_their_reports(api, admin_user, reported):
    model, message_id = reported
    services.delete_messages(model.objects.filter(pk=message_id), actor=admin_user, reason="gone")
    assert not model.objects.filter(pk=message_id).exists()
    Report = services.report_model_of(model)
    assert not Report.objects.exists() and not services.queue_model_of(model).objects.exists()


def test_deleting_a_conversation_with_reported_messages(api):
    conv = api.conversation()["id"]
    message_id = api.message(conv)["id"]
    api.report("Streams", message_id)
    assert api.ok("Streams/DeleteConversation", {"id": conv}) == {}
    assert not Report.objects.exists() and not ReportedMessage.objects.exists()


def test_deleting_a_chat_with_reported_messages(api, admin_user):
    from chats.models import Chat

    chat = api.chat(["rita", "sam"])
    message_id = api.chat_message(chat["id"], "sam")["id"]
    api.report("Chats", message_id)
    services.delete_with_messages(Chat.objects.get(pk=chat["id"]), actor=admin_user, reason="gone")
    assert not ChatMessage.objects.exists()
    assert not services.report_model_of(ChatMessage).objects.exists()


def test_deleting_a_namespace_with_reports(api):
    message_id = api.message(api.conversation()["id"])["id"]
    api.report("Streams", message_id)
    Namespace.objects.get(name="micro").delete()
    assert not Message.objects.exists() and not Report.objects.exists() and not ReportedMessage.objects.exists()
