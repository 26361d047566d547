"""Live updates in Debian's Chromium: the demo page and Micro.subscribe
(CONTRACT 9) against the service as production serves it, /events included
(tests/support/server.py, on the test database), with two workers so that a
change made through one worker reaches a stream held by the other.

1. Two sessions of one user side by side on the demo page, the same
   conversation open in both, subscribed (the page shows "live"); no polling:
   - a message sent in one page appears in the other within a second, both
     ways, and a chat message likewise;
   - a message hidden by a moderator (moderation.services.hide_messages)
     disappears from both; unhidden, it comes back in its sent_at place;
   - a rename in one page shows in the other's heading and list;
   - the server restarts while a moderator hides a message: the pages
     reconnect by themselves, resume, and the message disappears;
   - deleting the conversation in one page closes it in the other.
   Screenshot of the second page: artifacts/live.png.
2. Micro.subscribe's errors: a refused stream (a namespace the user is no
   member of, no ids, an unknown conversation, a forged resume point, no
   login) ends the subscription with the contract's envelope in onError,
   read with fetch() since EventSource hides it; over the limit of open
   streams (429), it waits Retry-After and connects once there is room; a
   server restart before any event came gives a reset on reconnecting.

It needs the server that serves /events (ASGI): under Django's live_server
or gunicorn's gthread workers (WSGI) a stream never starts.

The ORM is used before and after the Playwright block; inside it, only
through orm(), in a thread of its own (Django refuses the ORM in the
thread where Playwright's event loop runs).
"""

import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from convoproject.moderation.services import hide_messages, unhide_messages
from streams.models import Conversation, Message
from tests.support import factories
from tests.support.chromium import ARTIFACTS, is_closed_stream, launch_chromium, watch
from tests.support.server import serving
from tests.test_demo_in_browser import USERNAME, answered, log_in, member, send

SCREENSHOT = ARTIFACTS / "live.png"
TIMEOUT_MS = 10_000
LIVE_MS = 1_000  # "appears in the other page within a second"
RESTART_MS = 30_000  # the pages' reconnection backs off while the server is away
GROUP = "g-live"
OLD = ["old 0", "old 1"]  # in the conversation before the pages open it

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform == "win32", reason="the server needs a POSIX system"),
]


def orm(function, *args, **kwargs):
    """`function(*args, **kwargs)` in a thread of its own, its connection closed after."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def hide(text, hidden=True):
    """A moderator hides (or unhides) the demo conversation's message `text`."""
    change = hide_messages if hidden else unhide_messages
    return change(Message.objects.filter(conversation__group_id=GROUP, text=text), actor=None, reason="live test")


def new_page(browser):
    """A page in a browser context of its own: a session of its own."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return watch(page)


def open_demo(page, base, conversation_id):
    """Log in on the demo page, list the group, open the conversation; wait until subscribed."""
    page.goto(f"{base}/demo/")
    with answered(page, "Streams/ListConversations"):
        log_in(page, base)
    expect(page).to_have_url(f"{base}/demo/")
    page.fill("#group-id", GROUP)
    with answered(page, "Streams/ListConversations"):
        page.click("#list-conversations")
    with answered(page, "Streams/ListMessages", "Streams/ListConversations"):
        page.click(f'#conversations button[data-id="{conversation_id}"]')
    expect(page.locator("#messages li .text")).to_have_text(OLD)
    expect_live(page)


def expect_live(page, timeout=TIMEOUT_MS):
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=timeout)
    expect(page.locator("#live-state")).to_have_text("live")


def shown(page, texts, timeout=LIVE_MS):
    expect(page.locator("#messages li .text")).to_have_text(texts, timeout=timeout)


def texts_and_ids(page):
    items = page.locator("#messages li").all()
    return [(li.get_attribute("data-id"), li.locator(".text").inner_text()) for li in items]


def rpcs_since(page, start):
    """The RPC paths a page called since its request number `start`."""
    return [r.split("/protobuf/", 1)[1] for r in page.log["requests"][start:] if "/protobuf/" in r]


# What Chromium logs of the streams cut by the server's restart, and of its reconnecting while the server is away.
RESTART_LINES = re.compile(r"^Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED)$")


def assert_quiet(page, base):
    """No script error, no console error (but Chromium's lines about the
    server's restart), nothing from another origin, and no failed request but
    streams: those the page closed itself (on a new subscription, when a
    conversation went) and those of the restart."""
    log = page.log
    assert not log["page_errors"], log
    errors = [text for kind, text in log["console"] if kind == "error" and not RESTART_LINES.match(text)]
    assert not errors, log["console"]
    foreign = [r for r in log["requests"] if not r.split(" ", 1)[1].startswith(f"{base}/")]
    assert not foreign, foreign
    assert all(is_closed_stream(failure, base) for failure in log["failed"]), log["failed"]


# ---------------------------------------------------------------- 1. two pages


def test_two_pages_see_each_others_changes_live(tmp_path):
    member()
    conversation = factories.conversation(factories.ns("micro"), topic="Topic A", group_id=GROUP)
    factories.add(conversation, 2, author="erin", text="old {i}")
    conversation_id = str(conversation.id)

    with serving(tmp_path) as server, sync_playwright() as p:
        base = server.base_url
        browser = launch_chromium(p)
        try:
            a, b = new_page(browser), new_page(browser)
            open_demo(a, base, conversation_id)
            open_demo(b, base, conversation_id)
            streams = [r for r in b.log["requests"] if r.startswith(f"GET {base}/events?")]
            assert streams and f"conversation_id={conversation_id}" in streams[-1], b.log["requests"]
            assert "namespace=micro" in streams[-1], streams
            b_start = len(b.log["requests"])

            # A message sent in one page appears in the other within a second, both ways.
            send(a, "hello from A", 3)
            shown(b, [*OLD, "hello from A"])
            send(b, "reply from B", 4)
            shown(a, [*OLD, "hello from A", "reply from B"])
            assert texts_and_ids(a) == texts_and_ids(b)

            # A moderator hides a message: it disappears from both pages; unhidden, it comes back in its place.
            orm(hide, "hello from A")
            shown(a, [*OLD, "reply from B"])
            shown(b, [*OLD, "reply from B"])
            orm(hide, "hello from A", hidden=False)
            shown(a, [*OLD, "hello from A", "reply from B"])
            shown(b, [*OLD, "hello from A", "reply from B"])
            assert texts_and_ids(a) == texts_and_ids(b)

            # A rename in one page: the other's heading and list follow.
            a.fill("#rename-topic", "Topic A renamed")
            with answered(a, "Streams/UpdateConversation"):
                a.click("#rename")
            expect(b.locator("#conversation-topic")).to_have_text("Topic A renamed", timeout=LIVE_MS)
            expect(b.locator(f'#conversations button[data-id="{conversation_id}"]')).to_have_text(
                "Topic A renamed", timeout=LIVE_MS
            )
            expect(b.locator("#rename-topic")).to_have_value("Topic A renamed")

            # A chat open in both pages: a message in one appears in the other.
            for page in (a, b):
                with answered(page, "Chats/CreateChat", "Chats/ListMessages"):
                    page.click("#open-chat")
                expect(page.locator("#chat-title")).to_have_text(f"Chat of {USERNAME}, friend")
                expect_live(page)  # subscribed again, the chat included
            a.fill("#chat-text", "in the chat")
            with answered(a, "Chats/CreateMessage"):
                a.click("#chat-send")
            expect(b.locator("#chat-messages li .text")).to_have_text(["in the chat"], timeout=LIVE_MS)

            # The server restarts; meanwhile a moderator hides a message. Both pages
            # reconnect by themselves and resume: the message goes.
            server.stop()
            expect(b.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
            orm(hide, "reply from B")
            server.start()
            for page in (a, b):
                expect_live(page, timeout=RESTART_MS)
                shown(page, [*OLD, "hello from A"], timeout=RESTART_MS)
            # ...and goes on live.
            send(a, "after the restart", 4)
            shown(b, [*OLD, "hello from A", "after the restart"])

            ARTIFACTS.mkdir(exist_ok=True)
            b.screenshot(path=str(SCREENSHOT), full_page=True)

            # The conversation deleted in one page closes in the other.
            a.once("dialog", lambda d: d.accept())
            with answered(a, "Streams/DeleteConversation"):
                a.click("#delete-conversation")
            expect(b.locator("#conversation")).to_be_hidden(timeout=LIVE_MS)
            expect(b.locator("#conversations li")).to_have_count(0)
            expect_live(b)  # still subscribed, to the chat

            # B called nothing but its own send and the chat's opening: everything else came live, no polling.
            assert [rpc for rpc in rpcs_since(b, b_start) if not rpc.startswith("Chats/")] == [
                "Streams/CreateMessage"
            ], b.log["requests"][b_start:]
            for page in (a, b):
                assert_quiet(page, base)
                assert page.evaluate("document.querySelectorAll('[role=alert]:not([hidden])').length") == 0
        finally:
            browser.close()

    assert not Conversation.objects.filter(id=conversation_id).exists()
    assert SCREENSHOT.stat().st_size > 0


# ---------------------------------------------------------------- 2. Micro.subscribe's errors

# Subscribes; resolves with the first event or error, or after 10 s with the states it went through.
SUBSCRIBE = """([namespace, ids]) => new Promise((resolve) => {
  const states = [];
  const live = Micro.subscribe(namespace, ids,
    (type, data) => resolve({ event: [type, data], states }),
    (error) => resolve({ error, states, state: live.state }),
    (state) => states.push(state));
  setTimeout(() => { live.close(); resolve({ timeout: true, states }); }, 10000);
})"""


def refused(page, namespace, ids):
    """The envelope a subscription ended with; it went connecting, reconnecting
    (asking fetch() what the refusal was), closed."""
    answer = page.evaluate(SUBSCRIBE, [namespace, ids])
    assert "error" in answer, answer
    assert answer["states"] == ["connecting", "reconnecting", "closed"], answer
    assert answer["state"] == "closed", answer
    assert set(answer["error"]) == {"id", "code", "detail", "status"}, answer
    return answer["error"]


def test_a_refused_subscription_ends_with_the_envelope(tmp_path):
    member()
    conversation_id = str(factories.conversation(factories.ns("micro"), group_id=GROUP).id)
    ids = {"conversation_ids": [conversation_id]}

    # One open stream per caller at most, and a 429 says to try again in a second.
    # One worker: each worker counts its own streams.
    limits = {"LIVE_MAX_STREAMS_PER_CALLER": "1", "LIVE_KEEPALIVE_SECONDS": "1"}
    with serving(tmp_path, workers=1, **limits) as server, sync_playwright() as p:
        base = server.base_url
        browser = launch_chromium(p)
        try:
            page = new_page(browser)
            page.goto(f"{base}/demo/")
            with answered(page, "Streams/ListConversations"):
                log_in(page, base)
            expect(page).to_have_url(f"{base}/demo/")
            expect(page.locator("#live-state")).to_have_text("")  # its group has no conversation to watch

            # A namespace the user is no member of: 403.
            assert refused(page, "other", ids) == {
                "id": "FORBIDDEN",
                "code": 403,
                "detail": "You are not a member of namespace 'other'",
                "status": "Forbidden",
            }
            # No ids: 400; an unknown conversation: 404; a resume point the server did not make: 400.
            assert refused(page, "micro", {})["id"] == "MISSING_IDS"
            assert refused(page, "micro", {"conversation_ids": [str(uuid.uuid4())]})["id"] == "NOT_FOUND"
            assert refused(page, "micro", {**ids, "last_event_id": "not-an-event-id"})["id"] == "INVALID_EVENT_ID"
            # Each refusal was asked for twice: by EventSource, then by fetch() for the envelope.
            streams = [r for r in page.log["requests"] if r.startswith(f"GET {base}/events?")]
            assert len(streams) == 2 * 4, streams

            # Over the limit of open streams: the second subscription waits (429,
            # Retry-After) and connects once the first is closed.
            page.evaluate(KEEP, ["first", ids])
            expect(page.locator("#first")).to_have_text("live")
            page.evaluate(KEEP, ["second", ids])
            expect(page.locator("#second")).to_have_text("reconnecting")
            with page.expect_response(lambda r: "/events?" in r.url and r.status == 429):
                pass  # the second keeps asking, at the pace the server asks for
            page.evaluate("window.first.close()")
            expect(page.locator("#second")).to_have_text("live")
            assert page.evaluate("window.errors") == []

            # The server restarts before any event came: the stream has no resume
            # point, so once connected again it says reset (read everything again).
            assert page.evaluate("window.events") == []
            server.stop()
            expect(page.locator("#second")).to_have_text("reconnecting")
            server.start()
            expect(page.locator("#second")).to_have_text("live", timeout=RESTART_MS)
            assert page.evaluate("window.events") == [["second", "reset", {}]]
            assert page.evaluate("window.errors") == []

            # Logged out (another browser context, no session): 401.
            other = new_page(browser)
            other.goto(f"{base}/accounts/login/")
            other.add_script_tag(url="/assets/micro.js")
            assert refused(other, "micro", ids)["id"] == "UNAUTHORIZED"
            for each in (page, other):
                assert each.log["page_errors"] == [], each.log
        finally:
            browser.close()


# A subscription kept in window[name], its state shown in #name, its events and errors in window.events and errors.
KEEP = """([name, ids]) => {
  const box = document.body.appendChild(document.createElement("p"));
  box.id = name;
  window.events = window.events || [];
  window.errors = window.errors || [];
  const show = (state) => { box.textContent = state; };
  const keep = (type, data) => window.events.push([name, type, data]);
  window[name] = Micro.subscribe("micro", ids, keep, (error) => window.errors.push(error), show);
}"""
