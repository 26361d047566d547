"""The scale tooling of the bench app (`manage.py seed`, `manage.py
admin_timings`) and the date drill-down of the message lists, which answers
from index probes once a selection reaches the paginator's cap: the same
links, with the same number of queries, as Django's own queries give."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from bench import corpus
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.moderation.admin import CappedCountPaginator, SelectionPeriods
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage

SEED = ["--namespaces", "2", "--conversations", "6", "--chats", "4", "--messages", "500", "--authors", "5"]
SEED += ["--hidden-fraction", "0.05", "--days", "500", "--end", "2026-03-15T12:00:00+00:00", "--batch", "64"]


def seed(*extra):
    out = StringIO()
    call_command("seed", *SEED, *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def seeded(db):
    return seed()


def test_seed_makes_realistic_data(seeded):
    assert "Seeded 500 messages" in seeded
    assert StreamMessage.objects.count() == 400 and ChatMessage.objects.count() == 100
    assert list(Namespace.objects.values_list("name", flat=True)) == ["bench-1", "bench-2"]
    assert Conversation.objects.count() == 6 and Chat.objects.count() == 4
    # One conversation has a large share (20 % of 400, give or take chance).
    largest = StreamMessage.objects.values("conversation").annotate(n=Count("pk")).order_by("-n")[0]["n"]
    assert largest >= 50
    # Every message was sent after its parent was made, in the last 500 days before --end.
    for message in StreamMessage.objects.select_related("conversation")[:50]:
        assert message.conversation.created_at < message.sent_at
    assert str(StreamMessage.objects.order_by("sent_at").last().sent_at) < "2026-03-15 12:00:00+00:00"
    # The spammer writes in every namespace; chat messages are by the chat's members.
    assert StreamMessage.objects.filter(author_id="bench-1-spammer").exists()
    for chat in Chat.objects.all():
        authors = set(chat.messages.values_list("author_id", flat=True))
        assert authors <= set(chat.user_ids)
    # A few are hidden, with a reason; namespaces match the parents'.
    hidden = StreamMessage.objects.filter(hidden=True)
    assert hidden.exists() and not hidden.filter(hidden_reason="").exists()
    assert not StreamMessage.objects.exclude(namespace=F("conversation__namespace")).exists()
    assert "search words:  deadline" in seeded


def test_seed_refuses_to_run_on_data_unless_appending(seeded):
    with pytest.raises(CommandError, match="refusing to seed"):
        seed()
    seed("--append")
    assert list(Namespace.objects.values_list("name", flat=True)) == ["bench-1", "bench-2", "bench-3", "bench-4"]
    assert StreamMessage.objects.count() == 800


def test_seed_checks_its_arguments(db):
    with pytest.raises(CommandError, match="--days is too short"):
        seed("--days", "0.000000001")
    with pytest.raises(CommandError, match="fractions"):
        seed("--hidden-fraction", "2")


def test_search_words_are_found_by_admin_search_only_where_put(seeded):
    corpus.check()
    assert not StreamMessage.objects.filter(text__icontains=corpus.ABSENT_WORD).exists()
    assert StreamMessage.objects.filter(text__icontains=corpus.COMMON_WORD).exists()


def test_admin_timings_prints_a_table(seeded):
    out = StringIO()
    call_command("admin_timings", "--runs", "1", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "median ms" in text and "streams: message list" in text and "chats: largest chat page" in text
    assert "slowest query" in text  # and its plan


# ---------------------------------------------------------------- the date drill-down by probes


def drill_down(response):
    assert response.status_code == 200
    return re.search(r'<nav class="toplinks">.*?</nav>', response.content.decode(), re.S).group(0)


def rendered(browser, query):
    path = reverse("admin:streams_message_changelist") + ("?" + urlencode(query) if query else "")
    browser.get(path)  # warm-up
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(path)
    return drill_down(response), [q["sql"] for q in queries.captured_queries]


QUERIES = [
    {},
    {"sent_at__year": 2025},
    {"sent_at__year": 2025, "sent_at__month": 6},
    {"sent_at__year": 2025, "sent_at__month": 6, "sent_at__day": 10},
    {"namespace__id__exact": "bench-1"},  # its id, found in the test
    {"q": corpus.COMMON_WORD},
    {"q": corpus.ABSENT_WORD},
    {"state": "hidden"},
    {"sent_at__gte": "2026-01-01 00:00:00+00:00"},
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: urlencode(q) or "all")
def test_drill_down_by_probes_offers_what_django_offers(seeded, monkeypatch, query):
    if "namespace__id__exact" in query:
        query = {"namespace__id__exact": Namespace.objects.get(name=query["namespace__id__exact"]).pk}
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", password=None))
    by_django, django_queries = rendered(browser, query)
    assert "<a href=" in by_django or query.get("q") == corpus.ABSENT_WORD or "sent_at__day" in query
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)  # every selection of 3 rows or more is "large"
    by_probes, probe_queries = rendered(browser, query)
    assert by_probes == by_django
    assert len(probe_queries) == len(django_queries)
    probed = any("UNION ALL" in sql for sql in probe_queries)
    # PostgreSQL probes (but not for a day, which lists no periods, nor for an
    # empty selection); SQLite has no LIMIT in a UNION and keeps Django's queries.
    expected = (
        connection.vendor == "postgresql" and "sent_at__day" not in query and query.get("q") != corpus.ABSENT_WORD
    )
    assert probed == expected


def test_probes_list_each_period_with_a_row_once(seeded):
    selection = StreamMessage.objects.all()
    for kind in ("year", "month"):
        periods = SelectionPeriods(selection, "sent_at", count=10**6, cap=10)
        periods.aggregate(first=Min("sent_at"), last=Max("sent_at"))
        assert list(periods.datetimes("sent_at", kind)) == list(selection.datetimes("sent_at", kind))
    june = selection.filter(sent_at__year=2025, sent_at__month=6)
    days = SelectionPeriods(june, "sent_at", count=10**6, cap=10, year="2025", month="6")
    assert list(days.datetimes("sent_at", "day")) == list(june.datetimes("sent_at", "day"))


# ---------------------------------------------------------------- a search's page: found, then sorted


def page_of(browser, query):
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(reverse("admin:streams_message_changelist") + "?" + urlencode(query))
    assert response.status_code == 200
    rows = [m.pk for m in response.context["cl"].result_list]
    page_query = next(q["sql"] for q in queries.captured_queries if 'JOIN "streams_conversation"' in q["sql"])
    return rows, page_query


def test_a_small_search_result_is_sorted_after_it_is_found_in_the_same_order(seeded, monkeypatch):
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", password=None))
    query = {"q": "the"}  # in more messages than a page shows (else Django fetches them all, unpaginated)
    small, fenced_sql = page_of(browser, query)
    assert 'ORDER BY COALESCE("streams_message"."sent_at", "streams_message"."sent_at") DESC' in fenced_sql
    monkeypatch.setattr(CappedCountPaginator, "CAP", 60)  # the same result is now "large": left to the index
    large, plain_sql = page_of(browser, query)
    assert "COALESCE" not in plain_sql
    expected = StreamMessage.objects.filter(text__icontains="the").order_by("-sent_at", "-pk")
    assert expected.count() > 60
    assert small == large == [m.pk for m in expected[:50]]
    # Without a search, lists are never fenced: their filters have ordered indexes.
    monkeypatch.setattr(CappedCountPaginator, "CAP", 10_000)
    assert "COALESCE" not in page_of(browser, {"state": "hidden"})[1]
