"""The moderation functions (convoproject.moderation.services), as a person
calls them from `manage.py shell`: what each changes, the one ModerationEvent
each writes, a blank reason refused, hidden messages gone from every API read
at once, and the spam clean-up's constant number of queries."""

import datetime
import math
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.live import publish
from convoproject.live.models import Event
from convoproject.moderation import services
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.keys import create_api_key, digest_of
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation, Message
from tests.support.factories import BASE, MINUTE, add, chat, conversation, ns
from tests.support.plans import explain_sql, price_out_scans
from tests.support.rpc import Rpc

UTC = datetime.UTC


# ---------------------------------------------------------------- helpers


@pytest.fixture
def moderator(db):
    return get_user_model().objects.create_user("mod", is_staff=True)


@pytest.fixture
def boss(db):
    return get_user_model().objects.create_user("boss", is_staff=True)


def ids(messages):
    return sorted(str(m.pk) for m in messages)


def hidden_ids(model=Message):
    return sorted(str(pk) for pk in model.objects.filter(hidden=True).values_list("pk", flat=True))


def texts(body):
    return [m["text"] for m in body["messages"]]


def only_event():
    events = list(ModerationEvent.objects.all())
    assert len(events) == 1, events
    return events[0]


# ---------------------------------------------------------------- hide / unhide / delete


def test_hide_messages_sets_who_when_why_and_records_one_event(moderator):
    micro = ns()
    conv = conversation(micro)
    rows = add(conv, 5)
    before = datetime.datetime.now(UTC)
    event = services.hide_messages(
        Message.objects.filter(pk__in=[rows[1].pk, rows[3].pk]), actor=moderator, reason="  spam  "
    )
    after = datetime.datetime.now(UTC)

    assert hidden_ids() == ids([rows[1], rows[3]])
    for message in Message.objects.filter(hidden=True):
        assert message.hidden_by == moderator
        assert before <= message.hidden_at <= after
        assert message.hidden_reason == "spam"  # stripped
    for message in Message.objects.filter(hidden=False):
        assert (message.hidden_at, message.hidden_by, message.hidden_reason) == (None, None, "")

    assert only_event() == event
    event.refresh_from_db()
    assert event.actor == moderator
    assert event.actor_name == "mod"
    assert event.action == ModerationEvent.Action.HIDE == "hide"
    assert event.namespace == micro
    assert event.target_type == "streams.message"
    assert event.target == "2 messages"
    assert event.count == 2
    assert event.reason == "spam"
    assert sorted(event.details["ids"]) == ids([rows[1], rows[3]])
    assert event.details["ids_complete"] is True
    assert before <= event.created_at <= after


def test_hiding_one_message_names_it_in_the_event(moderator):
    rows = add(conversation(ns()), 2)
    event = services.hide_messages(Message.objects.filter(pk=rows[0].pk), actor=moderator, reason="rude")
    assert event.count == 1
    assert event.target == f"message {rows[0].pk}"
    assert event.details["ids"] == [str(rows[0].pk)]


def test_hide_leaves_already_hidden_messages_as_they_were(moderator, boss):
    conv = conversation(ns())
    rows = add(conv, 4)
    services.hide_messages(Message.objects.filter(pk=rows[0].pk), actor=boss, reason="first")
    first = Message.objects.get(pk=rows[0].pk)

    event = services.hide_messages(Message.objects.filter(conversation=conv), actor=moderator, reason="second")

    assert event.count == 3
    assert sorted(event.details["ids"]) == ids(rows[1:])
    again = Message.objects.get(pk=rows[0].pk)
    assert (again.hidden_by, again.hidden_at, again.hidden_reason) == (boss, first.hidden_at, "first")
    assert Message.objects.filter(hidden=True, hidden_by=moderator, hidden_reason="second").count() == 3
    assert ModerationEvent.objects.count() == 2


def test_unhide_clears_who_when_why_and_records_one_event(moderator, boss):
    micro = ns()
    conv = conversation(micro)
    rows = add(conv, 4)
    services.hide_messages(Message.objects.filter(pk__in=[r.pk for r in rows[:3]]), actor=boss, reason="spam")

    event = services.unhide_messages(Message.objects.filter(conversation=conv), actor=moderator, reason="mistake")

    assert hidden_ids() == []
    assert set(Message.objects.values_list("hidden_at", "hidden_by", "hidden_reason")) == {(None, None, "")}
    assert event.action == "unhide"
    assert event.count == 3  # the one that was visible does not count
    assert sorted(event.details["ids"]) == ids(rows[:3])
    assert (event.actor, event.actor_name, event.reason, event.namespace) == (moderator, "mod", "mistake", micro)
    assert event.target == "3 messages"
    assert ModerationEvent.objects.filter(action="unhide").count() == 1


def test_delete_messages_removes_rows_and_records_one_event(moderator):
    micro = ns()
    conv = conversation(micro)
    rows = add(conv, 6)
    keep = add(conversation(micro, topic="other"), 2)
    chosen = [r.pk for r in rows[:4]]

    event = services.delete_messages(Message.objects.filter(pk__in=chosen), actor=moderator, reason="illegal")

    assert ids(Message.objects.all()) == ids(rows[4:] + keep)
    assert only_event() == event
    assert (event.action, event.count, event.reason, event.namespace) == ("delete", 4, "illegal", micro)
    assert (event.actor, event.actor_name, event.target_type, event.target) == (
        moderator,
        "mod",
        "streams.message",
        "4 messages",
    )
    assert sorted(event.details["ids"]) == sorted(str(pk) for pk in chosen)
    # Conversations stay.
    assert Conversation.objects.count() == 2


def test_an_event_across_namespaces_names_no_namespace(moderator):
    add(conversation(ns("micro")), 2)
    add(conversation(ns("other")), 3)
    event = services.hide_messages(Message.objects.all(), actor=moderator, reason="sweep")
    assert event.count == 5
    assert event.namespace is None
    assert len(hidden_ids()) == 5


def test_chats_messages_are_moderated_the_same_way(moderator):
    micro = ns()
    rows = add(chat(micro), 3)
    event = services.hide_messages(ChatMessage.objects.filter(pk=rows[2].pk), actor=moderator, reason="spam")
    assert hidden_ids(ChatMessage) == ids([rows[2]])
    assert (event.target_type, event.count, event.namespace) == ("chats.message", 1, micro)
    event = services.unhide_messages(ChatMessage.objects.all(), actor=moderator, reason="ok")
    assert hidden_ids(ChatMessage) == []
    assert event.target_type == "chats.message"
    event = services.delete_messages(ChatMessage.objects.filter(pk=rows[0].pk), actor=moderator, reason="x")
    assert ChatMessage.objects.count() == 2
    assert (event.action, event.target_type, event.count) == ("delete", "chats.message", 1)


def test_an_actor_deleted_later_is_still_named_and_none_is_the_system(moderator):
    rows = add(conversation(ns()), 2)
    event = services.hide_messages(Message.objects.filter(pk=rows[0].pk), actor=moderator, reason="spam")
    moderator.delete()
    event.refresh_from_db()
    assert (event.actor, event.actor_name) == (None, "mod")
    assert Message.objects.get(pk=rows[0].pk).hidden  # the message stays hidden

    event = services.hide_messages(Message.objects.filter(pk=rows[1].pk), actor=None, reason="script")
    assert (event.actor, event.actor_name) == (None, "system")


@pytest.mark.parametrize("make_parent", [conversation, chat], ids=["streams", "chats"])
def test_deleting_a_moderator_clears_who_hid_through_the_partial_index(moderator, boss, make_parent):
    """Messages record who hid them; that column is indexed only where set
    (convoproject.messaging.models.moderation_indexes), so a message's insert
    writes no entry for it, and deleting a user still finds their messages by
    that index rather than by reading the table."""
    rows = add(make_parent(ns()), 6)
    model = type(rows[0])
    services.hide_messages(model.objects.filter(pk__in=[rows[0].pk, rows[1].pk]), actor=moderator, reason="spam")
    services.hide_messages(model.objects.filter(pk=rows[2].pk), actor=boss, reason="spam")
    table = model._meta.db_table
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, table)
    assert [name for name, index in indexes.items() if index["index"] and index["columns"] == ["hidden_by_id"]] == [
        f"{table}_hidden_by_idx"
    ]

    with CaptureQueriesContext(connection) as captured:
        moderator.delete()
    [clearing] = [q["sql"] for q in captured if q["sql"].startswith(f'UPDATE "{table}" SET "hidden_by_id" = NULL')]
    price_out_scans(table, sorts=False)
    assert f"{table}_hidden_by_idx" in explain_sql(clearing)

    assert sorted(model.objects.values_list("pk", "hidden", "hidden_by")) == sorted(
        [(rows[0].pk, True, None), (rows[1].pk, True, None), (rows[2].pk, True, boss.pk)]
        + [(row.pk, False, None) for row in rows[3:]]
    )


# ---------------------------------------------------------------- a reason is required


def _calls(actor):
    """Each moderation function, called on fresh data with a given reason."""

    def hide(reason):
        services.hide_messages(Message.objects.all(), actor=actor, reason=reason)

    def unhide(reason):
        services.unhide_messages(Message.objects.all(), actor=actor, reason=reason)

    def delete(reason):
        services.delete_messages(Message.objects.all(), actor=actor, reason=reason)

    def clean_up(reason):
        services.clean_up_author(Message, namespace=ns(), author_id="alice", actor=actor, reason=reason)

    def clean_up_delete(reason):
        services.clean_up_author(Message, namespace=ns(), author_id="alice", actor=actor, reason=reason, delete=True)

    def delete_conversation(reason):
        services.delete_with_messages(Conversation.objects.get(), actor=actor, reason=reason)

    def delete_chat(reason):
        services.delete_with_messages(Chat.objects.get(), actor=actor, reason=reason)

    def revoke(reason):
        services.revoke_key(ApiKey.objects.get(), actor=actor, reason=reason)

    return {
        "hide": hide,
        "unhide": unhide,
        "delete": delete,
        "clean_up": clean_up,
        "clean_up_delete": clean_up_delete,
        "delete_conversation": delete_conversation,
        "delete_chat": delete_chat,
        "revoke": revoke,
    }


def _snapshot():
    return (
        sorted(Message.objects.values_list("pk", "hidden", "hidden_at", "hidden_by", "hidden_reason")),
        sorted(ChatMessage.objects.values_list("pk", "hidden")),
        sorted(Conversation.objects.values_list("pk", flat=True)),
        sorted(Chat.objects.values_list("pk", flat=True)),
        sorted(ApiKey.objects.values_list("pk", "revoked_at")),
    )


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
@pytest.mark.parametrize(
    "step",
    ["hide", "unhide", "delete", "clean_up", "clean_up_delete", "delete_conversation", "delete_chat", "revoke"],
)
def test_a_blank_reason_is_refused_and_nothing_changes(moderator, step, reason):
    micro = ns()
    conv = conversation(micro)
    add(conv, 3)
    add(conv, 2, hidden=True, start=BASE + 10 * MINUTE)
    add(chat(micro), 2)
    create_api_key("micro")
    before = _snapshot()

    with pytest.raises(services.ReasonRequired):
        _calls(moderator)[step](reason)

    assert _snapshot() == before
    assert ModerationEvent.objects.count() == 0
    assert issubclass(services.ReasonRequired, ValueError)


# ---------------------------------------------------------------- the API stops returning hidden messages


def test_hidden_messages_vanish_from_every_api_read_and_come_back_when_unhidden(api, moderator):
    conv = api.conversation()
    sent = [api.message(conv["id"], text=f"m{i}", author_id="spammer" if i % 2 else "alice") for i in range(6)]
    room = api.chat(["alice", "bob"])
    chat_sent = [api.chat_message(room["id"], "alice", text=f"c{i}") for i in range(3)]

    def streams_list():
        return texts(api.ok("Streams/ListMessages", {"conversation_id": conv["id"]}))

    def streams_recent():
        return texts(api.ok("Streams/RecentMessages", {"conversation_ids": [conv["id"]]}))

    def chats_list():
        return texts(api.ok("Chats/ListMessages", {"chat_id": room["id"]}))

    all_newest_first = ["m5", "m4", "m3", "m2", "m1", "m0"]
    assert streams_list() == streams_recent() == all_newest_first
    assert chats_list() == ["c2", "c1", "c0"]

    services.hide_messages(Message.objects.filter(pk=sent[4]["id"]), actor=moderator, reason="spam")
    services.hide_messages(ChatMessage.objects.filter(pk=chat_sent[1]["id"]), actor=moderator, reason="spam")
    assert streams_list() == streams_recent() == ["m5", "m3", "m2", "m1", "m0"]
    assert chats_list() == ["c2", "c0"]

    event = services.clean_up_author(
        Message, namespace=Namespace.objects.get(name="micro"), author_id="spammer", actor=moderator, reason="x"
    )
    assert event.count == 3
    assert streams_list() == streams_recent() == ["m2", "m0"]

    services.unhide_messages(Message.objects.all(), actor=moderator, reason="appeal")
    services.unhide_messages(ChatMessage.objects.all(), actor=moderator, reason="appeal")
    assert streams_list() == streams_recent() == all_newest_first
    assert chats_list() == ["c2", "c1", "c0"]
    # The messages come back exactly as they were sent.
    assert api.ok("Streams/ListMessages", {"conversation_id": conv["id"]})["messages"] == sent[::-1]
    assert api.ok("Chats/ListMessages", {"chat_id": room["id"]})["messages"] == chat_sent[::-1]


def test_hiding_in_one_namespace_leaves_another_namespace_alone(api, other, moderator):
    mine = api.conversation()
    theirs = other.conversation()
    api.message(mine["id"], text="mine", author_id="spammer")
    other.message(theirs["id"], text="theirs", author_id="spammer")

    services.clean_up_author(
        Message, namespace=Namespace.objects.get(name="micro"), author_id="spammer", actor=moderator, reason="spam"
    )

    assert texts(api.ok("Streams/ListMessages", {"conversation_id": mine["id"]})) == []
    assert texts(other.ok("Streams/ListMessages", {"conversation_id": theirs["id"]})) == ["theirs"]
    assert texts(other.ok("Streams/RecentMessages", {"conversation_ids": [theirs["id"]]})) == ["theirs"]


# ---------------------------------------------------------------- clean up after one author


def spam_world():
    """micro: spammer's 10 messages (minutes 0..9) and alice's 3 in one
    conversation, spammer's 2 in a chat; other: spammer's 4."""
    micro, other = ns("micro"), ns("other")
    conv = conversation(micro)
    spam = add(conv, 10, author="spammer")
    alice = add(conv, 3, author="alice", start=BASE + 30 * MINUTE)
    chat_spam = add(chat(micro), 2, author="spammer")
    elsewhere = add(conversation(other), 4, author="spammer")
    return {"micro": micro, "spam": spam, "alice": alice, "chat_spam": chat_spam, "elsewhere": elsewhere}


def test_clean_up_author_hides_every_message_of_one_author_in_one_namespace(moderator):
    w = spam_world()
    micro, spam = w["micro"], w["spam"]

    event = services.clean_up_author(Message, namespace=micro, author_id="spammer", actor=moderator, reason="spam wave")

    assert hidden_ids() == ids(spam)
    assert all(m.hidden_by == moderator and m.hidden_reason == "spam wave" for m in Message.objects.filter(hidden=True))
    assert hidden_ids(ChatMessage) == []  # the other app is another model
    assert only_event() == event
    assert event.action == "hide_author"
    assert (event.actor, event.actor_name, event.namespace, event.count) == (moderator, "mod", micro, 10)
    assert event.target_type == "streams.message"
    assert event.target == "messages of 'spammer' in micro"
    assert event.reason == "spam wave"
    assert event.details["author_id"] == "spammer"
    assert (event.details["since"], event.details["until"]) == (None, None)
    assert sorted(event.details["ids"]) == ids(spam)
    assert event.details["ids_complete"] is True

    # Again: nothing left to hide, still recorded with its count.
    again = services.clean_up_author(Message, namespace=micro, author_id="spammer", actor=moderator, reason="spam wave")
    assert again.count == 0
    assert hidden_ids() == ids(spam)


def test_clean_up_author_within_a_time_window(moderator):
    w = spam_world()
    micro, spam = w["micro"], w["spam"]
    since, until = BASE + 3 * MINUTE, BASE + 7 * MINUTE

    event = services.clean_up_author(
        Message, namespace=micro, author_id="spammer", actor=moderator, reason="r", since=since, until=until
    )

    # since is included, until is not: minutes 3, 4, 5, 6.
    assert hidden_ids() == ids(spam[3:7])
    assert event.count == 4
    assert event.details["since"] == since.isoformat()
    assert event.details["until"] == until.isoformat()
    assert event.details["author_id"] == "spammer"

    event = services.clean_up_author(
        Message, namespace=micro, author_id="spammer", actor=moderator, reason="r", since=BASE + 8 * MINUTE
    )
    assert event.count == 2
    assert hidden_ids() == ids(spam[3:7] + spam[8:])
    assert (event.details["since"], event.details["until"]) == ((BASE + 8 * MINUTE).isoformat(), None)

    event = services.clean_up_author(
        Message, namespace=micro, author_id="spammer", actor=moderator, reason="r", until=BASE + MINUTE
    )
    assert event.count == 1
    assert hidden_ids() == ids(spam[:1] + spam[3:7] + spam[8:])
    assert (event.details["since"], event.details["until"]) == (None, (BASE + MINUTE).isoformat())
    assert ModerationEvent.objects.filter(action="hide_author").count() == 3


def test_clean_up_author_with_delete_removes_the_messages(moderator):
    w = spam_world()
    micro, spam = w["micro"], w["spam"]

    event = services.clean_up_author(
        Message,
        namespace=micro,
        author_id="spammer",
        actor=moderator,
        reason="bot",
        since=BASE + 5 * MINUTE,
        delete=True,
    )

    assert ids(Message.objects.all()) == ids(spam[:5] + w["alice"] + w["elsewhere"])
    assert ChatMessage.objects.count() == 2
    assert only_event() == event
    assert (event.action, event.count, event.namespace, event.reason) == ("delete_author", 5, micro, "bot")
    assert event.details["author_id"] == "spammer"
    assert event.details["since"] == (BASE + 5 * MINUTE).isoformat()
    assert sorted(event.details["ids"]) == ids(spam[5:])


def test_clean_up_author_with_delete_also_removes_hidden_messages(moderator):
    w = spam_world()
    micro, spam = w["micro"], w["spam"]
    services.hide_messages(Message.objects.filter(pk=spam[0].pk), actor=moderator, reason="one")
    event = services.clean_up_author(
        Message, namespace=micro, author_id="spammer", actor=moderator, reason="all", delete=True
    )
    assert event.count == 10
    assert not Message.objects.filter(author_id="spammer", namespace=micro).exists()


def test_clean_up_author_in_chats(moderator):
    w = spam_world()
    micro = w["micro"]
    event = services.clean_up_author(ChatMessage, namespace=micro, author_id="spammer", actor=moderator, reason="spam")
    assert hidden_ids(ChatMessage) == ids(w["chat_spam"])
    assert hidden_ids() == []  # Streams untouched
    assert (event.target_type, event.count, event.action) == ("chats.message", 2, "hide_author")


def _statements(captured):
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()[:30]]


def clean_up_queries(messages, *, delete=False):
    """Measured: the lock of their conversations, 2 reads of the selection
    (its namespaces, up to 1001 ids), the namespace, one read of the messages
    for their live events (convoproject.live.publish) and one INSERT per
    batch of those (1,000, or fewer where the database takes fewer
    parameters: SQLite), one UPDATE (or DELETE, after the two DELETEs of
    their reports and review queue items), one INSERT of the audit entry."""
    fields = [Event._meta.get_field(name) for name in ("namespace", "stream_id", "type", "data", "created_at")]
    inserts = 0
    for start in range(0, messages, publish.BATCH):
        chunk = min(publish.BATCH, messages - start)
        inserts += math.ceil(chunk / connection.ops.bulk_batch_size(fields, [None] * chunk))
    return 7 + inserts + (2 if delete else 0)


@pytest.mark.parametrize("delete", [False, True])
def test_clean_up_author_of_20000_messages_is_one_statement_and_one_event(moderator, assert_queries, delete):
    micro = ns()
    conv = conversation(micro)
    add(conv, 20_000, author="spammer", step=datetime.timedelta(seconds=1))
    add(conv, 5, author="alice", start=BASE - datetime.timedelta(days=1))
    add(conversation(ns("other")), 3, author="spammer")
    verb = "DELETE" if delete else "UPDATE"

    with assert_queries(clean_up_queries(20_000, delete=delete)) as captured:
        event = services.clean_up_author(
            Message, namespace=micro, author_id="spammer", actor=moderator, reason="flood", delete=delete
        )

    changes = [sql for sql in _statements(captured) if sql.lstrip().upper().startswith(verb)]
    # One statement changes the messages (a DELETE also removes their reports and queue items first).
    assert [re.match(r'\s*(?:UPDATE|DELETE FROM) "(\w+)"', sql, re.I).group(1) for sql in changes] == (
        ["streams_report", "streams_reportedmessage", "streams_message"] if delete else ["streams_message"]
    ), changes
    assert event.count == 20_000
    assert len(event.details["ids"]) == services.MAX_LISTED_IDS == 1000
    assert event.details["ids_complete"] is False
    assert ModerationEvent.objects.count() == 1
    if delete:
        assert Message.objects.filter(namespace=micro, author_id="spammer").count() == 0
    else:
        assert Message.objects.filter(namespace=micro, author_id="spammer", hidden=False).count() == 0
    assert Message.objects.filter(author_id="alice", hidden=False).count() == 5
    assert Message.objects.filter(namespace__name="other", hidden=False).count() == 3


@pytest.mark.parametrize("delete", [False, True])
def test_clean_up_author_runs_as_many_queries_for_3_messages(moderator, assert_queries, delete):
    micro = ns()
    add(conversation(micro), 3, author="spammer")
    with assert_queries(clean_up_queries(3, delete=delete)):
        event = services.clean_up_author(
            Message, namespace=micro, author_id="spammer", actor=moderator, reason="flood", delete=delete
        )
    assert event.count == 3
    assert event.details["ids_complete"] is True


def test_clean_up_is_all_or_nothing(moderator, monkeypatch):
    micro = spam_world()["micro"]

    def broken(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "record", broken)
    with pytest.raises(RuntimeError):
        services.clean_up_author(Message, namespace=micro, author_id="spammer", actor=moderator, reason="spam")
    with pytest.raises(RuntimeError):
        services.clean_up_author(
            Message, namespace=micro, author_id="spammer", actor=moderator, reason="spam", delete=True
        )
    assert hidden_ids() == []
    assert Message.objects.count() == 17


# ---------------------------------------------------------------- delete a conversation or chat with its messages


def test_delete_conversation_with_its_messages(moderator):
    micro = ns()
    doomed = conversation(micro, topic="doomed")
    add(doomed, 7)
    add(doomed, 2, hidden=True, start=BASE + 20 * MINUTE)
    kept = conversation(micro, topic="kept")
    kept_rows = add(kept, 3)

    event = services.delete_with_messages(doomed, actor=moderator, reason="off-topic")

    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]
    assert ids(Message.objects.all()) == ids(kept_rows)
    assert only_event() == event
    assert event.action == "delete_conversation"
    assert (event.actor, event.actor_name, event.namespace, event.count) == (moderator, "mod", micro, 9)
    assert event.target_type == "streams.conversation"
    assert event.target == f"conversation {doomed.pk} (doomed)"
    assert event.reason == "off-topic"
    assert event.details == {"id": str(doomed.pk), "messages": 9}


def test_delete_chat_with_its_messages(moderator):
    micro = ns()
    doomed = chat(micro, ["alice", "bob"])
    add(doomed, 4)
    kept = chat(micro, ["alice", "carol"])
    kept_rows = add(kept, 2)

    event = services.delete_with_messages(doomed, actor=moderator, reason="abuse")

    assert list(Chat.objects.values_list("pk", flat=True)) == [kept.pk]
    assert ids(ChatMessage.objects.all()) == ids(kept_rows)
    assert (event.action, event.count, event.target_type, event.namespace) == ("delete_chat", 4, "chats.chat", micro)
    assert event.target == f"chat {doomed.pk} (alice, bob)"
    assert event.details == {"id": str(doomed.pk), "messages": 4}


def test_deleting_a_deleted_conversation_again_does_nothing(moderator):
    doomed = conversation(ns())
    add(doomed, 2)
    stale = Conversation.objects.get(pk=doomed.pk)
    assert services.delete_with_messages(doomed, actor=moderator, reason="x") is not None
    assert services.delete_with_messages(stale, actor=moderator, reason="x") is None
    assert ModerationEvent.objects.count() == 1


def test_delete_with_messages_is_all_or_nothing(moderator, monkeypatch):
    doomed = conversation(ns())
    add(doomed, 5)

    def broken(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "record", broken)
    with pytest.raises(RuntimeError):
        services.delete_with_messages(doomed, actor=moderator, reason="x")
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 5


# Measured: the locked conversation (with its namespace), the count, the
# live event (conversation_deleted), the DELETEs of its messages' reports and
# review queue items, of its messages, of it, the INSERT of the audit entry.
DELETE_WITH_MESSAGES_QUERIES = 8


@pytest.mark.parametrize("size", [10, 500])
def test_delete_with_messages_runs_a_constant_number_of_queries(moderator, assert_queries, size):
    doomed = conversation(ns())
    add(doomed, size)
    with assert_queries(DELETE_WITH_MESSAGES_QUERIES):
        event = services.delete_with_messages(doomed, actor=moderator, reason="x")
    assert event.count == size
    assert Message.objects.count() == 0


# ---------------------------------------------------------------- revoke an API key


def test_revoke_key_refuses_the_key_and_records_one_event(client, micro_key, moderator):
    api = Rpc(client, key=micro_key)
    api.conversation()
    api_key = ApiKey.objects.get()

    event = services.revoke_key(api_key, actor=moderator, reason="leaked")

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api.post("Streams/ListConversations", {"group_id": "group"}).status_code == 401
    assert only_event() == event
    assert event.action == "revoke_key"
    assert (event.actor, event.actor_name, event.count, event.reason) == (moderator, "mod", 1, "leaked")
    assert event.namespace == api_key.namespace
    assert event.target_type == "tenants.apikey"
    assert event.target == f"API key {api_key.prefix}…"
    # The event never holds the key or its digest.
    stored = f"{event.target} {event.details} {event.reason}"
    assert micro_key not in stored
    assert digest_of(micro_key) not in stored

    # Revoking again changes nothing and says so.
    revoked_at = api_key.revoked_at
    again = services.revoke_key(api_key, actor=moderator, reason="again")
    api_key.refresh_from_db()
    assert api_key.revoked_at == revoked_at
    assert again.count == 0
