"""The one selection of messages (convoproject.moderation.selection): "the
messages of author X in namespace N between T1 and T2" is the same rows
from the moderation API (list and clean-up), admin's clean-up page and the
shell's `clean_up_author`; and on PostgreSQL the text filter reads the
trigram index (convoproject.moderation.trigram)."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from chats.models import Message as ChatMessage
from convoproject.moderation import services
from convoproject.moderation.selection import InvalidSelection, author_selection, message_filterset, select_messages
from convoproject.moderation.tokens import create_token
from streams.models import Message
from tests.support.factories import BASE, MINUTE, add, chat, conversation, ns

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", email="root@example.com", password=None)


@pytest.fixture
def spam(db):
    """spammer's messages at BASE + 0..9 minutes in micro, and others' around them."""
    micro = ns("micro")
    rows = add(conversation(micro), 10, author="spammer", text="BUY {i}")
    add(conversation(micro), 3, author="alice", start=BASE + 2 * MINUTE)
    add(conversation(ns("other")), 3, author="spammer", start=BASE + 2 * MINUTE)
    return rows


def hidden(model=Message):
    return set(model.objects.filter(hidden=True).values_list("pk", flat=True))


def reset(model=Message):
    model.objects.update(hidden=False, hidden_at=None, hidden_by=None, hidden_reason="")


def test_the_api_admin_and_shell_clean_ups_select_the_same_rows(spam, root):
    # [12:03, 12:07): the message sent at 12:03 is in, the one at 12:07 is out.
    after, before = BASE + 3 * MINUTE, BASE + 7 * MINUTE
    expected = {row.pk for row in spam[3:7]}
    token = create_token(root)[1]
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    window = {"namespace": "micro", "author_id": "spammer"}

    listed = api.get(
        "/api/moderation/streams/messages/",
        {**window, "sent_after": "2024-03-10T13:03:00+01:00", "sent_before": "2024-03-10T12:07:00Z"},
    )
    assert {row["id"] for row in listed.json()["results"]} == {str(pk) for pk in expected}

    body = {**window, "reason": "api", "sent_after": "2024-03-10T12:03:00Z", "sent_before": "2024-03-10T07:07:00-05:00"}
    cleaned = api.post("/api/moderation/streams/messages/clean-up-author/", body, content_type="application/json")
    assert cleaned.status_code == 200, cleaned.content
    assert hidden() == expected
    reset()

    admin = Client()
    admin.force_login(root)
    answer = admin.post(
        reverse("admin:streams_message_clean_up_author"),
        {**window, "namespace": spam[0].namespace_id, "confirm": "yes", "reason": "admin"}
        | {"since": "2024-03-10T12:03", "until": "2024-03-10T12:07"},
    )
    assert answer.status_code == 302
    assert hidden() == expected
    reset()

    micro = spam[0].namespace
    event = services.clean_up_author(
        Message, namespace=micro, author_id="spammer", actor=root, reason="shell", since=after, until=before
    )
    assert hidden() == expected
    assert event.count == len(expected)
    assert set(services.author_messages(Message, namespace=micro, author_id="spammer", since=after, until=before)) == {
        row for row in spam[3:7]
    }


def test_the_selection_takes_strings_or_objects_alike(spam):
    micro = spam[0].namespace
    as_text = select_messages(
        Message, {"namespace": "micro", "author_id": "spammer", "sent_after": "2024-03-10T12:05:00Z", "hidden": "false"}
    )
    as_objects = select_messages(
        Message, {"namespace": micro, "author_id": "spammer", "sent_after": BASE + 5 * MINUTE, "hidden": False}
    )
    assert as_text.is_valid() and as_objects.is_valid()
    assert set(as_text.qs) == set(as_objects.qs) == set(spam[5:])
    assert message_filterset(Message) is message_filterset(Message)
    assert "chat" in message_filterset(ChatMessage).base_filters
    assert "conversation" not in message_filterset(ChatMessage).base_filters


def test_an_invalid_selection_is_refused_never_widened(spam, root):
    micro = spam[0].namespace
    # A backwards window, or no author: an error, not "everything".
    with pytest.raises(InvalidSelection) as error:
        services.author_messages(Message, namespace=micro, author_id="spammer", since=BASE, until=BASE)
    assert error.value.errors == {"sent_before": ["Must be later than sent_after."]}
    assert isinstance(error.value, ValueError)
    with pytest.raises(InvalidSelection):
        services.clean_up_author(Message, namespace=micro, author_id="", actor=root, reason="r")
    naive = datetime.datetime(2024, 3, 10, 12, 0)
    assert not author_selection(Message, {"namespace": micro, "author_id": "x", "sent_after": naive}).is_valid()
    assert hidden() == set()


def test_the_chats_selection(db):
    room = chat(ns("micro"), user_ids=("bob", "eve"))
    rows = add(room, 4, author="eve")
    add(chat(ns("micro"), user_ids=("bob", "carol")), 2, author="eve")
    selection = select_messages(ChatMessage, {"chat": str(room.pk), "sent_before": "2024-03-10T12:02:00Z"})
    assert set(selection.qs) == set(rows[:2])


# ---------------------------------------------------------------- plans on PostgreSQL


def plan_of(queryset, *priced_out):
    """PostgreSQL's plan, with the table's statistics and a sequential scan
    (and `priced_out`) priced out: the table is small, and on it any plan is
    cheap; on millions of rows the planner needs no push
    (docs/MODERATION_SCALE.md, convoproject.moderation.trigram)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {queryset.model._meta.db_table}")
        for setting in ("enable_seqscan", *priced_out):
            cursor.execute(f"SET LOCAL {setting} = off")
    return queryset.explain()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only")
def test_the_text_filter_reads_the_trigram_index_on_postgresql(spam):
    micro = spam[0].namespace
    add(conversation(micro), 2000, author="crowd", start=BASE + 60 * MINUTE, step=datetime.timedelta(seconds=1))
    add(conversation(micro), 3, author="poet", text="a narwhal {i}")
    # The queryset of the API's list (the FilterSet, then the page's order and size).
    selection = select_messages(Message, {"text": "NarWhal"})
    assert selection.is_valid()
    page = selection.qs.order_by("-sent_at", "-id")[:51]
    # With walks of the other indexes priced out too, what is left is a
    # bitmap scan of an index whose expression matches the condition: the
    # trigram index on UPPER(text), not a scan of every row.
    plan = plan_of(page, "enable_indexscan")
    assert "Bitmap Index Scan on streams_message_text_trgm" in plan, plan
    assert "upper" in plan.lower() and "NARWHAL" in plan, plan
    assert [row.text for row in page] == ["a narwhal 2", "a narwhal 1", "a narwhal 0"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are checked on PostgreSQL")
def test_a_conversation_page_reads_its_unique_index_on_postgresql(spam):
    """A long conversation's newest page: the walk of its (namespace,
    conversation, sent_at) index, which the filter's namespace makes usable."""
    second = datetime.timedelta(seconds=1)
    add(spam[0].conversation, 1000, author="crowd", start=BASE + 60 * MINUTE, step=second)
    for _ in range(4):  # and busier ones beside it, at the same times
        add(conversation(spam[0].namespace), 1000, author="crowd", start=BASE + 60 * MINUTE, step=second)
    selection = select_messages(Message, {"conversation": str(spam[0].conversation_id)})
    assert selection.is_valid()
    plan = plan_of(selection.qs.order_by("-sent_at", "-id")[:51])
    assert "streams_message_conversation_sent_at_uniq" in plan, plan


LIST_PLANS = [
    ({}, "streams_message_sent_idx"),
    ({"namespace": "micro"}, "streams_message_ns_sent_idx"),
    ({"namespace": "micro", "author_id": "spammer"}, "streams_message_author_idx"),
    ({"hidden": "true"}, "streams_message_hidden_idx"),
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are checked on PostgreSQL")
@pytest.mark.parametrize(("data", "index"), LIST_PLANS, ids=[str(d) for d, _ in LIST_PLANS])
def test_list_pages_read_the_moderation_indexes_on_postgresql(spam, data, index):
    """The page's order comes from the index (the id only orders a tie:
    Incremental Sort, or a sort of the few hidden rows). The crowd makes
    each filter selective, as on a real table."""
    add(conversation(ns("crowded")), 2000, author="crowd", start=BASE + 60 * MINUTE, step=datetime.timedelta(seconds=1))
    Message.objects.filter(author_id="alice").update(hidden=True)
    selection = select_messages(Message, data)
    assert selection.is_valid()
    plan = plan_of(selection.qs.order_by("-sent_at", "-id")[:51])
    assert f"Index Scan Backward using {index}" in plan or f"Index Scan using {index}" in plan, plan
    assert "Seq Scan" not in plan, plan
