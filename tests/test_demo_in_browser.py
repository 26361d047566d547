"""The demo page and micro.js in Debian's Chromium, against the live server.

1. The demo page, all of it, as a person uses it: opening /demo/ logged out
   lands on the login page, logging in there comes back to /demo/; then a
   conversation in a group, twelve messages (pages of 10: the newest ten,
   then "Load older" for the rest, oldest first), a second conversation,
   switching between them, a rename, contract errors shown each right under
   the control that caused it (an empty message by the message form, a chat
   of one user by the chat form) and cleared when that control next
   succeeds, a chat, and deleting a conversation (after a confirm() that is
   first dismissed). Afterwards the database holds exactly what the page
   showed. Screenshot (with the message form's error): artifacts/demo.png.
2. Micro.requireLogin on a page of the site's origin (served with
   page.route): logged out, it sends the browser to the login page with the
   page as next; logging in redirects back to the page, and there, logged in,
   cb runs at once. (Playwright does not route the request at the end of a
   redirect, so the page is opened again after the redirect to it.)
3. Micro.post's callbacks: onError gets the contract's envelope, onSuccess
   the answer; without an onError the envelope is logged with console.error.

As in test_browser.py, the ORM is used only before sync_playwright() starts
and after it ends (inside, an ORM call raises SynchronousOnlyOperation); the
browser talks to the live server, which answers from its own thread.
"""

import re
import uuid
from contextlib import ExitStack, contextmanager
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect, sync_playwright

from chats.models import Chat
from chats.models import Message as ChatMessage
from streams.models import Conversation, Message
from tests.support import factories
from tests.support.chromium import ARTIFACTS, is_closed_stream, launch_chromium, watch

SCREENSHOT = ARTIFACTS / "demo.png"
USERNAME = "dana"  # sorts before "friend": the chat's members are "dana, friend"
PASSWORD = "demo-dana-password-42"
TIMEOUT_MS = 10_000
GROUP = "g-demo"
TEXTS = [f"m{i}" for i in range(1, 13)]  # twelve: a page of 10 and two older ones
FAILED_TO_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of \d+")

pytestmark = pytest.mark.django_db(transaction=True)


def member():
    """ORM, before the browser: a user who may call the API in namespace micro."""
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    factories.ns("micro").members.add(user)
    factories.ns("other")  # exists, but the user is no member of it
    return user


@contextmanager
def chromium_page(base):
    """A fresh browser and page; what the page logs, fails and requests is
    collected in page.log. The only block where Playwright runs."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            yield watch(page)
        finally:
            browser.close()


def log_in(page, base, username=USERNAME, password=PASSWORD):
    """Fill in and send the login page the browser is on."""
    expect(page).to_have_url(re.compile("^" + re.escape(f"{base}/accounts/login/")))
    expect(page.locator("main h1")).to_have_text("Log in")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")


@contextmanager
def answered(page, *rpcs):
    """Wait, on leaving the block, until each named RPC has been answered."""
    with ExitStack() as stack:
        for rpc in rpcs:
            stack.enter_context(page.expect_response(lambda r, rpc=rpc: r.url.endswith(f"/protobuf/{rpc}")))
        yield


def texts(page, list_id):
    return page.locator(f"#{list_id} li .text").all_inner_texts()


def ids(page, list_id):
    return [li.get_attribute("data-id") for li in page.locator(f"#{list_id} li").all()]


def send(page, text, count_after, *, enter=False):
    """Post one message with the page's form; wait until the page shows it."""
    page.fill("#text", text)
    with answered(page, "Streams/CreateMessage"):
        if enter:
            page.press("#text", "Enter")
        else:
            page.click("#send")
    expect(page.locator("#messages li")).to_have_count(count_after)
    expect(page.locator("#messages li").last.locator(".text")).to_have_text(text)
    expect(page.locator("#text")).to_have_value("")


# Where an error box is, measured from the row of the control it belongs to.
UNDER_ROW = """([control, error]) => {
  const row = document.getElementById(control).closest(".row"), box = document.getElementById(error);
  const r = row.getBoundingClientRect(), b = box.getBoundingClientRect();
  return {next: row.nextElementSibling === box, gap: b.top - r.bottom, left: b.left - r.left, height: b.height};
}"""


def visible_errors(page):
    """{id: text} of the error boxes shown."""
    return {box.get_attribute("id"): box.inner_text() for box in page.locator("main [role=alert]:visible").all()}


def assert_error_by(page, control_id, error_id, text):
    """The one error shown is `text`, in the box right under the row of `control_id`, one line high."""
    expect(page.locator(f"#{error_id}")).to_have_text(text)
    expect(page.locator(f"#{error_id}")).to_be_visible()
    where = page.evaluate(UNDER_ROW, [control_id, error_id])
    assert where["next"], where  # the element right after the control's row
    assert 0 <= where["gap"] <= 10 and where["left"] == 0, where  # right under it, aligned with it
    assert where["height"] < 30, where  # one compact line


def top(page, selector):
    return page.locator(selector).bounding_box()["y"]


def assert_quiet(page, base, allowed_failures=0, logged=()):
    """No script error, no failed request, nothing from another origin, and no
    console error but Chromium's own line for each expected 4xx answer (and
    the lines the test made the page log, `logged`)."""
    log = page.log
    assert not log["page_errors"], log
    assert all(is_closed_stream(f, base) for f in log["failed"]), log  # a stream the page closed itself
    foreign = [r for r in log["requests"] if not r.split(" ", 1)[1].startswith((f"{base}/", "data:"))]
    assert not foreign, foreign
    errors = [text for kind, text in log["console"] if kind == "error" and not text.startswith(tuple(logged))]
    assert len([e for e in errors if FAILED_TO_LOAD.match(e)]) == allowed_failures, log["console"]
    assert all(FAILED_TO_LOAD.match(e) for e in errors), log["console"]


# ---------------------------------------------------------------- 1. the demo page


def test_demo_page_full_flow(service):
    base = service.url
    member()

    with chromium_page(base) as page:
        # /demo/ logged out: login_required sends the browser to the login page, and back.
        page.goto(f"{base}/demo/")
        expect(page).to_have_url(f"{base}/accounts/login/?next=/demo/")
        with answered(page, "Streams/ListConversations"):  # the page lists its group once logged in
            log_in(page, base)
        expect(page).to_have_url(f"{base}/demo/")
        # requireLogin's callback ran: it fills in who is writing.
        expect(page.locator("#author")).to_have_value(USERNAME)
        expect(page.locator("#chat-users")).to_have_value(f"{USERNAME}, friend")
        expect(page.locator("#namespace")).to_have_value("micro")
        expect(page.locator("#namespace option")).to_have_count(1)
        assert visible_errors(page) == {}
        expect(page.locator("#conversation")).to_be_hidden()

        # The group: nothing in it yet.
        page.fill("#group-id", GROUP)
        with answered(page, "Streams/ListConversations"):
            page.click("#list-conversations")
        expect(page.locator("#conversations li")).to_have_count(0)

        # Conversation A: created, opened, listed.
        page.fill("#new-topic", "Topic A")
        with answered(page, "Streams/CreateConversation", "Streams/ListMessages", "Streams/ListConversations"):
            page.click("#create-conversation")
        expect(page.locator("#conversation")).to_be_visible()
        expect(page.locator("#conversation-topic")).to_have_text("Topic A")
        expect(page.locator("#new-topic")).to_have_value("")
        expect(page.locator("#conversations button")).to_have_text(["Topic A"])
        a_id = page.locator("#conversations button").get_attribute("data-id")
        expect(page.locator("#conversations button.open")).to_have_attribute("data-id", a_id)
        expect(page.locator("#messages li")).to_have_count(0)

        # Three messages, shown in order (the second one sent with Enter).
        for i, text in enumerate(TEXTS[:3], start=1):
            send(page, text, i, enter=i == 2)
        assert texts(page, "messages") == ["m1", "m2", "m3"]
        expect(page.locator("#messages li").first.locator(".author")).to_have_text(USERNAME)
        # Nine more: twelve in all, more than a page of 10.
        for i, text in enumerate(TEXTS[3:], start=4):
            send(page, text, i)
        assert texts(page, "messages") == TEXTS

        # Conversation B: opening it shows only its own message.
        page.fill("#new-topic", "Topic B")
        with answered(page, "Streams/CreateConversation", "Streams/ListMessages", "Streams/ListConversations"):
            page.click("#create-conversation")
        expect(page.locator("#conversation-topic")).to_have_text("Topic B")
        expect(page.locator("#messages li")).to_have_count(0)
        send(page, "only in B", 1)
        b_message_id = ids(page, "messages")[0]
        expect(page.locator("#conversations button")).to_have_text(["Topic B", "Topic A"])  # newest first
        b_id = page.locator("#conversations button", has_text="Topic B").get_attribute("data-id")

        # Back to A, from the list: the newest page of 10, oldest first.
        with answered(page, "Streams/ListMessages", "Streams/ListConversations"):
            page.click(f'#conversations button[data-id="{a_id}"]')
        expect(page.locator("#conversation-topic")).to_have_text("Topic A")
        expect(page.locator("#messages li .text")).to_have_text(TEXTS[2:])
        expect(page.locator("#conversations button.open")).to_have_attribute("data-id", a_id)
        expect(page.locator("#load-older")).to_be_enabled()
        newest_page_ids = ids(page, "messages")

        # Load older: the two left, before them, with sent_before = the oldest shown.
        with page.expect_request(lambda r: r.url.endswith("/protobuf/Streams/ListMessages")) as older:
            page.click("#load-older")
        expect(page.locator("#messages li .text")).to_have_text(TEXTS)
        asked = older.value.post_data_json
        assert asked["conversation_id"] == a_id and asked["limit"] == 10, asked
        assert asked["sent_before"], asked
        shown_ids = ids(page, "messages")
        assert len(set(shown_ids)) == 12, shown_ids
        assert shown_ids[2:] == newest_page_ids
        expect(page.locator("#load-older")).to_be_disabled()  # that page had fewer than 10

        # Rename A.
        page.fill("#rename-topic", "Topic A renamed")
        with answered(page, "Streams/UpdateConversation", "Streams/ListConversations"):
            page.click("#rename")
        expect(page.locator("#conversation-topic")).to_have_text("Topic A renamed")
        expect(page.locator(f'#conversations button[data-id="{a_id}"]')).to_have_text("Topic A renamed")
        expect(page.locator("#conversations button")).to_have_text(["Topic B", "Topic A renamed"])

        # A contract error is shown to the person, by the control that caused it:
        # an empty message, under the message form. Nothing above it moves.
        above = {selector: top(page, selector) for selector in ("h1", "#conversations", "#messages", "#send")}
        page.fill("#text", "")
        with answered(page, "Streams/CreateMessage"):
            page.click("#send")
        assert_error_by(page, "send", "send-error", "MISSING_TEXT: Missing text")
        assert visible_errors(page) == {"send-error": "MISSING_TEXT: Missing text"}
        assert {selector: top(page, selector) for selector in above} == above
        expect(page.locator("#messages li")).to_have_count(12)

        # A chat of one user: its error under the chat form (the message form's stays).
        page.fill("#chat-users", USERNAME)
        with answered(page, "Chats/CreateChat"):
            page.click("#open-chat")
        assert_error_by(page, "open-chat", "chat-error", "MISSING_USER_IDs: Two or more user IDs are required")
        assert set(visible_errors(page)) == {"send-error", "chat-error"}
        expect(page.locator("#chat")).to_be_hidden()

        # A chat between the user and a friend: the chat form's success clears its error.
        page.fill("#chat-users", f"{USERNAME}, friend")
        with answered(page, "Chats/CreateChat", "Chats/ListMessages"):
            page.click("#open-chat")
        expect(page.locator("#chat-error")).to_be_hidden()
        assert visible_errors(page) == {"send-error": "MISSING_TEXT: Missing text"}
        expect(page.locator("#chat")).to_be_visible()
        expect(page.locator("#chat-title")).to_have_text(f"Chat of {USERNAME}, friend")
        expect(page.locator("#chat-author")).to_have_value(USERNAME)
        expect(page.locator("#chat-messages li")).to_have_count(0)
        page.fill("#chat-text", "Hello friend")
        with answered(page, "Chats/CreateMessage"):
            page.click("#chat-send")
        expect(page.locator("#chat-messages li")).to_have_count(1)
        expect(page.locator("#chat-messages li .author")).to_have_text(USERNAME)
        expect(page.locator("#chat-messages li .text")).to_have_text("Hello friend")
        expect(page.locator("#chat-text")).to_have_value("")
        chat_message_id = ids(page, "chat-messages")[0]

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # Delete B: a dismissed confirm() keeps it, an accepted one deletes it.
        with answered(page, "Streams/ListMessages", "Streams/ListConversations"):
            page.click(f'#conversations button[data-id="{b_id}"]')
        expect(page.locator("#messages li .text")).to_have_text(["only in B"])
        # The message form's next success clears its error.
        send(page, "again in B", 2)
        expect(page.locator("#send-error")).to_be_hidden()
        assert visible_errors(page) == {}
        dialogs = []
        page.once("dialog", lambda d: (dialogs.append((d.type, d.message)), d.dismiss()))
        page.click("#delete-conversation")
        assert dialogs == [("confirm", "Delete “Topic B” and all its messages?")]
        expect(page.locator("#conversation")).to_be_visible()
        expect(page.locator("#conversations button")).to_have_count(2)
        page.once("dialog", lambda d: (dialogs.append((d.type, d.message)), d.accept()))
        with answered(page, "Streams/DeleteConversation", "Streams/ListConversations"):
            page.click("#delete-conversation")
        assert len(dialogs) == 2
        expect(page.locator("#conversation")).to_be_hidden()
        expect(page.locator("#conversations button")).to_have_text(["Topic A renamed"])
        assert visible_errors(page) == {}

        assert_quiet(page, base, allowed_failures=2)  # the empty message's and the one-user chat's 400

    # ---- the database, after the browser: what the page showed
    assert list(Conversation.objects.values_list("id", "namespace__name", "group_id", "topic")) == [
        (uuid.UUID(a_id), "micro", GROUP, "Topic A renamed")
    ]
    rows = list(Message.objects.filter(conversation_id=a_id).order_by("sent_at"))
    assert [str(m.id) for m in rows] == shown_ids
    assert [m.text for m in rows] == TEXTS
    assert {(m.author_id, m.namespace.name, m.hidden) for m in rows} == {(USERNAME, "micro", False)}
    assert Message.objects.count() == 12  # B's message went with B
    assert not Conversation.objects.filter(id=b_id).exists()
    assert not Message.objects.filter(id=b_message_id).exists()
    chat = Chat.objects.get()
    assert (chat.namespace.name, chat.user_ids) == ("micro", [USERNAME, "friend"])
    assert list(ChatMessage.objects.values_list("id", "chat_id", "author_id", "text")) == [
        (uuid.UUID(chat_message_id), chat.id, USERNAME, "Hello friend")
    ]
    assert SCREENSHOT.stat().st_size > 0


# ---------------------------------------------------------------- 2. Micro.requireLogin

REQUIRE_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><title>A page of the site</title></head><body>
<p id="who">waiting</p>
<script src="/assets/micro.js"></script>
<script>
  window.calls = [];
  Micro.requireLogin(function (session) {
    window.calls.push(session);
    document.getElementById("who").textContent = "logged in as " + session.username;
  });
</script>
</body></html>"""


def test_require_login_sends_to_the_login_page_and_back(service):
    base = service.url
    member()
    url = f"{base}/some/page?a=1&b=two%20words"

    with chromium_page(base) as page:
        page.route(
            re.compile("^" + re.escape(f"{base}/some/page") + r"(\?.*)?$"),
            lambda route: route.fulfill(status=200, content_type="text/html", body=REQUIRE_LOGIN_PAGE),
        )
        page.goto(url)
        expect(page).to_have_url(f"{base}/accounts/login/?next={quote(url, safe='')}")
        expect(page.locator("input[name=next]")).to_have_value(url)

        # The login form's answer sends the browser back to the page...
        with page.expect_response(lambda r: r.request.method == "POST" and r.url == f"{base}/accounts/login/") as sent:
            log_in(page, base)
        assert sent.value.status == 302
        assert sent.value.headers["location"] == url
        expect(page).to_have_url(url)
        # ...which page.route cannot serve at the end of a redirect (Playwright
        # does not intercept redirected requests), so the live server answered
        # it with its 404. Opened again, the page is served, and logged in now,
        # requireLogin calls cb at once, with the session.
        page.goto(url)
        expect(page.locator("#who")).to_have_text(f"logged in as {USERNAME}")
        expect(page).to_have_url(url)
        calls = page.evaluate("window.calls")
        assert len(calls) == 1
        assert calls[0]["authenticated"] is True
        assert calls[0]["username"] == USERNAME
        assert calls[0]["namespaces"] == ["micro"]

        assert_quiet(page, base, allowed_failures=1)  # the redirect's 404
        logins = [r for r in page.log["requests"] if "/accounts/login/" in r]
        assert logins == [
            f"GET {base}/accounts/login/?next={quote(url, safe='')}",
            f"POST {base}/accounts/login/",
        ], page.log["requests"]


# ---------------------------------------------------------------- 3. Micro.post's callbacks

POST_PAGE = """<!DOCTYPE html>
<html><head><title>Calls</title></head><body>
<script src="/assets/micro.js"></script>
<script>
  window.calls = [];
  // Resolves with the first callback; every callback is recorded in window.calls.
  window.call = function (path, namespace, body) {
    return new Promise(function (resolve) {
      Micro.post(path, namespace, body,
        function (data) { window.calls.push("success"); resolve({ success: data }); },
        function (error) { window.calls.push("error"); resolve({ error: error }); });
    });
  };
</script>
</body></html>"""

CALL = "([path, namespace, body]) => window.call(path, namespace, body)"
# An onSuccess but no onError.
UNHANDLED = "(body) => Micro.post('/protobuf/Streams/CreateMessage', 'micro', body, () => window.calls.push('x'))"


def test_micro_post_calls_back_with_the_answer_or_the_envelope(service):
    base = service.url
    member()
    url = f"{base}/calls"
    missing_text = {"conversation_id": str(uuid.uuid4()), "author_id": "a", "text": ""}

    with chromium_page(base) as page:
        page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=POST_PAGE))

        # Logged out: 401.
        page.goto(url)
        body = {"group_id": "g-calls", "topic": "t"}
        error = page.evaluate(CALL, ["/protobuf/Streams/CreateConversation", "micro", body])["error"]
        assert set(error) == {"id", "code", "detail", "status"}, error  # the contract fixes no detail here
        assert (error["id"], error["code"], error["status"]) == ("UNAUTHORIZED", 401, "Unauthorized"), error
        assert isinstance(error["detail"], str) and error["detail"], error

        page.goto(f"{base}/accounts/login/?next=/calls")
        log_in(page, base)
        expect(page).to_have_url(url)  # the live server's 404: page.route does not serve redirects
        page.goto(url)

        # A field error: 400.
        assert page.evaluate(CALL, ["/protobuf/Streams/CreateMessage", "micro", missing_text]) == {
            "error": {"id": "MISSING_TEXT", "code": 400, "detail": "Missing text", "status": "Bad Request"}
        }
        # A namespace the user is no member of: 403.
        assert page.evaluate(CALL, ["/protobuf/Streams/CreateConversation", "other", body]) == {
            "error": {
                "id": "FORBIDDEN",
                "code": 403,
                "detail": "You are not a member of namespace 'other'",
                "status": "Forbidden",
            }
        }
        # Success: onSuccess gets the answer; the request is JSON with the token and the namespace.
        with page.expect_request(lambda r: r.url == f"{base}/protobuf/Streams/CreateConversation") as sent:
            answer = page.evaluate(CALL, ["/protobuf/Streams/CreateConversation", "micro", body])
        created = answer["success"]["conversation"]
        assert (created["group_id"], created["topic"]) == ("g-calls", "t")
        request = sent.value
        headers = request.all_headers()
        assert request.method == "POST"
        assert headers["content-type"] == "application/json"
        assert headers["micro-namespace"] == "micro"
        assert headers["x-csrftoken"]
        assert request.post_data_json == body
        assert page.evaluate("window.calls") == ["error", "error", "success"]  # since the page was opened again

        # No onError: micro.js logs the envelope with console.error.
        with page.expect_console_message(lambda m: m.type == "error" and m.text.startswith("Micro.post")) as logged:
            page.evaluate(UNHANDLED, missing_text)
        line = logged.value
        assert line.text.startswith("Micro.post /protobuf/Streams/CreateMessage failed: MISSING_TEXT: Missing text")
        assert line.args[1].json_value() == {
            "id": "MISSING_TEXT",
            "code": 400,
            "detail": "Missing text",
            "status": "Bad Request",
        }
        assert page.evaluate("window.calls") == ["error", "error", "success"]  # its onSuccess did not run

        assert_quiet(page, base, allowed_failures=5, logged=[line.text])  # 401, the redirect's 404, 400, 403, 400

    conversation = Conversation.objects.get()
    assert (str(conversation.id), conversation.namespace.name) == (created["id"], "micro")
