"""The scale tooling of the bench app (`manage.py seed`, `manage.py
admin_timings`); the number of queries of every page it times, which must not
grow with the data; the message lists' date filter, which stands in for a
date drill-down; and a search's page, found then sorted."""

import html
import re
from io import StringIO
from urllib.parse import parse_qsl

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from bench import admin_pages, corpus
from bench.management.commands.admin_timings import Command as AdminTimingsCommand
from bench.management.commands.seed import Command as SeedCommand
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.moderation.admin import CappedCountPaginator
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage

SEED = ["--namespaces", "2", "--conversations", "6", "--chats", "4", "--messages", "500", "--authors", "5"]
SEED += ["--hidden-fraction", "0.05", "--days", "500", "--end", "2026-03-15T12:00:00+00:00", "--batch", "64"]


def seed(*extra):
    out = StringIO()
    call_command(SeedCommand(), *SEED, *extra, stdout=out, stderr=StringIO())
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
    # Each parent's last_sent_at is its newest message's, as the Appender keeps it.
    for model in (Conversation, Chat):
        for parent in model.objects.annotate(newest=Max("messages__sent_at")):
            assert parent.last_sent_at == parent.newest


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
    call_command(AdminTimingsCommand(), "--runs", "1", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "median ms" in text and "streams: message list" in text and "chats: largest chat page" in text
    assert "slowest query" in text  # and its plan


# ---------------------------------------------------------------- the timed pages: a fixed number of queries


@pytest.fixture
def seeded_until_now(db):
    """The seeded data, its newest message this hour (as `manage.py seed` makes
    it by default), so that the date filter's choices list some; with reports,
    so that the review queue's pages list some."""
    return seed("--end", timezone.now().replace(minute=0, second=0, microsecond=0).isoformat(), "--reports", "300")


@pytest.fixture
def browser(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password=None))
    return client


# A message list: the session, the user, the namespaces of the namespace
# filter, the capped count, and the page of rows (namespace, parent and hider
# joined). The sent_at date filter runs no query of its own, and there is no
# date drill-down (Django's would add a MIN/MAX and a DISTINCT over the
# selection). The other pages that `admin_timings` times:
PAGE_QUERIES = {
    # + for each of the 3 filters, its counts in one query, after the
    # namespaces again (Django builds the filters again for each)
    "streams: list with facet counts (opt-in)": 11,
    # the session, the user, the parent, its namespace, its latest 20 messages
    "streams: largest conversation page": 5,
    "chats: largest chat page": 5,
    # the session, the user, the parent, one grouped count of its messages
    "streams: largest conversation's delete page": 4,
    "chats: largest chat's delete page": 4,
    # + Django's date drill-down on created_at: MIN/MAX, then the years
    "streams: conversation list": 7,
    "chats: chat list": 7,
    "moderation log": 7,
}
MESSAGE_LIST_QUERIES = 5


def expected_queries(label):
    """The queries of a timed page: PAGE_QUERIES, else by its kind."""
    if label in PAGE_QUERIES:
        return PAGE_QUERIES[label]
    if label.startswith("api: "):
        # The moderation API (a session): the session, the user, the page with
        # its joins; + the namespace, looked up by name, when filtered by it.
        return 4 if "namespace" in label else 3
    # The review queue (and the report list): the session, the user, the
    # namespaces (of the filter), the capped count, the page. An item's page:
    # the session, the user, the item, its reports.
    return 4 if label.endswith("item's page") else MESSAGE_LIST_QUERIES


def test_every_timed_page_runs_a_fixed_number_of_queries(
    seeded_until_now, browser, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 50)  # most selections reach the cap, as at a million rows
    page_list = admin_pages.pages(log=lambda *_: None)
    assert {page[0] for page in page_list} >= set(PAGE_QUERIES)
    for label, path, *_ in page_list:
        if path is None:  # a page this code does not have (skipped, with a note)
            continue
        assert browser.get(path).status_code == 200  # warm-up
        with django_assert_num_queries(expected_queries(label), info=label):
            response = browser.get(path)
        assert response.status_code == 200, label


def date_filter_links(response):
    """[(label, query string)] of the "By sent at" filter, as the page links them."""
    block = re.search(r'<details data-filter-title="sent at".*?</details>', response.content.decode(), re.S)
    return [(label, html.unescape(href)) for href, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', block[0])]


def test_the_date_filter_choices_list_the_messages_of_their_period(
    seeded_until_now, browser, django_assert_num_queries
):
    changelist = reverse("admin:streams_message_changelist")
    choices = date_filter_links(browser.get(changelist))
    # The choices admin_timings times are the page's own.
    timed = [(label.capitalize(), "?" + urlencode(query)) for label, query in admin_pages.date_filter_choices()]
    assert choices == [("Any date", "?"), *timed]
    for label, query_string in choices:
        with django_assert_num_queries(MESSAGE_LIST_QUERIES):
            response = browser.get(changelist + query_string)
        assert response.status_code == 200
        period = StreamMessage.objects.filter(**{k: v for k, v in parse_qsl(query_string[1:])})
        assert [m.pk for m in response.context["cl"].result_list] == [
            m.pk for m in period.order_by("-sent_at", "-pk")[:50]
        ], label
    # The seeded messages are spread evenly over 500 days up to this hour.
    assert StreamMessage.objects.filter(**dict(parse_qsl(timed[1][1][1:]))).count() >= 3  # the past 7 days


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
