"""The review queue and the moderation API at scale (docs/MODERATION_SCALE.md,
"Review queue and moderation API"): the pages `admin_timings` times run a
fixed number of queries, 5 rows or 50; on PostgreSQL their default queries
read an index in its order (no sort of every row)."""

import datetime
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve
from django.utils.http import urlencode

from bench.reports import build_queue
from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from streams.models import Message as StreamMessage
from streams.models import Report as StreamReport
from streams.models import ReportedMessage as StreamReportedMessage
from tests.support import factories

BASE = factories.BASE
REASONS = ["spam", "harassment", "inappropriate", "other"]


def exists(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def make(count, round=0):
    """`count` messages in a conversation and a chat of "micro", each reported
    (by one to three users, reasons mixed, every other report resolved by
    its own moderator, every third message hidden by its own moderator), with
    the review queue built from them (bench.reports.build_queue, as seed)."""
    User = get_user_model()
    namespace = factories.ns("micro")
    members = ["alice", "bob", "carol", "dave", f"eve{round}"]
    parents = [factories.conversation(namespace), factories.chat(namespace, members)]
    for parent, Report in zip(parents, (StreamReport, ChatReport), strict=True):
        start = BASE + datetime.timedelta(days=round)
        messages = factories.add(parent, count, start=start, text="invoice number {i}")
        reports = []
        for i, message in enumerate(messages):
            if i % 3 == 0:
                hider = User.objects.create_user(f"hider-{parent.pk}-{i}", is_staff=True)
                type(message).objects.filter(pk=message.pk).update(hidden=True, hidden_by=hider, hidden_reason="x")
            for k, reporter in enumerate(["bob", "carol", "dave"][: 1 + i % 3]):
                resolved = (i + k) % 2 == 1
                by = User.objects.create_user(f"mod-{parent.pk}-{i}-{k}", is_staff=True) if resolved else None
                reports.append(
                    Report(
                        namespace=namespace,
                        message=message,
                        **{Report.PARENT: parent},
                        reporter_id=reporter,
                        reason=REASONS[(i + k) % 4],
                        created_at=message.sent_at + datetime.timedelta(seconds=1 + k),
                        state="dismissed" if resolved else "open",
                        resolved_at=message.sent_at + datetime.timedelta(hours=1) if resolved else None,
                        resolved_by=by,
                        resolution_note="checked" if resolved else "",
                    )
                )
        Report.objects.bulk_create(reports)
    for model in (StreamMessage, ChatMessage):
        model._meta.get_field("review").related_model.objects.all().delete()
        build_queue(model, [namespace.pk])
    return namespace


@pytest.fixture
def browser(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password=None))
    return client


def count_queries(browser, path):
    browser.get(path)  # a warm-up: the first render of a page may fill a cache (content types)
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(path)
    assert response.status_code == 200, (path, response.content[:300])
    return len(queries.captured_queries), response


# ---------------------------------------------------------------- the moderation API

MESSAGES, REPORTS = "/api/moderation/streams/messages/", "/api/moderation/streams/reports/"
WINDOW = {"sent_after": "2024-03-10T11:00:00+00:00", "sent_before": "2024-03-20T12:00:00+00:00"}
# The session, the user, the page (its namespace, conversation and hider
# joined); a namespace filter finds the namespace first.
API_PAGES = [
    (MESSAGES, 3),
    (MESSAGES + "?" + urlencode({"namespace": "micro", "author_id": "alice"}), 4),
    (MESSAGES + "?" + urlencode({"text": "invoice"}), 3),
    (MESSAGES + "?" + urlencode(WINDOW), 3),
    ("/api/moderation/chats/messages/", 3),
    (REPORTS, 3),
    (REPORTS + "?" + urlencode({"state": "open"}), 3),
    (REPORTS + "?" + urlencode({"namespace": "micro", "state": "open"}), 4),
    ("/api/moderation/chats/reports/", 3),
]


@pytest.mark.parametrize("path,queries", API_PAGES)
def test_an_api_page_runs_the_same_queries_for_5_rows_or_50(browser, path, queries):
    if not exists(path.split("?")[0]):
        pytest.skip(f"no {path} in this code")
    make(5)
    small, response = count_queries(browser, path)
    assert len(response.json()["results"]) >= 5
    make(45, round=1)  # the same namespace: 50 rows now
    large, response = count_queries(browser, path)
    assert len(response.json()["results"]) > 5
    assert small == large == queries, (small, large)
    # And the deeper page, through the cursor, is no different.
    link = response.json()["next"]
    if link:
        assert count_queries(browser, link.split("testserver", 1)[-1])[0] == queries


# ---------------------------------------------------------------- the review queue (admin)

QUEUE = "/admin/streams/reportedmessage/"


def queue_pages(namespace_id):
    """[(label, path)]: the queue's pages that admin_timings times."""
    item = StreamReportedMessage.objects.order_by("-open_reports", "pk").first()
    return [
        ("default", QUEUE),
        ("page 2", QUEUE + "?p=2"),
        ("namespace", QUEUE + "?" + urlencode({"namespace__id__exact": namespace_id})),
        ("reason", QUEUE + "?" + urlencode({"reason": "harassment"})),
        ("dismissed", QUEUE + "?" + urlencode({"state": "dismissed"})),
        ("all", QUEUE + "?" + urlencode({"state": "all"})),
        ("chats", "/admin/chats/reportedmessage/"),
        ("item", f"{QUEUE}{item.pk}/change/"),
        ("reports", "/admin/streams/report/"),
    ]


# The session, the user, the namespaces (the namespace filter), the capped
# count, the page of items with their message, parent, namespace and reviewer.
QUEUE_QUERIES = {
    "default": 5,
    "page 2": 5,
    "namespace": 5,
    "reason": 5,
    "dismissed": 5,
    "all": 5,
    "chats": 5,
    # the session, the user, the item (with its message, parent, namespace,
    # reviewer), its newest reports
    "item": 4,
    # the session, the user, the namespaces, the capped count, the page
    "reports": 5,
}


def test_the_review_queue_runs_the_same_queries_for_5_rows_or_50(browser):
    if not admin.site.is_registered(StreamReportedMessage):
        pytest.skip("no review queue admin in this code")
    namespace = make(5)
    small = {label: count_queries(browser, path)[0] for label, path in queue_pages(namespace.pk)}
    make(45, round=1)  # and the most reported item has more reports now
    large = {label: count_queries(browser, path)[0] for label, path in queue_pages(namespace.pk)}
    assert small == large == QUEUE_QUERIES


# ---------------------------------------------------------------- PostgreSQL plans

postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


def plan_of(sql):
    """The plan of a captured query, with sequential scans and sorts priced out
    (on a table this small any plan would do): only an index that both finds
    the rows and gives their order avoids a Sort."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def sorts_every_row(plan):
    """A Sort node (not an Incremental Sort, which sorts only the rows of one
    value of the index's leading order column: ties)."""
    return re.search(r"(?<!Incremental )Sort  \(", plan) is not None


def page_query(browser, path, table):
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(path).status_code == 200
    found = [
        q["sql"]
        for q in queries.captured_queries
        if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"] and not q["sql"].startswith("SELECT COUNT")
    ]
    assert found, [q["sql"] for q in queries.captured_queries]
    return found[-1]


@postgres_only
def test_the_report_list_reads_the_created_at_index_in_order(browser):
    if not exists(REPORTS):
        pytest.skip(f"no {REPORTS} in this code")
    make(20)
    plan = plan_of(page_query(browser, REPORTS, "streams_report"))
    assert "streams_report_created_idx" in plan and "Sort" not in plan, plan
    # A deeper page too: the cursor is a range on the same index.
    link = browser.get(REPORTS + "?page_size=5").json()["next"]
    plan = plan_of(page_query(browser, link.split("testserver", 1)[-1], "streams_report"))
    assert "streams_report_created_idx" in plan and "Sort" not in plan, plan


@postgres_only
@pytest.mark.parametrize(
    "query,index",
    [
        ("", "streams_queue_idx"),  # open, oldest first: the default
        ("?state=dismissed", "streams_queue_reviewed_idx"),  # newest reviewed first
        ("?state=all", "streams_queue_all_idx"),  # never reviewed first, then newest reviewed
    ],
)
def test_the_review_queue_reads_its_index_in_order(browser, query, index):
    if not admin.site.is_registered(StreamReportedMessage):
        pytest.skip("no review queue admin in this code")
    make(20)
    plan = plan_of(page_query(browser, QUEUE + query, "streams_reportedmessage"))
    assert index in plan and not sorts_every_row(plan), plan
    if "Incremental Sort" in plan:  # the default's ties of first_reported_at, by message id
        assert "Presorted Key: streams_reportedmessage.first_reported_at" in plan, plan


# ---------------------------------------------------------------- a deep page: the offset on the index alone


def test_a_deep_queue_page_skips_on_the_index_and_joins_only_its_rows(browser, monkeypatch):
    if not admin.site.is_registered(StreamReportedMessage):
        pytest.skip("no review queue admin in this code")
    make(30)
    monkeypatch.setattr(admin.site.get_model_admin(StreamReportedMessage), "list_per_page", 7)
    expected = list(
        StreamReportedMessage.objects.filter(state="open").order_by("first_reported_at", "pk").values_list("pk")
    )
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(QUEUE + "?p=3")
    assert [(item.pk,) for item in response.context["cl"].result_list] == expected[14:21]
    page = [q["sql"] for q in queries.captured_queries if 'JOIN "streams_message"' in q["sql"]]
    assert len(page) == 1 and "IN (SELECT" in page[0] and "OFFSET 14" in page[0], page
    # The first page is a plain LIMIT.
    with CaptureQueriesContext(connection) as queries:
        browser.get(QUEUE)
    assert not [q for q in queries.captured_queries if "OFFSET" in q["sql"]]
