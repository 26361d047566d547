"""The review queue in a real browser: two users report a spam message
through the API, a moderator (Moderators group, not a superuser) logs in,
opens the review queue from the admin index, sees the reported message,
confirms its reports with a reason, and the API stops returning it; the
moderation log has the entry.

Debian's chromium, driven by Playwright, as in tests/test_browser.py (whose
module docstring says why the ORM work is done before and after the
Playwright block, never inside it). The screenshot of the queue before the
confirmation goes to artifacts/review-queue.png (git-ignored).
"""

from importlib import import_module

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect, sync_playwright

from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.keys import create_api_key
from streams.models import Message, ReportedMessage
from tests.support.chromium import ARTIFACTS, admin_login, launch_chromium
from tests.test_browser import moderators_group, rpc

SCREENSHOT = ARTIFACTS / "review-queue.png"

USERNAME = "mod-quinn"
PASSWORD = "correct-horse-battery-staple-43"
SPAM = "cheap watches at example.test"
REASON = "Spam: two users reported it, and it is an ad."
TIMEOUT_MS = 10_000

# The queue's permissions, from the migration that grants them to the group.
QUEUE_PERMISSIONS = import_module("convoproject.moderation.migrations.0003_report_actions").QUEUE_PERMISSIONS


def queue_moderators_group():
    """The Moderators group as the migrations leave it (made again, the same,
    if an earlier transactional test flushed it)."""
    group = moderators_group()
    for app_label, codename in QUEUE_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


@pytest.mark.django_db(transaction=True)
def test_moderator_confirms_a_reported_message_in_the_review_queue(service):
    base = service.url

    # ---- ORM work, before the browser
    moderator = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    moderator.groups.add(queue_moderators_group())
    key = create_api_key("micro")[1]

    # ---- the browser, and the API over HTTP: no ORM in this block
    with sync_playwright() as p:
        conversation_id = rpc(base, key, "CreateConversation", {"group_id": "g-queue", "topic": "Queue test"})[
            "conversation"
        ]["id"]
        sent = {}
        for author, text in [("alice", "Hello everyone"), ("spammer", SPAM)]:
            body = {"author_id": author, "conversation_id": conversation_id, "text": text}
            sent[author] = rpc(base, key, "CreateMessage", body)["message"]["id"]
        for reporter in ("rita", "tom"):
            report = {"message_id": sent["spammer"], "reporter_id": reporter, "reason": "spam"}
            rpc(base, key, "ReportMessage", report)

        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)

            admin_login(page, base, USERNAME, PASSWORD)

            # The review queue, from the admin index.
            page.click("#content-main .app-streams a[href$='/admin/streams/reportedmessage/']")
            expect(page).to_have_url(f"{base}/admin/streams/reportedmessage/")
            expect(page.locator("h1")).to_have_text("Review queue")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(1)
            row = rows.filter(has_text=SPAM)
            expect(row.locator("td.field-author")).to_have_text("spammer")
            expect(row.locator("td.field-open_reports")).to_have_text("2")
            expect(row.locator("td.field-reason_list")).to_have_text("Spam")
            expect(row.locator("td.field-hidden_state")).to_have_text("Visible")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # Tick it, confirm, give the reason.
            row.locator("input.action-select").check()
            page.select_option("select[name=action]", label="Confirm the selected reports (hide the messages)…")
            page.click("button[name=index]")
            expect(page.locator("h1")).to_have_text("Confirm reports")
            expect(page.locator(".moderation-items li")).to_have_text(f"spammer: {SPAM} (2 reporter(s): Spam)")
            page.fill("textarea[name=reason]", REASON)
            page.click(".submit-row input[type=submit][value=Confirm]")

            # Back on the queue: the success message, and nothing left open.
            expect(page.locator("ul.messagelist li.success")).to_have_text(
                "Confirmed the reports of 1 message(s): hidden."
            )
            expect(page.locator("#result_list tbody tr")).to_have_count(0)
        finally:
            browser.close()

        listed = rpc(base, key, "ListMessages", {"conversation_id": conversation_id})["messages"]
        assert [m["id"] for m in listed] == [sent["alice"]]

    # ---- ORM checks, after the browser
    hidden = Message.objects.select_related("hidden_by").get(id=sent["spammer"])
    assert (hidden.hidden, hidden.hidden_by, hidden.hidden_reason) == (True, moderator, REASON)
    assert ReportedMessage.objects.get(pk=sent["spammer"]).state == "actioned"
    event = ModerationEvent.objects.get(action=ModerationEvent.Action.CONFIRM_REPORTS)
    assert (event.actor, event.actor_name, event.reason, event.count) == (moderator, USERNAME, REASON, 2)
    assert event.details["ids"] == [sent["spammer"]]
    assert ModerationEvent.objects.filter(action=ModerationEvent.Action.HIDE, actor=moderator).count() == 1
    assert SCREENSHOT.stat().st_size > 0
