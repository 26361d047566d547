"""The seed documents' eleven html snippets, run as-is in headless Chromium.

Each snippet (tests/seeds/*.txt, byte-identical copies of ../shared/seeds) is
served on the live server's origin, changed only in the script's host
(https://web.m3o.com/assets/micro.js -> the live server's /assets/micro.js),
and opened by a user who is logged in (a forced Django session) and a member
of namespace `micro`. The page is served with Playwright's page.route, so the
app gets no test-only route. The test waits for what the snippet logs:
"Success." from its onSuccess, or micro.js's
"Micro.post <path> failed: <id>: <detail>" (the snippets pass no onError).

1. With the seeds' own placeholder values ("string", {}), every request gets
   exactly the answer CONTRACT.md gives it (EXPECTED_WITH_PLACEHOLDERS).
2. With only the placeholder values replaced by real ones (ids of rows the
   test made), every snippet logs "Success." and does what it says.

Each run also checks the request micro.js made (one POST to the snippet's
path, with the snippet's body, Micro-Namespace: micro and a CSRF token) and
the answer (status, error envelope, the console line naming its id and
detail).

Django and Playwright in one thread: as in test_browser.py, the ORM is used
only before sync_playwright() starts and after it ends (inside, every ORM call
would raise SynchronousOnlyOperation); inside, the test only talks HTTP.
"""

import dataclasses
import datetime
import json
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import sync_playwright

from chats.models import Chat
from chats.models import Message as ChatMessage
from streams.models import Conversation, Message
from tests.support import factories, seeds
from tests.support.chromium import launch_chromium

SEED_SCRIPT = "https://web.m3o.com/assets/micro.js"
OUTCOME_TIMEOUT_S = 10
SUCCESS = "Success."
FAILED_LINE = re.compile(r"Micro\.post (?P<path>\S+) failed: (?P<id>[^:\s]+): ")

NAMES = [
    "Streams CreateConversation",
    "Streams CreateMessage",
    "Streams DeleteConversation",
    "Streams ListConversations",
    "Streams ListMessages",
    "Streams ReadConversation",
    "Streams RecentMessages",
    "Streams UpdateConversation",
    "Chats CreateChat",
    "Chats CreateMessage",
    "Chats ListMessages",
]

# CONTRACT.md: all field validation comes before any lookup, field by field in
# each method's order; "string" is no UUID, so no row has that id; {} is an
# absent wrapper value.
EXPECTED_WITH_PLACEHOLDERS = {
    # group_id and topic are valid: a conversation in group "string".
    "Streams CreateConversation": SUCCESS,
    # All three fields valid; no conversation "string".
    "Streams CreateMessage": "NOT_FOUND",
    # Deleting a missing id answers {}.
    "Streams DeleteConversation": SUCCESS,
    "Streams ListConversations": SUCCESS,
    # conversation_id valid, limit {} absent, sent_before "string" no RFC 3339.
    "Streams ListMessages": "INVALID_TIMESTAMP",
    # id valid, group_id {} absent; no conversation "string".
    "Streams ReadConversation": "NOT_FOUND",
    # conversation_ids [{}]: a non-string element.
    "Streams RecentMessages": "BAD_REQUEST",
    "Streams UpdateConversation": "NOT_FOUND",
    # One distinct user id.
    "Chats CreateChat": "MISSING_USER_IDs",
    # Fields valid; no chat "string" (404 comes before NOT_A_MEMBER).
    "Chats CreateMessage": "NOT_FOUND",
    "Chats ListMessages": "INVALID_TIMESTAMP",
}
# The HTTP status of each error, and its detail where the contract fixes it.
ERRORS = {
    "NOT_FOUND": 404,
    "INVALID_TIMESTAMP": 400,
    "BAD_REQUEST": 400,
    "MISSING_USER_IDs": 400,
}
DETAILS = {
    ("Streams CreateMessage", "NOT_FOUND"): "Conversation not found",
    ("Streams ReadConversation", "NOT_FOUND"): "Conversation not found",
    ("Streams UpdateConversation", "NOT_FOUND"): "Conversation not found",
    ("Chats CreateMessage", "NOT_FOUND"): "Chat not found",
    ("Chats CreateChat", "MISSING_USER_IDs"): "Two or more user IDs are required",
}

SHARED_SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


# ---------------------------------------------------------------- the seed files


def test_seed_copies_are_byte_identical_to_the_shared_seeds():
    if not SHARED_SEEDS.is_dir():
        pytest.skip(f"{SHARED_SEEDS} is absent (a checkout without ../shared): nothing to compare the copies with")
    originals = {}
    for original in sorted(SHARED_SEEDS.glob("*.txt")):
        servicename = re.search(r"^servicename: (\S+)$", original.read_text(encoding="utf-8"), re.MULTILINE)
        assert servicename, f"{original}: no servicename in its front matter"
        originals[f"{servicename.group(1)}.txt"] = original
    assert sorted(originals) == sorted(seeds.SEED_FILES)
    for name, original in originals.items():
        copy = seeds.SEEDS_DIR / name
        assert copy.read_bytes() == original.read_bytes(), f"{copy} differs from {original}: copy it again"


def test_the_seeds_hold_eleven_snippets():
    snippets = seeds.load()
    assert [s.name for s in snippets] == NAMES
    for s in snippets:
        assert s.path == f"/protobuf/{s.service}/{s.method}"
        assert s.namespace == "micro"
        assert s.html.count(SEED_SCRIPT) == 1, s.name
    assert sorted(EXPECTED_WITH_PLACEHOLDERS) == sorted(NAMES)


# ---------------------------------------------------------------- helpers


@dataclasses.dataclass
class Run:
    """What one snippet did in the browser (plain data, read inside the block)."""

    name: str
    outcome: str  # "Success." or the error id of micro.js's console line
    line: str  # the console line that gave the outcome
    console: list
    page_errors: list
    requests: list  # [{"method", "url", "headers", "body"}], the RPCs it made
    status: int  # the HTTP status of its RPC
    response: dict  # the JSON answer


def logged_in_member():
    """ORM, before the browser: a user in namespace micro, and a session id."""
    user = get_user_model().objects.create_user("seed-sam", password="seed-sam-password-42")
    factories.ns("micro").members.add(user)
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@contextmanager
def browser_session(base, session_id):
    """A Chromium context logged in with the session: the only block where
    Playwright runs (and the ORM must not)."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_id, "url": base}])
            yield context
        finally:
            browser.close()


def served(base, html):
    """The snippet as served: only the script's host changes."""
    assert html.count(SEED_SCRIPT) == 1
    page = html.replace(SEED_SCRIPT, f"{base}/assets/micro.js")
    assert page.count(f'<script src="{base}/assets/micro.js"></script>') == 1
    return page


def outcomes_in(console):
    """(outcome, line) for each console line that reports how the RPC ended."""
    found = []
    for kind, text in console:
        if kind == "log" and text == SUCCESS:
            found.append((SUCCESS, text))
        elif kind == "error" and (match := FAILED_LINE.match(text)):
            found.append((match["id"], text))
    return found


def run_snippet(context, base, number, name, html):
    """Open the snippet on the live server's origin; wait for its outcome."""
    page = context.new_page()
    console, page_errors, rpcs = [], [], []
    page.on("console", lambda message: console.append((message.type, message.text)))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("requestfailed", lambda request: page_errors.append(f"{request.method} {request.url}: {request.failure}"))
    page.on("response", lambda response: rpcs.append(response) if "/protobuf/" in response.url else None)
    url = f"{base}/seed/{number}"
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    try:
        page.goto(url)
        deadline = time.monotonic() + OUTCOME_TIMEOUT_S
        while not (outcomes_in(console) and rpcs):
            if time.monotonic() > deadline:
                lines = "\n".join(f"  {kind}: {text}" for kind, text in console) or "  (none)"
                errors = "\n".join(f"  {error}" for error in page_errors) or "  (none)"
                pytest.fail(
                    f"{name}: neither {SUCCESS!r} nor a 'Micro.post ... failed' error within {OUTCOME_TIMEOUT_S} s "
                    f"(page now at {page.url}; {len(rpcs)} RPC response(s)).\n"
                    f"Console:\n{lines}\nPage errors and failed requests:\n{errors}",
                    pytrace=False,
                )
            page.wait_for_timeout(25)
        page.wait_for_timeout(50)  # a second outcome or RPC would show up here
        found = outcomes_in(console)
        requests = [
            {
                "method": r.request.method,
                "url": r.request.url,
                "headers": r.request.all_headers(),
                "body": r.request.post_data,
            }
            for r in rpcs
        ]
        response = rpcs[0]
        try:
            answer = response.json()
        except ValueError:
            answer = {"not JSON": response.text()}
        return Run(
            name=name,
            outcome=found[0][0] if len(found) == 1 else f"{len(found)} outcomes: {found}",
            line=found[0][1],
            console=console,
            page_errors=page_errors,
            requests=requests,
            status=response.status,
            response=answer,
        )
    finally:
        page.close()


def console_lines(runs):
    """Each snippet's outcome line, for an assertion message."""
    return "\n".join(f"{name}: {run.line}" for name, run in runs.items())


def run_all(base, session_id, pages):
    """pages: [(snippet, html to serve)]. All in one browser."""
    with browser_session(base, session_id) as context:
        return {
            snippet.name: run_snippet(context, base, number, snippet.name, html)
            for number, (snippet, html) in enumerate(pages, start=1)
        }


def check_run(base, run, snippet, served_html, expected):
    """The request micro.js made, and the answer, agree with the outcome."""
    where = f"{run.name}: console {run.console}, page errors {run.page_errors}, answer {run.status} {run.response}"
    assert not run.page_errors, where
    assert len(run.requests) == 1, where
    request = run.requests[0]
    assert request["method"] == "POST", where
    assert request["url"] == base + snippet.path, where
    assert request["headers"].get("micro-namespace") == "micro", (where, request["headers"])
    assert request["headers"].get("x-csrftoken"), (where, request["headers"])
    sent = dataclasses.replace(snippet, html=served_html).body
    assert json.loads(request["body"]) == sent, (where, request["body"])
    if expected == SUCCESS:
        assert run.status == 200, where
        assert not {"id", "code", "status"} <= set(run.response), where
    else:
        assert run.status == ERRORS[expected], where
        assert run.response["id"] == expected and run.response["code"] == run.status, where
        detail = DETAILS.get((run.name, expected))
        if detail is not None:
            assert run.response["detail"] == detail, where
        # micro.js's line: "Micro.post <path> failed: <id>: <detail>", then the envelope.
        assert run.line.startswith(f"Micro.post {snippet.path} failed: {expected}: {run.response['detail']}"), where


# ---------------------------------------------------------------- 1. placeholders


def test_seed_snippets_with_placeholders_get_the_contract_answers(live_server):
    base = live_server.url
    snippets = seeds.load()
    session_id = logged_in_member()

    pages = [(s, served(base, s.html)) for s in snippets]
    runs = run_all(base, session_id, pages)

    assert {name: run.outcome for name, run in runs.items()} == EXPECTED_WITH_PLACEHOLDERS, console_lines(runs)
    for snippet, html in pages:
        check_run(base, runs[snippet.name], snippet, html, EXPECTED_WITH_PLACEHOLDERS[snippet.name])

    # The one write that succeeded: a conversation in group "string", topic "string".
    created = runs["Streams CreateConversation"].response["conversation"]
    assert (created["group_id"], created["topic"]) == ("string", "string")
    assert list(Conversation.objects.values_list("id", "namespace__name", "group_id", "topic")) == [
        (uuid.UUID(created["id"]), "micro", "string", "string")
    ]
    listed = runs["Streams ListConversations"].response["conversations"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert not Message.objects.exists()
    assert not Chat.objects.exists()
    assert not ChatMessage.objects.exists()


# ---------------------------------------------------------------- 2. real values

SENT_BEFORE = "2024-03-10T12:02:00Z"  # after the 1st and 2nd messages of factories.add, before the others


def real_values(conversation, doomed, chat):
    """Per snippet, the exact replacements of its placeholder values."""
    a, b, c = (json.dumps(str(row.id)) for row in (conversation, doomed, chat))
    return {
        "Streams CreateConversation": [
            ('"group_id": "string"', '"group_id": "g-seeds"'),
            ('"topic": "string"', '"topic": "Made by a seed"'),
        ],
        "Streams CreateMessage": [
            ('"author_id": "string"', '"author_id": "alice"'),
            ('"conversation_id": "string"', f'"conversation_id": {a}'),
            ('"text": "string"', '"text": "Hello from a seed"'),
        ],
        "Streams DeleteConversation": [('"id": "string"', f'"id": {b}')],
        "Streams ListConversations": [('"group_id": "string"', '"group_id": "g-seeds"')],
        "Streams ListMessages": [
            ('"conversation_id": "string"', f'"conversation_id": {a}'),
            ('"sent_before": "string"', f'"sent_before": "{SENT_BEFORE}"'),
        ],
        "Streams ReadConversation": [('"id": "string"', f'"id": {a}')],
        "Streams RecentMessages": [
            (
                '"conversation_ids": [\n                    {}\n          ]',
                f'"conversation_ids": [\n{" " * 20}{a}\n{" " * 10}]',
            ),
        ],
        "Streams UpdateConversation": [
            ('"id": "string"', f'"id": {a}'),
            ('"topic": "string"', '"topic": "Renamed by a seed"'),
        ],
        "Chats CreateChat": [
            (
                '"user_ids": [\n                    "string"\n          ]',
                f'"user_ids": [\n{" " * 20}"bob", "alice"\n{" " * 10}]',
            ),
        ],
        "Chats CreateMessage": [
            ('"author_id": "string"', '"author_id": "alice"'),
            ('"chat_id": "string"', f'"chat_id": {c}'),
            ('"text": "string"', '"text": "Hi from a seed"'),
        ],
        "Chats ListMessages": [
            ('"chat_id": "string"', f'"chat_id": {c}'),
            ('"sent_before": "string"', f'"sent_before": "{SENT_BEFORE}"'),
        ],
    }


def with_real_values(snippet, replacements):
    html = snippet.html
    for old, new in replacements:
        assert snippet.body_text.count(old) == 1 and html.count(old) == 1, (snippet.name, old)
        html = html.replace(old, new)
    changed = dataclasses.replace(snippet, html=html)
    # Only the body changed, and no placeholder is left in it.
    assert html.replace(changed.body_text, "") == snippet.html.replace(snippet.body_text, ""), snippet.name
    assert '"string"' not in changed.body_text and "[{}]" not in json.dumps(changed.body, separators=(",", ":"))
    return html


def test_seed_snippets_with_real_values_succeed(live_server):
    base = live_server.url
    snippets = seeds.load()
    session_id = logged_in_member()
    micro = factories.ns("micro")
    conversation = factories.conversation(micro, topic="Old topic", group_id="g-real")
    messages = factories.add(conversation, 4)  # sent 12:00, 12:01, 12:02, 12:03
    doomed = factories.conversation(micro, topic="To delete", group_id="g-real")
    factories.add(doomed, 2)
    chat = factories.chat(micro, ["alice", "bob"])
    chat_messages = factories.add(chat, 3, author="bob")
    replacements = real_values(conversation, doomed, chat)
    assert sorted(replacements) == sorted(NAMES)

    pages = [(s, served(base, with_real_values(s, replacements[s.name]))) for s in snippets]
    runs = run_all(base, session_id, pages)

    assert {name: run.outcome for name, run in runs.items()} == dict.fromkeys(NAMES, SUCCESS), console_lines(runs)
    for snippet, html in pages:
        check_run(base, runs[snippet.name], snippet, html, SUCCESS)
    answer = {name: run.response for name, run in runs.items()}

    # Streams
    made = Conversation.objects.get(group_id="g-seeds")
    assert (made.namespace, made.topic) == (micro, "Made by a seed")
    assert answer["Streams CreateConversation"]["conversation"]["id"] == str(made.id)
    assert [c["id"] for c in answer["Streams ListConversations"]["conversations"]] == [str(made.id)]
    new_message = Message.objects.get(text="Hello from a seed")
    assert (new_message.conversation_id, new_message.author_id) == (conversation.id, "alice")
    assert answer["Streams CreateMessage"]["message"]["id"] == str(new_message.id)
    assert not Conversation.objects.filter(id=doomed.id).exists()
    assert not Message.objects.filter(conversation_id=doomed.id).exists()
    assert answer["Streams DeleteConversation"] == {}
    assert [m["id"] for m in answer["Streams ListMessages"]["messages"]] == [str(messages[1].id), str(messages[0].id)]
    assert answer["Streams ReadConversation"]["conversation"]["id"] == str(conversation.id)
    recent = answer["Streams RecentMessages"]["messages"]
    assert [m["id"] for m in recent] == [str(new_message.id)] + [str(m.id) for m in reversed(messages)]
    conversation.refresh_from_db()
    assert conversation.topic == "Renamed by a seed"
    assert answer["Streams UpdateConversation"]["conversation"]["topic"] == "Renamed by a seed"

    # Chats: the same two users get the same chat back.
    assert answer["Chats CreateChat"]["chat"]["id"] == str(chat.id)
    assert answer["Chats CreateChat"]["chat"]["user_ids"] == ["alice", "bob"]
    assert list(Chat.objects.values_list("id", flat=True)) == [chat.id]
    chat_message = ChatMessage.objects.get(text="Hi from a seed")
    assert (chat_message.chat_id, chat_message.author_id) == (chat.id, "alice")
    assert answer["Chats CreateMessage"]["message"]["id"] == str(chat_message.id)
    listed = answer["Chats ListMessages"]["messages"]
    assert [m["id"] for m in listed] == [str(chat_messages[1].id), str(chat_messages[0].id)]
    assert datetime.datetime.fromisoformat(listed[0]["sent_at"]) < datetime.datetime.fromisoformat(SENT_BEFORE)
