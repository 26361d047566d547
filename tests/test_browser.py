"""Moderation in Django admin, in a real browser: a moderator logs in, finds a
spam message with the search box, hides it with the "Hide the selected
messages…" action (giving a reason on the confirmation page), and the API
stops returning it.

Debian's chromium (/usr/bin/chromium, package `chromium`) is driven by
Playwright's sync API; Playwright never downloads a browser here. CI installs
chromium (.ci/run); without it this test fails, it is not skipped.

The screenshot of the changelist after the hide goes to
artifacts/moderation-changelist.png (git-ignored).

Django and Playwright in one thread: Playwright's sync API runs an asyncio
event loop in this thread (in a greenlet) from sync_playwright() until its
block exits, and while it does, every ORM call made here raises
SynchronousOnlyOperation. Rather than turn that check off for the whole
module (DJANGO_ALLOW_ASYNC_UNSAFE), the test does its ORM work before the
browser starts and after it is closed; inside the block it only talks to the
live server over HTTP (the browser, and the API with urllib), and the live
server answers from its own thread.
"""

import json
import urllib.request
from importlib import import_module

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect, sync_playwright

from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.keys import create_api_key
from streams.models import Message
from tests.support.chromium import ARTIFACTS, admin_login, launch_chromium

SCREENSHOT = ARTIFACTS / "moderation-changelist.png"

USERNAME = "mod-mia"
PASSWORD = "correct-horse-battery-staple-42"
SPAM = "buy cheap pills now"
REASON = "Spam: advertises pills."
TIMEOUT_MS = 10_000

# The Moderators group's permissions, from the migration that makes the group.
MODERATOR_PERMISSIONS = import_module("convoproject.moderation.migrations.0002_moderators_group").MODERATOR_PERMISSIONS


def moderators_group():
    """The group the migration made. A transactional test that ran earlier in
    this session flushed the tables (data migrations' rows included), so it is
    made again, the same, if it is missing."""
    group, created = Group.objects.get_or_create(name="Moderators")
    if created:
        for app_label, codename in MODERATOR_PERMISSIONS:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def rpc(base_url, key, name, body):
    """POST one RPC to the live server over HTTP, with the API key."""
    request = urllib.request.Request(
        f"{base_url}/protobuf/Streams/{name}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, (name, response.status)
        return json.load(response)


@pytest.mark.django_db(transaction=True)
def test_moderator_hides_spam_in_admin(service):
    base = service.url

    # ---- ORM work, before the browser (see the module docstring)
    moderator = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    moderator.groups.add(moderators_group())
    key = create_api_key("micro")[1]

    # ---- the browser, and the API over HTTP: no ORM in this block
    with sync_playwright() as p:
        # A conversation and messages, made through the API.
        conversation = rpc(base, key, "CreateConversation", {"group_id": "g-browser", "topic": "Browser test"})
        conversation_id = conversation["conversation"]["id"]
        sent = {}
        for author, text in [
            ("alice", "Hello everyone"),
            ("spammer", SPAM + " at example.test"),
            ("bob", "See you at the meeting"),
        ]:
            body = {"author_id": author, "conversation_id": conversation_id, "text": text}
            sent[author] = rpc(base, key, "CreateMessage", body)["message"]["id"]

        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)

            admin_login(page, base, USERNAME, PASSWORD)

            # The Streams messages list, from the admin index.
            page.click("#content-main .app-streams a[href$='/admin/streams/message/']")
            expect(page).to_have_url(f"{base}/admin/streams/message/")

            # Search for the spam.
            page.fill("#searchbar", "pills")
            page.click("#changelist-search input[type=submit]")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(1)
            row = rows.filter(has_text=SPAM)
            expect(row).to_have_count(1)
            expect(row.locator("td.field-moderation_state")).to_have_text("Visible")

            # Tick it, choose the action, Go.
            row.locator("input.action-select").check()
            page.select_option("select[name=action]", label="Hide the selected messages…")
            page.click("button[name=index]")

            # The confirmation page asks a reason.
            expect(page.locator("h1")).to_have_text("Hide messages")
            expect(page.locator(".moderation-summary")).to_have_text("Hide 1 selected message(s)?")
            expect(page.locator(".moderation-items li")).to_have_text(f"spammer: {SPAM} at example.test")
            page.fill("textarea[name=reason]", REASON)
            page.click(".submit-row input[type=submit][value=Hide]")

            # Back on the changelist: the success message and the hidden state.
            expect(page.locator("ul.messagelist li.success")).to_have_text("Hid 1 message(s).")
            state = page.locator("#result_list tbody tr", has_text=SPAM).locator("td.field-moderation_state")
            expect(state).to_contain_text(f"Hidden by {USERNAME} at ")
            expect(state).to_contain_text(REASON)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

        # The API no longer returns the hidden message; the others still come.
        listed = rpc(base, key, "ListMessages", {"conversation_id": conversation_id})["messages"]
        assert [m["id"] for m in listed] == [sent["bob"], sent["alice"]]

    # ---- ORM checks, after the browser
    hidden = Message.objects.select_related("hidden_by").get(id=sent["spammer"])
    assert (hidden.hidden, hidden.hidden_by, hidden.hidden_reason) == (True, moderator, REASON)
    assert not Message.objects.filter(id__in=[sent["alice"], sent["bob"]], hidden=True).exists()
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor, event.actor_name, event.reason, event.count) == (
        ModerationEvent.Action.HIDE,
        moderator,
        USERNAME,
        REASON,
        1,
    )
    assert event.details["ids"] == [sent["spammer"]]
    assert event.target_type == "streams.message"
    assert SCREENSHOT.stat().st_size > 0
