"""Moderation through Django admin, with Django's test client: what each role
(superuser, a member of the Moderators group, plain staff) may see and do;
the hide/unhide/delete actions and pages, each asking a reason and recorded
once; the spam clean-up; a conversation's page; the read-only moderation
log; API keys (shown once, never their digest, revoked with a reason);
search and filters; and the query counts of the pages a moderator uses most
and of the delete confirmation pages, which must not grow with the number of
messages or of conversations."""

import datetime
import html as html_escapes
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.moderation import services
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.keys import create_api_key, digest_of, find_active_key
from convoproject.tenants.models import ApiKey
from streams.models import Conversation, Message
from tests.support.factories import BASE, MINUTE, a_big_quiet_parent, add, chat, conversation, ns
from tests.support.plans import assert_newest_first_from_a_page_index
from tests.support.rpc import Rpc, assert_envelope
from tests.support.staff import logged_in, url

UTC = datetime.UTC

MESSAGES = "admin:streams_message_changelist"
CONVERSATIONS = "admin:streams_conversation_changelist"


# ---------------------------------------------------------------- users and data


@pytest.fixture
def as_root(superuser):
    return logged_in(superuser)


@pytest.fixture
def as_mod(moderator):
    return logged_in(moderator)


@pytest.fixture
def as_staff(staff):
    return logged_in(staff)


def ids(rows):
    return sorted(str(r.pk) for r in rows)


def hidden_ids(model=Message):
    return sorted(str(pk) for pk in model.objects.filter(hidden=True).values_list("pk", flat=True))


def listed(response):
    """The ids of the rows of a changelist response."""
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return sorted(str(row.pk) for row in response.context["cl"].result_list)


def html(response):
    return response.content.decode()


def notices(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def action_choices(response):
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    return [name for name, _ in form.fields["action"].choices if name] if form else []


def carried(response):
    """The hidden fields a confirmation page posts back, as a dict of lists."""
    fields = {}
    for name, value in response.context["carry"]:
        fields.setdefault(name, []).append(str(value))
    return fields


@pytest.fixture
def world(db):
    """One of everything: micro's conversation with alice's and spammer's
    messages, a chat, an API key and an event; other's conversation."""
    micro, other = ns("micro"), ns("other")
    conv = conversation(micro, topic="Weekend plans", group_id="g-1")
    alice = add(conv, 3, author="alice")
    spam = add(conv, 4, author="spammer", start=BASE + 10 * MINUTE, text="BUY NOW {i}")
    room = chat(micro)
    chat_rows = add(room, 2, author="bob")
    foreign = conversation(other, topic="Elsewhere", group_id="g-9")
    foreign_rows = add(foreign, 2, author="spammer", text="foreign spam {i}")
    api_key, raw_key = create_api_key("micro")
    event = services.hide_messages(Message.objects.filter(pk=alice[0].pk), actor=None, reason="seed")
    services.unhide_messages(Message.objects.filter(pk=alice[0].pk), actor=None, reason="seed")
    return {
        "micro": micro,
        "other": other,
        "conv": conv,
        "alice": alice,
        "spam": spam,
        "chat": room,
        "chat_rows": chat_rows,
        "foreign": foreign,
        "foreign_rows": foreign_rows,
        "key": api_key,
        "raw_key": raw_key,
        "event": event,
    }


# ---------------------------------------------------------------- roles: every page, every role


def _pages():
    """(label, a function of the world giving the URL, status for superuser,
    moderator, plain staff)."""
    ok, no = 200, 403
    models = [
        # label, admin name, the world's object, may a moderator see it, may a superuser add it/delete it
        # (a namespace's deletion would take all its data, a key's its evidence: neither is done in admin)
        ("namespace", "tenants_namespace", "micro", True, True, False),
        ("apikey", "tenants_apikey", "key", False, True, False),
        ("conversation", "streams_conversation", "conv", True, False, True),
        ("streams message", "streams_message", lambda w: w["alice"][0], True, False, True),
        ("chat", "chats_chat", "chat", True, False, True),
        ("chats message", "chats_message", lambda w: w["chat_rows"][0], True, False, True),
        ("event", "moderation_moderationevent", "event", True, False, False),
    ]
    pages = [("admin index", lambda w: reverse("admin:index"), ok, ok, ok)]
    for label, name, obj, moderator_sees, root_adds, root_deletes in models:
        get = obj if callable(obj) else (lambda w, key=obj: w[key])
        seen = ok if moderator_sees else no
        pages += [
            (f"{label} list", lambda w, n=name: reverse(f"admin:{n}_changelist"), ok, seen, no),
            (f"{label} page", lambda w, n=name, g=get: reverse(f"admin:{n}_change", args=[g(w).pk]), ok, seen, no),
            (f"{label} add", lambda w, n=name: reverse(f"admin:{n}_add"), ok if root_adds else no, no, no),
            (
                f"{label} delete",
                lambda w, n=name, g=get: reverse(f"admin:{n}_delete", args=[g(w).pk]),
                ok if root_deletes else no,
                no,
                no,
            ),
            (
                f"{label} history",
                lambda w, n=name, g=get: reverse(f"admin:{n}_history", args=[g(w).pk]),
                ok,
                seen,
                no,
            ),
        ]
    for app, rows in [("streams", "alice"), ("chats", "chat_rows")]:
        pages += [
            (
                f"{app} hide view",
                lambda w, a=app, r=rows: reverse(f"admin:{a}_message_hide_message", args=[w[r][0].pk]),
                ok,
                ok,
                no,
            ),
            (
                f"{app} unhide view",
                lambda w, a=app, r=rows: reverse(f"admin:{a}_message_unhide_message", args=[w[r][0].pk]),
                ok,
                ok,
                no,
            ),
            (
                f"{app} clean-up view",
                lambda w, a=app, r=rows: url(
                    f"admin:{a}_message_clean_up_author", namespace=w["micro"].pk, author_id=w[r][0].author_id
                ),
                ok,
                ok,
                no,
            ),
        ]
    return pages


PAGES = _pages()
ROLES = {"superuser": 2, "moderator": 3, "staff": 4}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("page", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_answers_each_role_as_the_issue_says(world, superuser, moderator, staff, role, page):
    user = {"superuser": superuser, "moderator": moderator, "staff": staff}[role]
    response = logged_in(user).get(page[1](world))
    assert response.status_code == page[ROLES[role]], (role, page[0], response.status_code)


def test_the_moderators_group_is_made_by_a_migration_with_view_and_moderate_only(db):
    group = Group.objects.get(name="Moderators")
    perms = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
    assert perms == [
        "chats.moderate_message",
        "chats.view_chat",
        "chats.view_message",
        "chats.view_report",  # the review queue (moderation migration 0003_report_actions)
        "chats.view_reportedmessage",
        "moderation.view_moderationevent",
        "streams.moderate_message",
        "streams.view_conversation",
        "streams.view_message",
        "streams.view_report",
        "streams.view_reportedmessage",
        "tenants.view_namespace",
    ]


def test_plain_staff_sees_an_admin_index_with_no_apps(world, as_staff):
    response = as_staff.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["app_list"] == []
    page = html(response)
    for name in ("Namespaces", "API keys", "Conversations", "Messages", "Chats", "Moderation events"):
        assert name not in page
    for app in ("tenants", "streams", "chats", "moderation"):
        assert as_staff.get(reverse("admin:app_list", args=[app])).status_code == 404


def test_plain_staff_can_change_nothing(world, as_staff):
    spam = world["spam"]
    posts = [
        (url(MESSAGES), {"action": "hide_selected", "_selected_action": [spam[0].pk], "confirm": "yes", "reason": "x"}),
        (reverse("admin:streams_message_hide_message", args=[spam[0].pk]), {"reason": "x"}),
        (
            reverse("admin:streams_message_clean_up_author"),
            {"namespace": world["micro"].pk, "author_id": "spammer", "confirm": "yes", "reason": "x"},
        ),
        (reverse("admin:streams_conversation_delete", args=[world["conv"].pk]), {"confirm": "yes", "reason": "x"}),
        (
            url("admin:tenants_apikey_changelist"),
            {"action": "revoke_keys", "_selected_action": [world["key"].pk], "confirm": "yes", "reason": "x"},
        ),
    ]
    events = ModerationEvent.objects.count()
    for path, data in posts:
        assert as_staff.post(path, data).status_code == 403, path
    assert hidden_ids() == []
    assert Conversation.objects.count() == 2
    assert ApiKey.objects.get().revoked_at is None
    assert ModerationEvent.objects.count() == events


def test_the_admin_index_of_a_moderator_lists_everything_but_api_keys(world, as_mod, as_root):
    def models(client):
        app_list = client.get(reverse("admin:index")).context["app_list"]
        return sorted(m["object_name"] for app in app_list for m in app["models"])

    assert models(as_mod) == [
        "Chat",
        "Conversation",
        "Message",
        "Message",
        "ModerationEvent",
        "Namespace",
        "Report",
        "Report",
        "ReportedMessage",
        "ReportedMessage",
    ]
    assert models(as_root) == [
        # django-axes: login attempts, lockouts and the login log
        "AccessAttempt",
        "AccessFailureLog",
        "AccessLog",
        "ApiKey",
        "Chat",
        "Conversation",
        "Group",
        "Message",
        "Message",
        "ModerationEvent",
        "ModerationToken",  # the moderation API's tokens (superusers only)
        "Namespace",
        "Report",
        "Report",
        "ReportedMessage",
        "ReportedMessage",
        "User",
    ]


@pytest.mark.parametrize("app, model", [("streams", Message), ("chats", ChatMessage)])
def test_a_moderator_is_offered_hide_and_unhide_but_no_delete(world, as_mod, as_root, app, model):
    changelist = reverse(f"admin:{app}_message_changelist")
    assert action_choices(as_mod.get(changelist)) == ["hide_selected", "unhide_selected", "clean_up_author"]
    assert action_choices(as_root.get(changelist)) == [
        "hide_selected",
        "unhide_selected",
        "delete_selected_messages",
        "clean_up_author",
    ]
    # Posted anyway, neither delete action runs.
    pks = list(model.objects.values_list("pk", flat=True))
    for action in ("delete_selected_messages", "delete_selected"):
        data = {"action": action, "_selected_action": pks, "confirm": "yes", "reason": "x", "post": "yes"}
        response = as_mod.post(changelist, data)
        assert response.status_code == 302
        assert model.objects.count() == len(pks)
    # The message page offers hiding, not deleting.
    page = html(as_mod.get(reverse(f"admin:{app}_message_change", args=[pks[0]])))
    assert reverse(f"admin:{app}_message_hide_message", args=[pks[0]]) in page
    assert reverse(f"admin:{app}_message_delete", args=[pks[0]]) not in page
    assert as_mod.post(reverse(f"admin:{app}_message_delete", args=[pks[0]]), {"post": "yes"}).status_code == 403
    assert model.objects.count() == len(pks)


@pytest.mark.parametrize("name, model", [("streams_conversation", Conversation), ("chats_chat", Chat)])
def test_a_moderator_cannot_delete_conversations_or_chats(world, superuser, as_mod, name, model):
    changelist = reverse(f"admin:{name}_changelist")
    assert action_choices(as_mod.get(changelist)) == []
    assert action_choices(logged_in(get_user_model().objects.get(username="root")).get(changelist)) == [
        "delete_with_messages"
    ]
    pk = model.objects.filter(namespace=world["micro"]).first().pk
    data = {"action": "delete_with_messages", "_selected_action": [pk], "confirm": "yes", "reason": "x"}
    # With no action offered, the post is only the list again.
    refused = as_mod.post(changelist, data)
    assert refused.status_code == 200
    assert "admin/moderation/action_form.html" not in [t.name for t in refused.templates]
    response = as_mod.post(reverse(f"admin:{name}_delete", args=[pk]), {"confirm": "yes", "reason": "x"})
    assert response.status_code == 403
    assert model.objects.filter(pk=pk).exists()
    assert Message.objects.count() == 9
    assert ChatMessage.objects.count() == 2
    assert not ModerationEvent.objects.filter(action__startswith="delete").exists()


def test_a_moderator_cannot_see_or_manage_api_keys(world, as_mod):
    key = world["key"]
    changelist = reverse("admin:tenants_apikey_changelist")
    data = {"action": "revoke_keys", "_selected_action": [key.pk], "confirm": "yes", "reason": "x"}
    assert as_mod.post(changelist, data).status_code == 403
    assert as_mod.post(reverse("admin:tenants_apikey_add"), {"namespace": world["micro"].pk}).status_code == 403
    assert as_mod.post(reverse("admin:tenants_apikey_delete", args=[key.pk]), {"post": "yes"}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1
    assert not ModerationEvent.objects.filter(action="revoke_key").exists()
    assert key.prefix not in html(as_mod.get(reverse("admin:index")))


def test_a_moderators_hide_works_and_is_recorded_in_their_name(world, as_mod, moderator):
    target = world["spam"][0]
    response = as_mod.post(reverse("admin:streams_message_hide_message", args=[target.pk]), {"reason": "advertising"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.hidden, target.hidden_by, target.hidden_reason) == (True, moderator, "advertising")
    event = ModerationEvent.objects.get(action="hide", actor=moderator)
    assert (event.actor_name, event.count, event.reason) == ("mod", 1, "advertising")


# ---------------------------------------------------------------- bulk hide / unhide / delete


@pytest.mark.parametrize("app, model", [("streams", Message), ("chats", ChatMessage)])
def test_bulk_hide_asks_a_reason_then_hides_and_records_one_event(world, as_mod, moderator, app, model):
    rows = list(model.objects.filter(namespace=world["micro"]).order_by("sent_at")[:2])
    changelist = reverse(f"admin:{app}_message_changelist")
    pks = [str(r.pk) for r in rows]

    confirm = as_mod.post(changelist, {"action": "hide_selected", "_selected_action": pks, "index": "0"})

    assert confirm.status_code == 200
    assert "admin/moderation/action_form.html" in [t.name for t in confirm.templates]
    assert "Hide 2 selected message(s)?" in html(confirm)
    assert 'name="reason"' in html(confirm)
    assert sorted(carried(confirm)["_selected_action"]) == sorted(pks)
    assert carried(confirm)["action"] == ["hide_selected"]
    assert hidden_ids(model) == []
    assert ModerationEvent.objects.filter(actor=moderator).count() == 0

    done = as_mod.post(changelist, {**carried(confirm), "confirm": "yes", "reason": "flooding"})

    assert done.status_code == 302
    assert hidden_ids(model) == sorted(pks)
    assert set(model.objects.filter(hidden=True).values_list("hidden_by", "hidden_reason")) == {
        (moderator.pk, "flooding")
    }
    event = ModerationEvent.objects.get(actor=moderator)
    assert (event.action, event.count, event.reason, event.target_type) == ("hide", 2, "flooding", f"{app}.message")
    assert sorted(event.details["ids"]) == sorted(pks)
    assert "Hid 2 message(s)." in notices(done)


@pytest.mark.parametrize("reason", ["", "   "])
def test_bulk_hide_without_a_reason_shows_the_form_again_and_changes_nothing(world, as_mod, reason):
    pks = [str(m.pk) for m in world["spam"]]
    data = {"action": "hide_selected", "_selected_action": pks, "index": "0", "confirm": "yes", "reason": reason}
    events = ModerationEvent.objects.count()

    response = as_mod.post(reverse(MESSAGES), data)

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert 'name="reason"' in html(response)
    assert hidden_ids() == []
    assert ModerationEvent.objects.count() == events
    # Without the reason field at all, likewise.
    del data["reason"]
    assert as_mod.post(reverse(MESSAGES), data).status_code == 200
    assert hidden_ids() == []
    assert ModerationEvent.objects.count() == events


def test_bulk_unhide(world, as_mod, moderator):
    spam = world["spam"]
    services.hide_messages(Message.objects.filter(author_id="spammer"), actor=None, reason="bot")
    pks = [str(spam[0].pk), str(spam[1].pk)]
    confirm = as_mod.post(reverse(MESSAGES), {"action": "unhide_selected", "_selected_action": pks, "index": "0"})
    assert confirm.status_code == 200
    assert "Unhide 2 selected message(s)?" in html(confirm)
    assert len(hidden_ids()) == 6

    done = as_mod.post(reverse(MESSAGES), {**carried(confirm), "confirm": "yes", "reason": "false positive"})

    assert done.status_code == 302
    assert hidden_ids() == ids(spam[2:] + world["foreign_rows"])
    assert Message.objects.get(pk=spam[0].pk).hidden_by is None
    event = ModerationEvent.objects.get(actor=moderator)
    assert (event.action, event.count, event.reason) == ("unhide", 2, "false positive")


def test_bulk_delete_by_a_superuser_asks_a_reason_and_records_one_event(world, as_root, superuser):
    pks = [str(m.pk) for m in world["spam"][:3]]
    confirm = as_root.post(
        reverse(MESSAGES), {"action": "delete_selected_messages", "_selected_action": pks, "index": "0"}
    )
    assert confirm.status_code == 200
    assert "Delete 3 selected message(s)?" in html(confirm)
    assert Message.objects.count() == 9

    done = as_root.post(reverse(MESSAGES), {**carried(confirm), "confirm": "yes", "reason": "illegal"})

    assert done.status_code == 302
    assert not Message.objects.filter(pk__in=pks).exists()
    assert Message.objects.count() == 6
    event = ModerationEvent.objects.get(actor=superuser)
    assert (event.action, event.count, event.reason, event.actor_name) == ("delete", 3, "illegal", "root")


def test_bulk_hide_across_every_row_of_a_filtered_list(world, as_mod):
    """Django's "Select all N" on a list filtered to one author: the
    confirmation page must carry the selection across, so that the action
    applies to every matching message, not only those on the page."""
    more = add(world["conv"], 120, author="spammer", start=BASE + 100 * MINUTE)  # more than one page (50)
    spam = world["spam"] + more
    filtered = url(MESSAGES, author_id="spammer", namespace__id__exact=world["micro"].pk)
    on_page = listed(as_mod.get(filtered))
    assert len(on_page) == 50

    confirm = as_mod.post(
        filtered, {"action": "hide_selected", "_selected_action": on_page, "select_across": "1", "index": "0"}
    )
    assert confirm.status_code == 200
    assert "Hide 124 selected message(s)?" in html(confirm)

    done = as_mod.post(filtered, {**carried(confirm), "confirm": "yes", "reason": "spam run"})

    assert done.status_code == 302
    assert hidden_ids() == ids(spam), f"hid {len(hidden_ids())} of {len(spam)}; notices: {notices(done)}"
    assert ModerationEvent.objects.get(reason="spam run").count == 124


def test_hidden_through_admin_is_gone_from_the_api_and_back_when_unhidden(api, superuser):
    conv = api.conversation()
    sent = [api.message(conv["id"], text=f"m{i}") for i in range(3)]
    as_root = logged_in(superuser)
    hide = reverse("admin:streams_message_hide_message", args=[sent[1]["id"]])
    unhide = reverse("admin:streams_message_unhide_message", args=[sent[1]["id"]])

    def texts():
        return [m["text"] for m in api.ok("Streams/ListMessages", {"conversation_id": conv["id"]})["messages"]]

    assert as_root.post(hide, {"reason": "spam"}).status_code == 302
    assert texts() == ["m2", "m0"]
    assert as_root.post(unhide, {"reason": "ok"}).status_code == 302
    assert texts() == ["m2", "m1", "m0"]


# ---------------------------------------------------------------- hide / unhide one message


@pytest.mark.parametrize("app, rows", [("streams", "spam"), ("chats", "chat_rows")])
def test_hide_and_unhide_one_message_from_its_page(world, as_mod, moderator, app, rows):
    target = world[rows][0]
    model = type(target)
    hide = reverse(f"admin:{app}_message_hide_message", args=[target.pk])
    unhide = reverse(f"admin:{app}_message_unhide_message", args=[target.pk])
    page = reverse(f"admin:{app}_message_change", args=[target.pk])

    form = as_mod.get(hide)
    assert form.status_code == 200
    assert 'name="reason"' in html(form)
    assert target.text in html(form)
    assert not model.objects.get(pk=target.pk).hidden

    response = as_mod.post(hide, {"reason": "  spam link  "})

    assert response.status_code == 302
    assert response["Location"] == page
    hidden = model.objects.get(pk=target.pk)
    assert (hidden.hidden, hidden.hidden_by, hidden.hidden_reason) == (True, moderator, "spam link")
    assert hidden.hidden_at is not None
    event = ModerationEvent.objects.get(actor=moderator)
    assert (event.action, event.count, event.target, event.reason) == ("hide", 1, f"message {target.pk}", "spam link")
    # Its page now says who hid it and why, and offers unhiding.
    shown = html(as_mod.get(page))
    assert "Hidden" in shown and "mod" in shown and "spam link" in shown
    assert unhide in shown

    response = as_mod.post(unhide, {"reason": "appeal accepted"})

    assert response.status_code == 302
    back = model.objects.get(pk=target.pk)
    assert (back.hidden, back.hidden_by, back.hidden_at, back.hidden_reason) == (False, None, None, "")
    event = ModerationEvent.objects.get(actor=moderator, action="unhide")
    assert (event.count, event.reason) == (1, "appeal accepted")
    assert hide in html(as_mod.get(page))


def test_hiding_one_message_without_a_reason_changes_nothing(world, as_mod):
    target = world["spam"][0]
    events = ModerationEvent.objects.count()
    response = as_mod.post(reverse("admin:streams_message_hide_message", args=[target.pk]), {"reason": " "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert not Message.objects.get(pk=target.pk).hidden
    assert ModerationEvent.objects.count() == events


@pytest.mark.parametrize("object_id", ["not-a-uuid", str(uuid.UUID(int=7))])
def test_hiding_a_message_that_does_not_exist_is_404(world, as_mod, object_id):
    path = f"{reverse(MESSAGES)}{object_id}/hide/"
    assert as_mod.post(path, {"reason": "x"}).status_code == 404


def test_deleting_one_message_from_its_page_is_recorded(world, as_root, superuser):
    """Issue 6: every deletion is recorded with actor, time, object and
    reason. A superuser's message page links to Django's standard delete page;
    whatever it asks, a message must never go without a ModerationEvent."""
    target = world["spam"][0]
    path = reverse("admin:streams_message_delete", args=[target.pk])
    events = ModerationEvent.objects.count()

    as_root.get(path)
    as_root.post(path, {"post": "yes"})

    deleted = not Message.objects.filter(pk=target.pk).exists()
    recorded = ModerationEvent.objects.filter(actor=superuser, action="delete").count()
    assert not deleted or recorded == 1, (
        f"message deleted from its admin page: deleted={deleted}, moderation events written={recorded}, "
        f"events before={events}"
    )


# ---------------------------------------------------------------- spam clean-up


def clean_up_url(app="streams", **query):
    return url(f"admin:{app}_message_clean_up_author", **query)


def test_the_author_list_offers_the_clean_up(world, as_mod):
    micro = world["micro"]
    filtered = as_mod.get(url(MESSAGES, author_id="spammer", namespace__id__exact=micro.pk))
    assert listed(filtered) == ids(world["spam"])
    link = reverse("admin:streams_message_clean_up_author")
    assert link in html(filtered)
    assert "Clean up all messages of spammer" in html(filtered)
    # The link opens the clean-up page of that author in that namespace.
    href = re.search(r'href="([^"]*clean-up-author/[^"]*)"', html(filtered)).group(1).replace("&amp;", "&")
    page = as_mod.get(href)
    assert page.status_code == 200
    assert "spammer has 4 message(s) in namespace micro, 4 of them visible" in html(page)
    # Not filtered to one author: no clean-up link.
    assert link not in html(as_mod.get(reverse(MESSAGES)))
    # The author column links to the author's filtered list.
    author_link = url(MESSAGES, author_id="spammer", namespace__id__exact=micro.pk).replace("&", "&amp;")
    assert author_link in html(as_mod.get(reverse(MESSAGES)))


def test_the_clean_up_action_on_a_message_opens_the_clean_up_page(world, as_mod):
    spam = world["spam"]
    response = as_mod.post(
        reverse(MESSAGES), {"action": "clean_up_author", "_selected_action": [spam[0].pk, spam[1].pk], "index": "0"}
    )
    assert response.status_code == 302
    assert response["Location"] == clean_up_url(namespace=world["micro"].pk, author_id="spammer")
    assert hidden_ids() == []
    # Two authors selected: refused with a warning.
    mixed = [spam[0].pk, world["alice"][0].pk]
    response = as_mod.post(reverse(MESSAGES), {"action": "clean_up_author", "_selected_action": mixed, "index": "0"})
    assert response.status_code == 302
    assert "Select messages of exactly one author in one namespace." in notices(response)


def test_clean_up_hides_every_message_of_the_author_in_the_namespace(world, as_mod, moderator):
    micro = world["micro"]
    page = as_mod.get(clean_up_url(namespace=micro.pk, author_id="spammer"))
    assert page.status_code == 200
    assert 'name="delete"' not in html(page)  # a moderator may not delete
    assert 'name="reason"' in html(page)
    assert hidden_ids() == []

    response = as_mod.post(
        reverse("admin:streams_message_clean_up_author"),
        {"namespace": micro.pk, "author_id": "spammer", "confirm": "yes", "reason": "spam wave"},
    )

    assert response.status_code == 302
    assert response["Location"] == url(MESSAGES, author_id="spammer", namespace__id__exact=micro.pk)
    assert hidden_ids() == ids(world["spam"])  # not alice's, not the other namespace's
    event = ModerationEvent.objects.get(actor=moderator)
    assert (event.action, event.count, event.namespace, event.reason) == ("hide_author", 4, micro, "spam wave")
    assert event.details["author_id"] == "spammer"


def test_clean_up_within_a_time_window(world, as_mod, moderator):
    spam = world["spam"]  # sent at BASE + 10, 11, 12, 13 minutes
    response = as_mod.post(
        reverse("admin:streams_message_clean_up_author"),
        {
            "namespace": world["micro"].pk,
            "author_id": "spammer",
            "confirm": "yes",
            "reason": "burst",
            "since": "2024-03-10T12:11",
            "until": "2024-03-10T12:13",
        },
    )
    assert response.status_code == 302
    assert hidden_ids() == ids(spam[1:3])
    event = ModerationEvent.objects.get(actor=moderator)
    assert event.count == 2
    assert event.details["since"] == (BASE + 11 * MINUTE).isoformat()
    assert event.details["until"] == (BASE + 13 * MINUTE).isoformat()


def test_clean_up_refuses_a_missing_reason_or_a_backwards_window(world, as_mod):
    base = {"namespace": world["micro"].pk, "author_id": "spammer", "confirm": "yes"}
    path = reverse("admin:streams_message_clean_up_author")
    events = ModerationEvent.objects.count()
    for data in (
        {**base, "reason": ""},
        {**base, "reason": "x", "since": "2024-03-10T12:13", "until": "2024-03-10T12:11"},
        {**base, "reason": "x", "since": "not a time"},
    ):
        response = as_mod.post(path, data)
        assert response.status_code == 200, data
        assert response.context["form"].errors, data
    assert hidden_ids() == []
    assert ModerationEvent.objects.count() == events
    assert as_mod.get(clean_up_url(namespace=999999, author_id="spammer")).status_code == 404
    assert as_mod.get(clean_up_url(author_id="spammer")).status_code == 404


def test_the_clean_up_page_of_a_malformed_namespace_is_404_not_an_error(world, as_mod):
    answers = {
        namespace: as_mod.get(clean_up_url(namespace=namespace, author_id="spammer")).status_code
        for namespace in ("abc", "1.5", "")
    }
    assert answers == {"abc": 404, "1.5": 404, "": 404}


def test_a_superuser_may_delete_in_the_clean_up_a_moderator_may_not(world, as_root, as_mod, superuser, moderator):
    micro = world["micro"]
    assert 'name="delete"' in html(as_root.get(clean_up_url(namespace=micro.pk, author_id="spammer")))
    data = {"namespace": micro.pk, "author_id": "spammer", "confirm": "yes", "reason": "bot", "delete": "on"}
    path = reverse("admin:streams_message_clean_up_author")

    # A moderator posting delete=on only hides.
    assert as_mod.post(path, data).status_code == 302
    assert Message.objects.filter(author_id="spammer", namespace=micro).count() == 4
    assert hidden_ids() == ids(world["spam"])
    assert ModerationEvent.objects.get(actor=moderator).action == "hide_author"

    assert as_root.post(path, data).status_code == 302
    assert not Message.objects.filter(author_id="spammer", namespace=micro).exists()
    assert Message.objects.filter(author_id="spammer").count() == 2  # the other namespace's stay
    event = ModerationEvent.objects.get(actor=superuser)
    assert (event.action, event.count) == ("delete_author", 4)


def test_clean_up_in_chats(world, as_mod):
    response = as_mod.post(
        reverse("admin:chats_message_clean_up_author"),
        {"namespace": world["micro"].pk, "author_id": "bob", "confirm": "yes", "reason": "x"},
    )
    assert response.status_code == 302
    assert hidden_ids(ChatMessage) == ids(world["chat_rows"])
    assert hidden_ids() == []


# ---------------------------------------------------------------- a conversation's page


def test_a_conversations_page_shows_its_latest_20_messages_newest_first(world, as_mod):
    conv = conversation(world["micro"], topic="busy")
    rows = add(conv, 30, text="line {i:02d}")
    other_conv_text = world["alice"][0].text
    page = as_mod.get(reverse("admin:streams_conversation_change", args=[conv.pk]))
    assert page.status_code == 200
    shown = re.findall(r"line (\d\d)", html(page))
    assert shown == [f"{i:02d}" for i in range(29, 9, -1)]  # 29 .. 10
    assert other_conv_text not in html(page)
    for row in rows[-20:]:
        assert reverse("admin:streams_message_change", args=[row.pk]) in html(page)

    all_link = url(MESSAGES, conversation=conv.pk, namespace__id__exact=world["micro"].pk)
    assert all_link.replace("&", "&amp;") in html(page)
    assert listed(as_mod.get(all_link)) == ids(rows)


def test_a_chats_page_shows_its_latest_messages(world, as_mod):
    room = chat(world["micro"], ["carol", "dave"])
    rows = add(room, 25, text="chat {i:02d}")
    page = as_mod.get(reverse("admin:chats_chat_change", args=[room.pk]))
    assert re.findall(r"chat (\d\d)", html(page)) == [f"{i:02d}" for i in range(24, 4, -1)]
    all_link = url("admin:chats_message_changelist", chat=room.pk, namespace__id__exact=world["micro"].pk)
    assert all_link.replace("&", "&amp;") in html(page)
    assert listed(as_mod.get(all_link)) == ids(rows)


PARENTS = {
    "streams": (Message, lambda namespace, i: conversation(namespace, topic=f"t{i}")),
    "chats": (ChatMessage, lambda namespace, i: chat(namespace, (f"u{i}", "v"))),
}


@pytest.mark.parametrize("service", list(PARENTS))
def test_a_big_quiet_parents_messages_are_read_from_a_page_index(as_mod, service):
    """A conversation (or chat) holding most of the messages, all older than
    the others' newest: given its id, PostgreSQL's planner walked the
    newest-first `sent_at` index of all parents for its page's latest
    messages and for its list of messages, reading every newer message of the
    others first. The parent's id is a value the planner does not look into
    (convoproject.moderation.selection.of_parent): both are a walk of an
    index in their order: the unique (namespace, parent, sent_at) one or the
    (parent, sent_at) one."""
    model, make_parent = PARENTS[service]
    micro = ns("micro")
    add(make_parent(ns("other"), 99), 2)  # two namespaces: the link's namespace filter applies
    big, rows = a_big_quiet_parent(micro, make_parent)
    newest = sorted(rows, key=lambda row: row.sent_at, reverse=True)
    meta, table = big._meta, model._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        page = as_mod.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[big.pk]))
        assert page.status_code == 200
        all_link = url(f"admin:{table}_changelist", **{model.PARENT: big.pk, "namespace__id__exact": micro.pk})
        assert all_link.replace("&", "&amp;") in html(page)
        listing = as_mod.get(all_link)
    assert re.findall(r"message (\d+)", html(page)) == [row.text.split()[-1] for row in newest[:20]]
    assert [row.pk for row in listing.context["cl"].result_list] == [row.pk for row in newest[:50]]
    ordered = f'ORDER BY "{table}"."sent_at" DESC'
    statements = [query["sql"] for query in captured.captured_queries if ordered in query["sql"]]
    assert len(statements) == 2
    assert_newest_first_from_a_page_index(model, statements)


# ---------------------------------------------------------------- deleting a conversation or chat


@pytest.mark.parametrize(
    "name, parent_key, action, count",
    [("streams_conversation", "conv", "delete_conversation", 7), ("chats_chat", "chat", "delete_chat", 2)],
)
def test_deleting_shows_the_message_count_then_removes_all_in_one_event(
    world, as_root, superuser, name, parent_key, action, count
):
    parent = world[parent_key]
    model, message_model = type(parent), (Message if parent_key == "conv" else ChatMessage)
    path = reverse(f"admin:{name}_delete", args=[parent.pk])
    before = message_model.objects.count()

    page = as_root.get(path)

    assert page.status_code == 200
    assert f"and their {count:,} message(s)?" in html(page)
    assert f"({count:,} messages)" in html(page)
    assert 'name="reason"' in html(page)
    assert model.objects.filter(pk=parent.pk).exists()

    # Without a reason: the page again, nothing deleted.
    again = as_root.post(path, {"confirm": "yes", "reason": ""})
    assert again.status_code == 200
    assert model.objects.filter(pk=parent.pk).exists()
    assert message_model.objects.count() == before

    done = as_root.post(path, {"confirm": "yes", "reason": "abusive"})

    assert done.status_code == 302
    assert done["Location"] == reverse(f"admin:{name}_changelist")
    assert not model.objects.filter(pk=parent.pk).exists()
    assert message_model.objects.count() == before - count
    assert not message_model.objects.filter(**{f"{message_model.PARENT}_id": parent.pk}).exists()
    event = ModerationEvent.objects.get(actor=superuser)
    assert (event.action, event.count, event.reason, event.namespace) == (action, count, "abusive", world["micro"])
    assert event.details == {"id": str(parent.pk), "messages": count}


def test_bulk_delete_of_conversations_counts_and_records_one_event_each(world, as_root, superuser):
    second = conversation(world["micro"], topic="second")
    add(second, 5)
    pks = [str(world["conv"].pk), str(second.pk)]
    changelist = reverse(CONVERSATIONS)

    confirm = as_root.post(changelist, {"action": "delete_with_messages", "_selected_action": pks, "index": "0"})

    assert confirm.status_code == 200
    assert "Delete 2 conversations and their 12 message(s)?" in html(confirm)
    assert Conversation.objects.count() == 3

    done = as_root.post(changelist, {**carried(confirm), "confirm": "yes", "reason": "cleanup"})

    assert done.status_code == 302
    assert list(Conversation.objects.values_list("pk", flat=True)) == [world["foreign"].pk]
    assert Message.objects.count() == 2
    events = ModerationEvent.objects.filter(actor=superuser)
    assert sorted(e.count for e in events) == [5, 7]
    assert {e.action for e in events} == {"delete_conversation"}


@pytest.mark.parametrize("name", ["streams_conversation", "chats_chat", "streams_message"])
@pytest.mark.parametrize("object_id", [uuid.UUID(int=1), "not-a-uuid"])
def test_deleting_a_row_that_does_not_exist_answers_as_django_does(world, as_root, name, object_id):
    response = as_root.post(reverse(f"admin:{name}_delete", args=[object_id]), {"confirm": "yes", "reason": "x"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert [n for n in notices(response) if "doesn’t exist. Perhaps it was deleted?" in n]
    assert (Conversation.objects.count(), Chat.objects.count(), Message.objects.count()) == (2, 1, 9)
    assert not ModerationEvent.objects.filter(action__startswith="delete").exists()


# ---------------------------------------------------------------- the moderation log


def test_the_moderation_log_lists_events_and_cannot_be_edited(world, as_root, as_mod):
    services.delete_messages(Message.objects.filter(pk=world["spam"][0].pk), actor=None, reason="gone")
    events = list(ModerationEvent.objects.all())
    changelist = reverse("admin:moderation_moderationevent_changelist")
    for client in (as_root, as_mod):
        response = client.get(changelist)
        assert listed(response) == sorted(str(e.pk) for e in events)
        assert "gone" in html(response)
        assert action_choices(response) == []
        assert client.get(reverse("admin:moderation_moderationevent_add")).status_code == 403

    event = events[0]
    change = reverse("admin:moderation_moderationevent_change", args=[event.pk])
    delete = reverse("admin:moderation_moderationevent_delete", args=[event.pk])
    for client in (as_root, as_mod):
        page = client.get(change)
        assert page.status_code == 200
        assert '<input type="submit"' not in html(page) and 'name="_save"' not in html(page)
        response = client.post(change, {"reason": "rewritten", "count": 0, "action": "hide", "actor_name": "x"})
        assert response.status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        data = {"action": "delete_selected", "_selected_action": [event.pk], "index": "0", "post": "yes"}
        client.post(changelist, data)
        add_data = {"action": "hide", "actor_name": "x", "target_type": "x", "target": "x", "count": 1, "reason": "x"}
        assert client.post(reverse("admin:moderation_moderationevent_add"), add_data).status_code == 403
    assert sorted(
        ModerationEvent.objects.values_list("pk", "reason", "count", "actor_name", "action", "target")
    ) == sorted((e.pk, e.reason, e.count, e.actor_name, e.action, e.target) for e in events)


def test_every_admin_moderation_step_lands_in_the_log_with_actor_object_and_reason(world, as_root, superuser):
    spam, conv = world["spam"], world["conv"]
    as_root.post(reverse("admin:streams_message_hide_message", args=[spam[0].pk]), {"reason": "r-hide"})
    as_root.post(reverse("admin:streams_message_unhide_message", args=[spam[0].pk]), {"reason": "r-unhide"})
    as_root.post(
        reverse(MESSAGES),
        {"action": "delete_selected_messages", "_selected_action": [spam[1].pk], "confirm": "yes", "reason": "r-del"},
    )
    as_root.post(reverse("admin:streams_conversation_delete", args=[conv.pk]), {"confirm": "yes", "reason": "r-conv"})
    as_root.post(
        reverse("admin:tenants_apikey_changelist"),
        {
            "action": "revoke_keys",
            "_selected_action": [world["key"].pk],
            "index": "0",
            "confirm": "yes",
            "reason": "r-key",
        },
    )
    logged = list(
        ModerationEvent.objects.filter(actor=superuser)
        .order_by("created_at", "pk")
        .values_list("actor_name", "action", "reason", "target", "count")
    )
    assert logged == [
        ("root", "hide", "r-hide", f"message {spam[0].pk}", 1),
        ("root", "unhide", "r-unhide", f"message {spam[0].pk}", 1),
        ("root", "delete", "r-del", f"message {spam[1].pk}", 1),
        ("root", "delete_conversation", "r-conv", f"conversation {conv.pk} (Weekend plans)", 6),
        ("root", "revoke_key", "r-key", f"API key {world['key'].prefix}…", 1),
    ]
    page = html(as_root.get(reverse("admin:moderation_moderationevent_changelist")))
    for reason in ("r-hide", "r-unhide", "r-del", "r-conv", "r-key"):
        assert reason in page


# ---------------------------------------------------------------- API keys


def test_the_api_key_admin_never_shows_the_digest(world, as_root):
    key, raw = world["key"], world["raw_key"]
    pages = [
        reverse("admin:tenants_apikey_changelist"),
        reverse("admin:tenants_apikey_change", args=[key.pk]),
        reverse("admin:tenants_apikey_history", args=[key.pk]),
        reverse("admin:tenants_namespace_change", args=[world["micro"].pk]),
    ]
    for path in pages:
        page = as_root.get(path)
        assert page.status_code == 200, path
        assert key.digest not in html(page), path
        assert raw not in html(page), path
    assert key.prefix in html(as_root.get(pages[0]))
    assert key.prefix in html(as_root.get(pages[1]))


def test_a_new_api_key_is_shown_once_and_works(db, as_root, client):
    micro = ns()
    response = as_root.post(reverse("admin:tenants_apikey_add"), {"namespace": micro.pk}, follow=True)
    assert response.status_code == 200
    shown = [m for m in notices(response) if "New API key for micro" in m]
    assert len(shown) == 1, notices(response)
    raw = re.search(r"(cvk_\S+)", shown[0]).group(1)
    key = ApiKey.objects.get()
    assert key.digest == digest_of(raw)
    assert raw.startswith(key.prefix)
    assert find_active_key(raw) == key
    assert Rpc(client, key=raw).ok("Streams/ListConversations", {"group_id": "g"}) == {"conversations": []}
    # Never again.
    for path in (
        reverse("admin:tenants_apikey_changelist"),
        reverse("admin:tenants_apikey_change", args=[key.pk]),
        reverse("admin:index"),
    ):
        page = html(as_root.get(path))
        assert raw not in page
        assert key.digest not in page


def test_revoking_an_api_key_asks_a_reason_and_records_an_event(world, as_root, superuser, client):
    key = world["key"]
    changelist = reverse("admin:tenants_apikey_changelist")
    api = Rpc(client, key=world["raw_key"])
    assert api.post("Streams/ListConversations", {"group_id": "g"}).status_code == 200

    confirm = as_root.post(changelist, {"action": "revoke_keys", "_selected_action": [key.pk], "index": "0"})

    assert confirm.status_code == 200, "the revoke action must ask a reason first"
    assert 'name="reason"' in html(confirm)
    assert key.digest not in html(confirm)
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not ModerationEvent.objects.filter(action="revoke_key").exists()

    # Without a reason: asked again, not revoked.
    again = as_root.post(changelist, {**carried(confirm), "confirm": "yes", "reason": "  "})
    assert again.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None

    done = as_root.post(changelist, {**carried(confirm), "confirm": "yes", "reason": "leaked in a commit"})

    assert done.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api.post("Streams/ListConversations", {"group_id": "g"}).status_code == 401
    event = ModerationEvent.objects.get(action="revoke_key")
    assert (event.actor, event.actor_name, event.reason, event.count) == (superuser, "root", "leaked in a commit", 1)
    assert (event.namespace, event.target_type, event.target) == (
        world["micro"],
        "tenants.apikey",
        f"API key {key.prefix}…",
    )
    assert key.digest not in str(event.details) and world["raw_key"] not in str(event.details)
    page = html(as_root.get(reverse("admin:moderation_moderationevent_changelist")))
    assert "leaked in a commit" in page


# ---------------------------------------------------------------- the lists: columns, search, filters


def test_the_message_list_shows_excerpt_author_conversation_namespace_time_and_state(world, as_mod):
    long_text = "word " * 40
    conv = world["conv"]
    long_row = add(conv, 1, author="carol", start=BASE + 60 * MINUTE, text=long_text)[0]
    services.hide_messages(Message.objects.filter(pk=world["spam"][0].pk), actor=None, reason="advert")
    response = as_mod.get(reverse(MESSAGES))
    page = html(response)
    assert response.context["cl"].list_display == [
        "action_checkbox",
        "text_excerpt",
        "author",
        "parent_link",
        "namespace",
        "sent_at",
        "moderation_state",
    ]
    excerpt = " ".join(long_text.split())[:79] + "…"
    assert excerpt in page
    assert long_text.strip() not in page
    assert reverse("admin:streams_conversation_change", args=[conv.pk]) in page  # conversation, linked
    assert "Weekend plans" in page
    assert url(MESSAGES, author_id="carol", namespace__id__exact=conv.namespace_id).replace("&", "&amp;") in page
    assert "Elsewhere" in page and ">other<" in page and ">micro<" in page
    assert "March 10, 2024" in page or "2024-03-10" in page
    assert "<strong>Hidden</strong> by someone" in page and "advert" in page
    assert "Visible" in page
    assert str(long_row.pk) in listed(response)


def test_the_chat_message_list_links_the_chat(world, as_mod):
    page = html(as_mod.get(reverse("admin:chats_message_changelist")))
    assert reverse("admin:chats_chat_change", args=[world["chat"].pk]) in page
    assert "alice, bob" in page


def test_search_messages_by_text_author_and_id(world, as_mod):
    spam, alice = world["spam"], world["alice"]

    def search(term, path=MESSAGES):
        return listed(as_mod.get(url(path, q=term)))

    assert search("buy now") == ids(spam)  # text, case-insensitive, substring
    assert search("now 2") == ids(spam[2:3])
    assert search("spammer") == ids(spam + world["foreign_rows"])  # exact author id
    assert search("spam") == ids(world["foreign_rows"])  # a part of an author id is not an author
    assert search("alice") == ids(alice)
    assert search(str(spam[1].pk)) == ids(spam[1:2])  # exact message id
    assert search(f"  {str(spam[1].pk).upper()}  ") == ids(spam[1:2])
    assert search(str(world["conv"].pk)) == []  # a conversation's id is not a message's
    assert search(str(uuid.UUID(int=5))) == []
    for term in ("not-a-uuid", "1234", "%", "_", "'; DROP TABLE x; --", "ü" * 300, "12345678-1234-1234-1234"):
        assert search(term) == [], term
    # A NUL character (which PostgreSQL refuses in text) is a clear 400, not a crash.
    assert_envelope(as_mod.get(url(MESSAGES, q="a\x00b")), 400, "BAD_REQUEST")
    assert_envelope(as_mod.get(url(MESSAGES, author_id="a\x00b")), 400, "BAD_REQUEST")
    assert search("bob", "admin:chats_message_changelist") == ids(world["chat_rows"])
    assert search(str(world["chat_rows"][0].pk), "admin:chats_message_changelist") == ids(world["chat_rows"][:1])


def test_search_conversations_by_topic_group_and_id(world, as_mod):
    conv, foreign = world["conv"], world["foreign"]

    def search(term):
        return listed(as_mod.get(url(CONVERSATIONS, q=term)))

    assert search("weekend") == ids([conv])
    assert search("g-1") == ids([conv])  # exact group id
    assert search("g-") == []  # not a part of one
    assert search(str(foreign.pk)) == ids([foreign])
    assert search(str(uuid.UUID(int=3))) == []
    assert search("not-a-uuid") == []
    assert search("%") == []


def test_search_chats_by_id_and_nothing_else(world, as_mod):
    room = world["chat"]
    chats = "admin:chats_chat_changelist"
    assert listed(as_mod.get(url(chats, q=str(room.pk)))) == ids([room])
    assert listed(as_mod.get(url(chats, q="alice"))) == []
    assert listed(as_mod.get(url(chats, q="not-a-uuid"))) == []


def test_filter_messages_by_namespace_and_state(world, as_mod):
    micro, other = world["micro"], world["other"]
    services.hide_messages(Message.objects.filter(pk=world["spam"][0].pk), actor=None, reason="x")
    everything = world["alice"] + world["spam"] + world["foreign_rows"]

    def filtered(**query):
        return listed(as_mod.get(url(MESSAGES, **query)))

    assert filtered() == ids(everything)
    assert filtered(namespace__id__exact=other.pk) == ids(world["foreign_rows"])
    assert filtered(namespace__id__exact=micro.pk) == ids(world["alice"] + world["spam"])
    assert filtered(state="hidden") == ids(world["spam"][:1])
    assert filtered(state="visible") == ids(everything[:3] + everything[4:])
    assert filtered(state="hidden", namespace__id__exact=other.pk) == []
    assert filtered(author_id="spammer", namespace__id__exact=micro.pk, state="visible") == ids(world["spam"][1:])
    page = html(as_mod.get(reverse(MESSAGES)))
    assert "?state=hidden" in page and "?state=visible" in page


def date_filter_links(response):
    """{label: url} of the choices of the "By sent at" filter, as the page links them."""
    block = re.search(r'<details data-filter-title="sent at".*?</details>', html(response), re.S).group(0)
    links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', block)
    return {label: reverse(MESSAGES) + html_escapes.unescape(href) for href, label in links}


def test_filter_by_date(world, as_mod):
    old = add(world["conv"], 2, author="alice", start=datetime.datetime(2023, 7, 1, 9, tzinfo=UTC), step=MINUTE * 60)
    later = add(world["conv"], 1, author="alice", start=datetime.datetime(2023, 11, 2, 9, tzinfo=UTC))
    now = add(world["conv"], 1, author="alice", start=timezone.now())
    recent = world["alice"] + world["spam"] + world["foreign_rows"]

    def filtered(**query):
        return listed(as_mod.get(url(MESSAGES, **query)))

    # The sent_at list filter: a range of dates.
    assert filtered(sent_at__gte="2023-07-01 00:00:00+00:00", sent_at__lt="2023-07-02 00:00:00+00:00") == ids(old)
    assert filtered(sent_at__gte="2024-03-10 00:00:00+00:00", sent_at__lt="2024-03-11 00:00:00+00:00") == ids(recent)
    # Its choices, each a link that lists the messages of its period.
    page = as_mod.get(reverse(MESSAGES))
    choices = date_filter_links(page)
    assert list(choices) == ["Any date", "Today", "Past 7 days", "This month", "This year"]
    assert listed(as_mod.get(choices["Any date"])) == ids(old + later + now + recent)
    for label in ("Today", "Past 7 days", "This month", "This year"):
        assert listed(as_mod.get(choices[label])) == ids(now), label
    # No date drill-down is offered (its queries pass over every message of
    # the selection), but its links still filter.
    assert 'class="toplinks"' not in html(page)
    assert filtered(sent_at__year=2023) == ids(old + later)
    assert filtered(sent_at__year=2023, sent_at__month=7) == ids(old)
    assert filtered(sent_at__year=2023, sent_at__month=7, sent_at__day=1) == ids(old)
    assert filtered(sent_at__year=2023, sent_at__month=8) == []


# ---------------------------------------------------------------- query counts


def _sized_world(total):
    """micro with `total` messages in one conversation (a tenth of them by
    spammer, a fifth hidden), 3 namespaces in all."""
    micro = ns("micro")
    ns("other")
    ns("third")
    conv = conversation(micro)
    rows = [
        Message(
            namespace=micro,
            conversation=conv,
            author_id="spammer" if i % 10 == 0 else f"user{i % 7}",
            text=f"text {i}",
            sent_at=BASE + i * MINUTE,
            hidden=i % 5 == 0,
        )
        for i in range(total)
    ]
    Message.objects.bulk_create(rows)
    return micro, conv


# Measured on SQLite and PostgreSQL, the same with 10 and with 200 messages,
# after one warm-up request (Django caches content types per process):
# the session, the user, the namespaces of the namespace filter, the capped
# count, and the page of rows (with namespace, conversation and hider joined).
# The date filter runs none of its own. A moderator adds the user's and the
# group's permissions.
LIST_QUERIES = {
    "plain": 5,
    "text search": 5,
    "id search": 5,
    "namespace filter": 5,
    "state filter": 5,
    "author filter": 5,
    "date filter": 5,
    "year lookup": 5,
}
MODERATOR_EXTRA_QUERIES = 2
# The session, the user, the conversation, its namespace, its latest 20 messages.
CONVERSATION_PAGE_QUERIES = 5
# As a message list, plus Django's date drill-down on created_at (MIN/MAX, then the years).
CONVERSATION_LIST_QUERIES = 7


def _list_queries(micro):
    return {
        "plain": {},
        "text search": {"q": "text 1"},
        "id search": {"q": str(uuid.UUID(int=9))},
        "namespace filter": {"namespace__id__exact": micro.pk},
        "state filter": {"state": "hidden"},
        "author filter": {"author_id": "spammer", "namespace__id__exact": micro.pk},
        "date filter": {"sent_at__gte": "2024-03-10 00:00:00+00:00", "sent_at__lt": "2024-03-11 00:00:00+00:00"},
        "year lookup": {"sent_at__year": 2024},  # an old drill-down link
    }


def measured(browser, path, assert_queries, expected):
    assert browser.get(path).status_code == 200  # warm-up
    with assert_queries(expected):
        response = browser.get(path)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("total", [10, 200])
@pytest.mark.parametrize("kind", list(LIST_QUERIES))
def test_the_message_list_runs_a_fixed_number_of_queries(db, superuser, assert_queries, kind, total):
    micro, _ = _sized_world(total)
    query = _list_queries(micro)[kind]
    response = measured(logged_in(superuser), url(MESSAGES, **query), assert_queries, LIST_QUERIES[kind])
    expected = Message.objects.all()
    if kind == "text search":
        expected = expected.filter(text__icontains="text 1")
    elif kind == "id search":
        expected = expected.none()
    elif kind == "state filter":
        expected = expected.filter(hidden=True)
    elif kind == "author filter":
        expected = expected.filter(author_id="spammer")
    assert len(response.context["cl"].result_list) == min(50, expected.count())


@pytest.mark.parametrize("total", [10, 200])
def test_a_moderators_message_list_runs_as_many_queries_plus_permissions(db, moderator, assert_queries, total):
    micro, _ = _sized_world(total)
    browser = logged_in(moderator)
    for kind, query in _list_queries(micro).items():
        measured(browser, url(MESSAGES, **query), assert_queries, LIST_QUERIES[kind] + MODERATOR_EXTRA_QUERIES)


@pytest.mark.parametrize("total", [10, 200])
def test_the_conversation_page_runs_a_fixed_number_of_queries(db, superuser, moderator, assert_queries, total):
    _, conv = _sized_world(total)
    path = reverse("admin:streams_conversation_change", args=[conv.pk])
    response = measured(logged_in(superuser), path, assert_queries, CONVERSATION_PAGE_QUERIES)
    assert len(re.findall(r"text \d+", html(response))) == min(20, total)
    measured(logged_in(moderator), path, assert_queries, CONVERSATION_PAGE_QUERIES + MODERATOR_EXTRA_QUERIES)


@pytest.mark.parametrize("total", [10, 200])
def test_the_conversation_list_runs_a_fixed_number_of_queries(db, superuser, assert_queries, total):
    micro, _ = _sized_world(total)
    for i in range(total // 10):
        conversation(micro, topic=f"t{i}")
    browser = logged_in(superuser)
    for query in ({}, {"q": "t1"}, {"q": "group"}, {"namespace__id__exact": micro.pk}):
        measured(browser, url(CONVERSATIONS, **query), assert_queries, CONVERSATION_LIST_QUERIES)


# ---------------------------------------------------------------- query counts of the delete confirmation pages


def _conversations_with_messages(micro, count):
    """`count` conversations of micro; conversation "c{i}" has i % 4 messages."""
    convs = Conversation.objects.bulk_create(
        [Conversation(namespace=micro, group_id="g", topic=f"c{i}") for i in range(count)]
    )
    rows = [
        Message(namespace=micro, conversation=conv, author_id="a", text="t", sent_at=BASE + j * MINUTE)
        for i, conv in enumerate(convs)
        for j in range(i % 4)
    ]
    Message.objects.bulk_create(rows)
    return convs


def _listed_counts(page):
    """{topic: the number of messages listed with it} of a delete confirmation page."""
    return {
        topic: int(n.replace(",", ""))
        for topic, n in (re.fullmatch(r"(.*) \(([\d,]+) messages\)", item).groups() for item in page.context["items"])
    }


# The session, the user, the conversation, and one grouped count of its messages.
DELETE_PAGE_QUERIES = 4
# The session, the user, the changelist's namespaces (for its filter) and its
# capped count, the namespaces again (Django builds the filters again for the
# action's queryset), the selected conversations, and one grouped count of the
# messages of those the page counts (all up to 100, else the 20 it lists).
DELETE_ACTION_QUERIES = 7


def test_the_delete_page_of_a_conversation_runs_a_fixed_number_of_queries(db, superuser, django_assert_num_queries):
    conv = _conversations_with_messages(ns("micro"), 4)[3]
    path = reverse("admin:streams_conversation_delete", args=[conv.pk])
    browser = logged_in(superuser)
    browser.get(path)  # warm-up
    with django_assert_num_queries(DELETE_PAGE_QUERIES):
        page = browser.get(path)
    assert page.status_code == 200
    assert _listed_counts(page) == {"c3": 3}
    assert "Delete 1 conversations and their 3 message(s)?" in html(page)


@pytest.mark.parametrize("select_across", [False, True], ids=["selected", "select_across"])
@pytest.mark.parametrize("count", [30, 150])
def test_the_bulk_delete_page_runs_a_fixed_number_of_queries(
    db, superuser, django_assert_num_queries, count, select_across
):
    convs = _conversations_with_messages(ns("micro"), count)
    data = {"action": "delete_with_messages", "_selected_action": [c.pk for c in convs], "index": "0"}
    if select_across:
        data = {**data, "_selected_action": [convs[0].pk], "select_across": "1"}
    browser = logged_in(superuser)
    browser.get(reverse(CONVERSATIONS))  # warm-up
    with django_assert_num_queries(DELETE_ACTION_QUERIES):
        page = browser.post(reverse(CONVERSATIONS), data)
    assert page.status_code == 200
    listed_counts = _listed_counts(page)
    assert len(listed_counts) == 20
    assert listed_counts == {topic: int(topic[1:]) % 4 for topic in listed_counts}
    total = Message.objects.count()
    expected = f"and their {total:,} message(s)?" if count <= 100 else "and all their messages?"
    assert f"Delete {count} conversations {expected} This cannot be undone." in html(page)
    assert Conversation.objects.count() == count  # asked, not done
