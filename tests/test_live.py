"""CONTRACT 9, GET /events, row by row, in-process (Django's AsyncClient on
the test's event loop). tests/test_live_servers.py runs it across server
processes; tests/test_live_cursor.py holds the resume point's encoding."""

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from chats import services as chat_services
from convoproject.live import hub
from convoproject.live.cursor import Cursor
from convoproject.moderation import services as moderation
from convoproject.tenants.keys import create_api_key, find_active_key, revoke
from streams import services
from streams.models import Conversation, Message
from tests.support import factories
from tests.support.counts import create_message_statements
from tests.support.live import live_session, run

pytestmark = pytest.mark.django_db(transaction=True)


def new_conversation(name="micro", topic="topic"):
    return services.create_conversation(factories.ns(name), group_id="g", topic=topic)


def post(conversation, text, author="alice"):
    return services.create_message(conversation.namespace, conversation_id=conversation.id, author_id=author, text=text)


def wire_message(message):
    return {
        "id": str(message.id),
        "author_id": message.author_id,
        "conversation_id": str(message.conversation_id),
        "text": message.text,
        "sent_at": message.sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


# ---------------------------------------------------------------- before the stream


def test_errors_before_the_stream_in_the_contracts_order(micro_key, other_key):
    conversation = new_conversation()
    theirs = new_conversation("other")

    async def body():
        async with live_session() as live:
            ids = [conversation.id]

            async def error(**kwargs):
                stream = await live.open(**kwargs)
                assert stream.response["Content-Type"] == "application/json"
                body = stream.json()
                assert body["code"] == stream.status
                return stream.status, body["id"]

            posted = await live.open(micro_key, conversation_ids=ids, method="post")
            assert (posted.status, posted.json()["id"]) == (405, "METHOD_NOT_ALLOWED")
            assert posted.response["Allow"] == "GET"
            # Without credentials, the method still comes first.
            assert (await live.open(conversation_ids=ids, method="put")).status == 405
            assert await error(conversation_ids=ids) == (401, "UNAUTHORIZED")
            assert await error(key="not-a-key", conversation_ids=ids) == (401, "UNAUTHORIZED")
            assert await error(key=micro_key, conversation_ids=ids, headers={"Micro-Namespace": "other"}) == (
                403,
                "FORBIDDEN",
            )
            assert await error(key=micro_key) == (400, "MISSING_IDS")
            assert await error(key=micro_key, conversation_ids=["", "  "], chat_ids=[""]) == (400, "MISSING_IDS")
            many = [uuid.uuid4() for _ in range(101)]
            assert await error(key=micro_key, conversation_ids=many) == (400, "TOO_MANY_IDS")
            # Duplicates count once: 100 distinct ids are past TOO_MANY_IDS (and not found).
            assert await error(key=micro_key, conversation_ids=many[:100] + many[:50]) == (404, "NOT_FOUND")
            assert await error(key=micro_key, conversation_ids=ids, last_event_id="nonsense") == (
                400,
                "INVALID_EVENT_ID",
            )
            # The parameters come before the lookups, the resume point before the lookups too.
            assert await error(key=micro_key, conversation_ids=[uuid.uuid4()], last_event_id="x") == (
                400,
                "INVALID_EVENT_ID",
            )
            assert await error(key=micro_key, conversation_ids=[uuid.uuid4()]) == (404, "NOT_FOUND")
            assert await error(key=micro_key, conversation_ids=["not-a-uuid"]) == (404, "NOT_FOUND")
            assert await error(key=micro_key, conversation_ids=[theirs.id]) == (404, "NOT_FOUND")
            assert await error(key=micro_key, conversation_ids=[*ids, theirs.id]) == (404, "NOT_FOUND")
            # A conversation's id is not a chat's.
            assert await error(key=micro_key, chat_ids=ids) == (404, "NOT_FOUND")
            # The contract's details, exactly.
            details = [
                (await live.open(micro_key, **{kind: [uuid.uuid4()]})).json()["detail"]
                for kind in ("conversation_ids", "chat_ids")
            ]
            assert details == ["Conversation not found", "Chat not found"]

    run(body)


def test_a_resume_point_is_checked(micro_key, other_key):
    conversation = new_conversation()
    theirs = new_conversation("other")

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.db(post, conversation, "one")
            event = await stream.next()
            # A changed character in the middle: the last one may carry only padding bits, and decode the same.
            tampered = event.id[:10] + ("A" if event.id[10] != "A" else "B") + event.id[11:]
            for bad in (event.id[:-2], tampered, "A" * 40, "é"):
                refused = await live.open(micro_key, conversation_ids=[conversation.id], last_event_id=bad)
                assert (refused.status, refused.json()["id"]) == (400, "INVALID_EVENT_ID"), bad
            # An id is for its own namespace only.
            other = await live.open(other_key, conversation_ids=[theirs.id], last_event_id=event.id)
            assert (other.status, other.json()["id"]) == (400, "INVALID_EVENT_ID")

    run(body)


def test_too_many_open_streams_is_429_and_a_closed_stream_stops_counting(micro_key, settings):
    settings.LIVE_MAX_STREAMS_PER_CALLER = 2
    conversation = new_conversation()
    other_caller = create_api_key("micro")[1]

    async def body():
        async with live_session() as live:
            first = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.open(micro_key, conversation_ids=[conversation.id])
            third = await live.open(micro_key, conversation_ids=[conversation.id])
            assert (third.status, third.json()["id"]) == (429, "TOO_MANY_REQUESTS")
            assert int(third.response["Retry-After"]) > 0
            # Another caller has streams of its own.
            assert (await live.open(other_caller, conversation_ids=[conversation.id])).status == 200
            await first.close()
            assert (await live.open(micro_key, conversation_ids=[conversation.id])).status == 200

    run(body)


def test_a_browser_session_names_its_namespace_in_the_query(django_user_model):
    conversation = new_conversation()
    member = django_user_model.objects.create_user("member", password="pw")
    conversation.namespace.members.add(member)
    django_user_model.objects.create_user("stranger", password="pw")

    stranger, client = Client(), Client()
    stranger.force_login(django_user_model.objects.get(username="stranger"))
    client.force_login(member)

    async def body():
        async with live_session(stranger.cookies) as live:
            refused = await live.open(conversation_ids=[conversation.id], namespace="micro")
            assert (refused.status, refused.json()["id"]) == (403, "FORBIDDEN")
        async with live_session(client.cookies) as live:
            nameless = await live.open(conversation_ids=[conversation.id])
            assert (nameless.status, nameless.json()["id"]) == (403, "FORBIDDEN")
            # No CSRF token: a GET changes nothing.
            stream = await live.open(conversation_ids=[conversation.id], namespace="micro")
            assert stream.status == 200
            message = await live.db(post, conversation, "hello")
            assert (await stream.next()).data == {"message": wire_message(message)}

    run(body)


# ---------------------------------------------------------------- events


def test_the_stream_starts_with_retry_and_a_comment_and_keeps_alive(micro_key, settings):
    settings.LIVE_KEEPALIVE_SECONDS = 1
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            assert stream.status == 200
            assert stream.response["Content-Type"].startswith("text/event-stream")
            assert stream.response["Cache-Control"] == "no-cache"
            assert await stream.quiet(2.5) == []
            assert stream.retry and stream.retry > 0
            assert stream.comments[0] == "stream open"
            assert stream.comments.count("keepalive") >= 2

    run(body)


def test_every_kind_of_change_arrives_in_commit_order(micro_key):
    conversation = new_conversation()
    admin = None

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            first = await live.db(post, conversation, "first")
            second = await live.db(post, conversation, "second\nline\u2028and more")
            await live.db(
                services.update_conversation, conversation.namespace, conversation_id=conversation.id, topic="renamed"
            )
            hide = Message.objects.filter(pk=first.pk)
            await live.db(moderation.hide_messages, hide, actor=admin, reason="spam")
            await live.db(moderation.unhide_messages, hide, actor=admin, reason="not spam")
            await live.db(moderation.delete_messages, Message.objects.filter(pk=second.pk), actor=admin, reason="x")
            await live.db(services.delete_conversation, conversation.namespace, conversation_id=conversation.id)
            events = await stream.take(7)
            assert [(e.type, e.data) for e in events] == [
                ("message", {"message": wire_message(first)}),
                ("message", {"message": wire_message(second)}),
                (
                    "conversation_updated",
                    {
                        "conversation": {
                            "id": str(conversation.id),
                            "group_id": "g",
                            "topic": "renamed",
                            "created_at": conversation.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        }
                    },
                ),
                ("message_removed", {"id": str(first.id), "conversation_id": str(conversation.id)}),
                ("message", {"message": wire_message(first)}),
                ("message_removed", {"id": str(second.id), "conversation_id": str(conversation.id)}),
                ("conversation_deleted", {"id": str(conversation.id)}),
            ]
            assert len({e.id for e in events}) == 7
            assert await stream.quiet(0.5) == []

    run(body)


def test_chats_messages_and_a_moderator_deleting_the_chat(micro_key):
    namespace = factories.ns()

    async def body():
        async with live_session() as live:
            chat = await live.db(chat_services.create_chat, namespace, user_ids=["alice", "bob"])
            other_chat = await live.db(chat_services.create_chat, namespace, user_ids=["alice", "carol"])
            stream = await live.open(micro_key, chat_ids=[chat.id, other_chat.id])
            message = await live.db(
                chat_services.create_message, namespace, chat_id=chat.id, author_id="bob", text="hi"
            )
            from chats.models import Chat

            row = await live.db(Chat.objects.get, pk=chat.id)
            await live.db(moderation.delete_with_messages, row, actor=None, reason="abuse")
            later = await live.db(
                chat_services.create_message, namespace, chat_id=other_chat.id, author_id="carol", text="still here"
            )
            events = await stream.take(3)
            assert [(e.type, e.data) for e in events] == [
                (
                    "message",
                    {
                        "message": {
                            "id": str(message.id),
                            "author_id": "bob",
                            "chat_id": str(chat.id),
                            "text": "hi",
                            "sent_at": message.sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        }
                    },
                ),
                ("chat_deleted", {"id": str(chat.id)}),
                ("message", {"message": {**events[2].data["message"], "id": str(later.id)}}),
            ]

    run(body)


def test_an_author_clean_up_removes_each_message(micro_key):
    conversation = new_conversation()
    other = new_conversation(topic="other")

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id, other.id])
            spam = [await live.db(post, c, "buy", author="spammer") for c in (conversation, other, conversation)]
            kept = await live.db(post, conversation, "hello", author="alice")
            await stream.take(4)
            await live.db(
                moderation.clean_up_author,
                Message,
                namespace=conversation.namespace,
                author_id="spammer",
                actor=None,
                reason="spam",
            )
            removed = await stream.take(3)
            assert {e.data["id"] for e in removed} == {str(m.id) for m in spam}
            assert {e.type for e in removed} == {"message_removed"}
            assert str(kept.id) not in {e.data["id"] for e in removed}
            assert await stream.quiet(0.3) == []

    run(body)


def test_namespaces_are_isolated(micro_key, other_key):
    mine = new_conversation()
    theirs = new_conversation("other")

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[mine.id])
            theirs_stream = await live.open(other_key, conversation_ids=[theirs.id])
            await live.db(post, theirs, "not for micro")
            message = await live.db(post, mine, "for micro")
            assert (await stream.next()).data["message"]["id"] == str(message.id)
            assert (await theirs_stream.next()).data["message"]["text"] == "not for micro"
            assert await stream.quiet(0.3) == []

    run(body)


# ---------------------------------------------------------------- resume


def test_resume_gets_exactly_what_was_missed(micro_key):
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.db(post, conversation, "seen")
            seen = await stream.next()
            await stream.close()
            missed = [await live.db(post, conversation, f"missed {i}") for i in range(3)]
            resumed = await live.open(micro_key, conversation_ids=[conversation.id], last_event_id=seen.id)
            got = await resumed.take(3)
            assert [e.data["message"]["id"] for e in got] == [str(m.id) for m in missed]
            live_one = await live.db(post, conversation, "live")
            assert (await resumed.next()).data["message"]["id"] == str(live_one.id)
            assert await resumed.quiet(0.3) == []
            # The query parameter works too, and the header wins over it.
            again = await live.open(micro_key, conversation_ids=[conversation.id], query_last_event_id=got[1].id)
            assert [e.data["message"]["text"] for e in await again.take(2)] == ["missed 2", "live"]
            both = await live.open(
                micro_key, conversation_ids=[conversation.id], last_event_id=got[1].id, query_last_event_id=seen.id
            )
            assert [e.data["message"]["text"] for e in await both.take(2)] == ["missed 2", "live"]
            assert await both.quiet(0.3) == []

    run(body)


def test_resume_with_other_ids_starts_the_new_ones_now(micro_key):
    old = new_conversation()
    new = new_conversation(topic="new")

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[old.id])
            await live.db(post, old, "seen")
            seen = await stream.next()
            await stream.close()
            await live.db(post, new, "before the stream: not sent")
            missed = await live.db(post, old, "missed")
            resumed = await live.open(micro_key, conversation_ids=[old.id, new.id], last_event_id=seen.id)
            assert (await resumed.next()).data["message"]["id"] == str(missed.id)
            fresh = await live.db(post, new, "after")
            assert (await resumed.next()).data["message"]["id"] == str(fresh.id)
            assert await resumed.quiet(0.3) == []

    run(body)


def test_a_conversation_deleted_while_away_is_delivered_not_404(micro_key):
    gone = new_conversation(topic="gone")
    stays = new_conversation(topic="stays")

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[gone.id, stays.id])
            await live.db(post, stays, "seen")
            seen = await stream.next()
            await stream.close()
            await live.db(post, gone, "last words")
            await live.db(services.delete_conversation, gone.namespace, conversation_id=gone.id)
            ids = [gone.id, stays.id]
            resumed = await live.open(micro_key, conversation_ids=ids, last_event_id=seen.id)
            assert resumed.status == 200
            events = await resumed.take(2)
            assert [e.type for e in events] == ["message", "conversation_deleted"]
            after = await live.db(post, stays, "goes on")
            assert (await resumed.next()).data["message"]["id"] == str(after.id)
            # Resuming again after the deletion was sent (EventSource keeps its URL): still no 404.
            again = await live.open(micro_key, conversation_ids=ids, last_event_id=events[1].id)
            assert again.status == 200
            assert [e.data["message"]["id"] for e in await again.take(1)] == [str(after.id)]
            # Without a resume point covering it, a deleted conversation is 404.
            fresh = await live.open(micro_key, conversation_ids=ids)
            assert fresh.status == 404

    run(body)


def test_a_resume_point_past_retention_gets_reset(micro_key, settings):
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.db(post, conversation, "long ago")
            with mock.patch("convoproject.live.cursor.time.time", return_value=time.time() - 25 * 3600):
                old = Cursor.decode((await stream.next()).id)
                stale = old.encode()
            missed = await live.db(post, conversation, "missed, but too long ago to say")
            # Once the open stream has it, the hub has read it: the reset's
            # "now" is after it, and anything replayed would be the log's.
            assert (await stream.next()).data["message"]["id"] == str(missed.id)
            resumed = await live.open(micro_key, conversation_ids=[conversation.id], last_event_id=stale)
            reset = await resumed.next()
            assert (reset.type, reset.data) == ("reset", {})
            assert await resumed.quiet(0.3) == []
            now = await live.db(post, conversation, "now")
            event = await resumed.next()
            assert event.data["message"]["id"] == str(now.id)
            # The reset's id is a fresh resume point.
            assert Cursor.decode(reset.id).issued_at > time.time() - 60

    run(body)


def test_a_hidden_message_is_never_delivered_without_its_removal(micro_key):
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.db(post, conversation, "before")
            seen = await stream.next()
            await stream.close()
            bad = await live.db(post, conversation, "bad")
            await live.db(moderation.hide_messages, Message.objects.filter(pk=bad.pk), actor=None, reason="spam")
            resumed = await live.open(micro_key, conversation_ids=[conversation.id], last_event_id=seen.id)
            assert [e.type for e in await resumed.take(2)] == ["message", "message_removed"]

    run(body)


# ---------------------------------------------------------------- the stream's end


def test_a_stream_ends_after_its_lifetime_and_resumes(micro_key, settings):
    settings.LIVE_MAX_STREAM_SECONDS = 1
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            await live.db(post, conversation, "one")
            event = await stream.next()
            assert await stream.ended(timeout=3)
            missed = await live.db(post, conversation, "two")
            resumed = await live.open(micro_key, conversation_ids=[conversation.id], last_event_id=event.id)
            assert (await resumed.next()).data["message"]["id"] == str(missed.id)

    run(body)


def test_stop_streams_ends_every_stream(micro_key):
    conversation = new_conversation()

    async def body():
        async with live_session() as live:
            streams = [await live.open(micro_key, conversation_ids=[conversation.id]) for _ in range(3)]
            hub.stop_streams()
            for stream in streams:
                assert await stream.ended(timeout=2)
            refused = await live.open(micro_key, conversation_ids=[conversation.id])
            assert refused.status == 503

    run(body)


# ---------------------------------------------------------------- queries


@pytest.mark.django_db(transaction=False)
def test_a_change_writes_one_event_in_its_transaction(api, assert_queries):
    conversation = api.conversation()
    from convoproject.live.models import Event

    with assert_queries(create_message_statements()):  # the message's INSERT and its event's among them
        message = api.message(conversation["id"], text="x")
    events = list(Event.objects.filter(stream_id=conversation["id"]).values_list("type", "data"))
    assert len(events) == 1 and events[0][0] == "message"
    assert json.loads(events[0][1]) == {"message": message}
    with assert_queries(3):  # lock, UPDATE, INSERT event
        api.ok("Streams/UpdateConversation", {"id": conversation["id"], "topic": "u"})
    with assert_queries(6):  # lock, INSERT event, DELETE reports, queue items, messages, conversation
        api.ok("Streams/DeleteConversation", {"id": conversation["id"]})
    types = list(Event.objects.filter(stream_id=conversation["id"]).order_by("id").values_list("type", flat=True))
    assert types == ["message", "conversation_updated", "conversation_deleted"]
    assert not Conversation.objects.filter(pk=conversation["id"]).exists()


# ---------------------------------------------------------------- under load


def test_resume_is_exact_with_writers_running(micro_key):
    """Writers on several threads post into three conversations while the
    client drops its stream every few events and resumes from the last id it
    got: in the end it has every message of each conversation exactly once,
    in sent_at (= commit) order."""
    conversations = [new_conversation(topic=f"busy {i}") for i in range(3)]
    per_writer, writers = 40, 4

    def write(index):
        try:
            for i in range(per_writer):
                post(conversations[(index + i) % 3], f"w{index} {i}")
        finally:
            connection.close()

    async def body():
        async with live_session() as live:
            ids = [c.id for c in conversations]
            stream = await live.open(micro_key, conversation_ids=ids)
            threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
            for thread in threads:
                thread.start()
            got, last = [], None
            deadline = time.monotonic() + 120
            while len(got) < per_writer * writers:
                assert time.monotonic() < deadline, f"{len(got)} of {per_writer * writers} arrived"
                for _ in range(7):
                    try:
                        event = await stream.next(timeout=5)
                    except (TimeoutError, EOFError):
                        break
                    got.append(event.data["message"])
                    last = event.id
                    if len(got) == per_writer * writers:
                        break
                await stream.close()
                stream = await live.open(micro_key, conversation_ids=ids, last_event_id=last)
                assert stream.status == 200
            for thread in threads:
                await asyncio.to_thread(thread.join)
            assert await stream.quiet(0.5) == []
            for conversation in conversations:
                committed = await live.db(
                    lambda c=conversation: [
                        str(pk)
                        for pk in Message.objects.filter(conversation=c)
                        .order_by("sent_at")
                        .values_list("pk", flat=True)
                    ]
                )
                received = [m["id"] for m in got if m["conversation_id"] == str(conversation.id)]
                assert received == committed

    run(body)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY: PostgreSQL only")
def test_a_lost_listener_connection_is_replaced_and_nothing_is_lost(micro_key, settings):
    """The database ends the listener's connection (as a restart or a
    failover would): the hub reconnects, reads every topic again from the
    log, and the stream misses nothing committed meanwhile."""
    settings.LIVE_LISTENER_CHECK_SECONDS = 1
    conversation = new_conversation()

    def kill_listeners():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'convo-live-listener' AND datname = current_database()"
            )
            return cursor.rowcount

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            the_hub = hub.get()
            await asyncio.wait_for(the_hub.listener_connected.wait(), 5)
            assert await live.db(kill_listeners) == 1
            during = [await live.db(post, conversation, f"while away {i}") for i in range(3)]
            got = await stream.take(3, timeout=15)
            assert [e.data["message"]["id"] for e in got] == [str(m.id) for m in during]
            await asyncio.wait_for(the_hub.listener_connected.wait(), 15)
            after = await live.db(post, conversation, "after")
            assert (await stream.next()).data["message"]["id"] == str(after.id)

    run(body)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY: PostgreSQL only")
def test_a_frozen_listener_connection_is_noticed_and_replaced(micro_key, settings):
    """The listener's database backend stops answering (SIGSTOP: as a frozen
    host or dropped packets look from here, the socket open and silent).
    Within a few seconds the hub gives it up, connects again and reads every
    topic from the log: the stream gets what was committed meanwhile."""
    settings.LIVE_LISTENER_CHECK_SECONDS = 1
    conversation = new_conversation()

    def listener_pid():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name = 'convo-live-listener' AND datname = current_database()"
            )
            return [row[0] for row in cursor.fetchall()]

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            the_hub = hub.get()
            await asyncio.wait_for(the_hub.listener_connected.wait(), 5)
            [frozen] = await live.db(listener_pid)
            os.kill(frozen, signal.SIGSTOP)
            try:
                during = await live.db(post, conversation, "while the listener is frozen")
                got = await stream.next(timeout=15)
                assert got.data["message"]["id"] == str(during.id)
                # A new listener beside the frozen one (whose backend, stopped, cannot see us go).
                assert set(await live.db(listener_pid)) - {frozen}
            finally:
                os.kill(frozen, signal.SIGCONT)
                os.kill(frozen, signal.SIGTERM)  # a backend ended by its server: the hub does not reuse it
            await asyncio.wait_for(the_hub.listener_connected.wait(), 15)
            after = await live.db(post, conversation, "after")
            assert (await stream.next(timeout=10)).data["message"]["id"] == str(after.id)

    run(body)


def test_the_streams_of_a_revoked_key_end_within_seconds(micro_key, settings):
    """CONTRACT 6: a revoked key is refused within 5 seconds; an open stream
    is no exception: it ends, and the client's next attempt is a 401."""
    settings.API_KEY_CACHE_SECONDS = 1
    conversation = new_conversation()
    other_key = create_api_key("micro")[1]

    async def body():
        async with live_session() as live:
            doomed = await live.open(micro_key, conversation_ids=[conversation.id])
            kept = await live.open(other_key, conversation_ids=[conversation.id])
            await live.db(lambda: revoke(find_active_key(micro_key)))
            started = time.monotonic()
            assert await doomed.ended(timeout=5)
            assert time.monotonic() - started < 5
            again = await live.open(micro_key, conversation_ids=[conversation.id])
            assert (again.status, again.json()["id"]) == (401, "UNAUTHORIZED")
            message = await live.db(post, conversation, "still here")
            assert (await kept.next()).data["message"]["id"] == str(message.id)

    run(body)
