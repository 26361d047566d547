"""Time the moderation admin's pages as a logged-in superuser, with Django's
test Client against the configured database (DATABASE_URL). Run it with
`python manage.py admin_timings` (see docs/MODERATION_SCALE.md).

For each page: the median (and min, max) of --runs renders after one warm-up
render, the number of SQL queries, and the slowest query, whose plan is shown
(EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
The pages' parameters (the largest conversation and chat, a busy author) are
found in the data; search words come from bench.corpus, which `manage.py seed`
writes; the date filter's choices are Django's (today, the past 7 days, this
month, this year), so the data should end about now (seed's --end default).
"""

import base64
import datetime
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created
from django.db.models import Count
from django.test import Client
from django.test.utils import override_settings
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from bench import corpus
from chats.models import Chat
from chats.models import Message as ChatMessage
from chats.models import ReportedMessage as ChatReportedMessage
from convoproject.moderation.admin import CappedCountPaginator
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage
from streams.models import Report as StreamReport
from streams.models import ReportedMessage as StreamReportedMessage

BENCH_USER = "bench-admin"


@dataclass
class Query:
    sql: str
    params: object
    ms: float


@dataclass
class Result:
    label: str
    url: str
    times_ms: list = field(default_factory=list)
    queries: list = field(default_factory=list)  # of the last run
    plan: str = ""
    error: str = ""  # why the page could not be timed (a statement timeout, a status)
    skipped: bool = False  # the page does not exist in this code: error says why

    @property
    def median(self):
        return statistics.median(self.times_ms) if self.times_ms else float("inf")

    @property
    def slowest(self):
        return max(self.queries, key=lambda q: q.ms, default=None)


class QueryLog:
    """Every query run through Django's connection, with its time (an execute wrapper)."""

    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(Query(sql, params, (time.perf_counter() - started) * 1000))


def admin_url(model, view="changelist", *args, **query):
    url = reverse(admin_urlname(model._meta, view), args=args)
    return url + ("?" + urlencode(query) if query else "")


def largest_parent(message_model):
    row = (
        message_model.objects.values(message_model.PARENT)
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list(message_model.PARENT, "n")
        .first()
    )
    return row  # (parent id, count) or None


def busiest_author(message_model, namespace_id):
    return (
        message_model.objects.filter(namespace_id=namespace_id)
        .values("author_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("author_id", flat=True)
        .first()
    )


def date_filter_choices():
    """[(label, {sent_at__gte, sent_at__lt})]: the choices of Django's date
    filter (DateFieldListFilter), from midnight today in the current time zone."""
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + datetime.timedelta(days=1)
    month = today.replace(day=1)
    next_month = (month + datetime.timedelta(days=32)).replace(day=1)
    year = today.replace(month=1, day=1)
    windows = [
        ("today", today, tomorrow),
        ("past 7 days", today - datetime.timedelta(days=7), tomorrow),
        ("this month", month, next_month),
        ("this year", year, year.replace(year=year.year + 1)),
    ]
    return [(label, {"sent_at__gte": str(since), "sent_at__lt": str(until)}) for label, since, until in windows]


def pages(log=print):
    """[(label, url)] of the pages to time, with parameters found in the data."""
    found = largest_parent(StreamMessage)
    if found is None:
        raise RuntimeError("No Streams messages: seed first (python manage.py seed --settings=bench.settings ...).")
    conversation = Conversation.objects.get(pk=found[0])
    namespace_id = conversation.namespace_id
    author = busiest_author(StreamMessage, namespace_id)
    log(
        f"Streams: largest conversation {conversation.pk} ({found[1]:,} messages, namespace {namespace_id}); "
        f"busiest author {author}"
    )

    m = StreamMessage
    per_page = admin.site.get_model_admin(m).list_per_page
    last_page = max(1, -(-m.objects.order_by()[: CappedCountPaginator.CAP].count() // per_page))
    result = [
        ("streams: message list", admin_url(m)),
        (f"streams: list, page {last_page} (the last)", admin_url(m, p=last_page)),
        (f"streams: search common word {corpus.COMMON_WORD!r}", admin_url(m, q=corpus.COMMON_WORD)),
        (f"streams: search word {corpus.SOME_WORD!r}", admin_url(m, q=corpus.SOME_WORD)),
        (f"streams: search uncommon word {corpus.UNCOMMON_WORD!r}", admin_url(m, q=corpus.UNCOMMON_WORD)),
        (f"streams: search rare word {corpus.RARE_WORD!r}", admin_url(m, q=corpus.RARE_WORD)),
        (f"streams: search absent word {corpus.ABSENT_WORD!r}", admin_url(m, q=corpus.ABSENT_WORD)),
        ("streams: search author id", admin_url(m, q=author)),
        ("streams: filter namespace", admin_url(m, namespace__id__exact=namespace_id)),
        ("streams: filter state=hidden", admin_url(m, state="hidden")),
        *((f"streams: date filter {label}", admin_url(m, **query)) for label, query in date_filter_choices()),
        ("streams: author in namespace", admin_url(m, author_id=author, namespace__id__exact=namespace_id)),
        (
            "streams: messages of largest conversation",
            admin_url(m, conversation=conversation.pk, namespace__id__exact=namespace_id),
        ),
        ("streams: list with facet counts (opt-in)", admin_url(m, _facets="True")),
        ("streams: largest conversation page", admin_url(Conversation, "change", conversation.pk)),
        ("streams: largest conversation's delete page", admin_url(Conversation, "delete", conversation.pk)),
        ("streams: conversation list", admin_url(Conversation)),
        ("moderation log", admin_url(ModerationEvent)),
    ]
    found = largest_parent(ChatMessage)
    if found is not None:
        chat = Chat.objects.get(pk=found[0])
        log(f"Chats: largest chat {chat.pk} ({found[1]:,} messages, namespace {chat.namespace_id})")
        result += [
            ("chats: message list", admin_url(ChatMessage)),
            (f"chats: search word {corpus.SOME_WORD!r}", admin_url(ChatMessage, q=corpus.SOME_WORD)),
            ("chats: filter namespace", admin_url(ChatMessage, namespace__id__exact=chat.namespace_id)),
            ("chats: largest chat page", admin_url(Chat, "change", chat.pk)),
            ("chats: largest chat's delete page", admin_url(Chat, "delete", chat.pk)),
            ("chats: chat list", admin_url(Chat)),
        ]
    result += queue_pages(log)
    result += api_pages(log)
    return result


# ---------------------------------------------------------------- the review queue and the moderation API

API_DEEP_PAGES = 100  # how many `next` links a deep API page is


def skipped(label, why):
    """A page this code does not have: listed, not timed (url None)."""
    return (label, None, why)


def queue_pages(log=print):
    """The review queue (admin for ReportedMessage) and the Report admin: pages
    of the queue (default: open items, oldest first), filtered, an item's
    page; each skipped with a note when that admin is not registered."""
    item_model, result = StreamReportedMessage, []
    if not admin.site.is_registered(item_model):
        why = "no admin for streams.ReportedMessage in this code (the review queue)"
        return [skipped(f"queue: {label}", why) for label in ("streams default", "streams page 100", "chats default")]
    open_items = item_model.objects.filter(state="open")
    per_page = admin.site.get_model_admin(item_model).list_per_page
    deep = min(100, max(1, -(-open_items.count() // per_page)))
    item = open_items.order_by("-open_reports", "pk").first()
    namespace_id = item.namespace_id if item else Namespace.objects.order_by("pk").values_list("pk", flat=True).first()
    log(f"Review queue: {open_items.count():,} open Streams items; the most reported: {item and item.pk}")
    result += [
        ("queue: streams default (open, oldest first)", admin_url(item_model)),
        (f"queue: streams page {deep}", admin_url(item_model, p=deep)),
        ("queue: streams filter namespace", admin_url(item_model, namespace__id__exact=namespace_id)),
        ("queue: streams filter reason=harassment", admin_url(item_model, reason="harassment")),
        ("queue: streams filter state=dismissed", admin_url(item_model, state="dismissed")),
        ("queue: streams filter state=all", admin_url(item_model, state="all")),
        (
            "queue: streams first reported past 7 days",
            admin_url(item_model, **{k.replace("sent_at", "first_reported_at"): v for k, v in week()}),
        ),
    ]
    if item is not None:
        result.append(("queue: streams most reported item's page", admin_url(item_model, "change", item.pk)))
    if admin.site.is_registered(ChatReportedMessage):
        result.append(("queue: chats default", admin_url(ChatReportedMessage)))
    if admin.site.is_registered(StreamReport):
        result.append(("reports: streams report list", admin_url(StreamReport)))
    else:
        result.append(skipped("reports: streams report list", "no admin for streams.Report in this code"))
    return result


def week():
    return date_filter_choices()[1][1].items()


def api_client():
    client = Client()
    client.force_login(bench_user())
    return client


def api_exists(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def follow(client, url, pages):
    """The url of the page `pages` `next` links after `url` (or of the last one)."""
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for _ in range(pages):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:200]!r}")
            link = response.json().get("next")
            if not link:
                break
            parts = urlsplit(link)
            url = f"{parts.path}?{parts.query}"
    return url


def cursor_at(position):
    """A CursorPagination cursor (DRF's encoding) at a position: the page of the rows after it."""
    return base64.b64encode(urlencode({"p": str(position)}).encode("ascii")).decode("ascii")


def api_pages(log=print):
    """The moderation API's lists: the first page and a deep one (API_DEEP_PAGES
    `next` links on), with no filter and with the filters a moderator uses,
    and a cursor far back; skipped with a note when a route is missing."""
    messages_path, reports_path = "/api/moderation/streams/messages/", "/api/moderation/streams/reports/"
    result = []
    if not api_exists(messages_path):
        why = f"no {messages_path} in this code (the moderation API)"
        result.append(skipped("api: streams messages", why))
    else:
        result += api_message_pages(messages_path, log)
    if api_exists(reports_path):
        client = api_client()
        small = Namespace.objects.filter(name__startswith="bench-").order_by("-pk").values_list("name", flat=True)
        small = small.first() or "bench-1"
        result += [
            ("api: streams reports, first page", reports_path),
            (f"api: streams reports, page {API_DEEP_PAGES + 1}", follow(client, reports_path, API_DEEP_PAGES)),
            ("api: streams reports, open", reports_path + "?" + urlencode({"state": "open"})),
            ("api: streams reports, namespace (the smallest)", reports_path + "?" + urlencode({"namespace": small})),
            (
                "api: streams reports, namespace (the smallest), open",
                reports_path + "?" + urlencode({"namespace": small, "state": "open"}),
            ),
            ("api: streams reports, reason=harassment", reports_path + "?" + urlencode({"reason": "harassment"})),
        ]
    else:
        result.append(skipped("api: streams reports", f"no {reports_path} in this code"))
    return result


def api_message_pages(path, log):
    m = StreamMessage
    found = largest_parent(m)
    namespace = Namespace.objects.get(pk=Conversation.objects.get(pk=found[0]).namespace_id)
    author = busiest_author(m, namespace.pk)
    newest = m.objects.order_by("-sent_at").values_list("sent_at", flat=True).first()
    oldest = m.objects.order_by("sent_at").values_list("sent_at", flat=True).first()
    window_end = newest - (newest - oldest) / 2
    window = {
        "sent_after": (window_end - datetime.timedelta(days=30)).isoformat(),
        "sent_before": window_end.isoformat(),
    }
    far_back = oldest + (newest - oldest) / 20  # 95 % of the way back
    client = api_client()
    result = []
    for name, query in [
        ("no filter", {}),
        ("namespace+author_id", {"namespace": namespace.name, "author_id": author}),
        (f"text={corpus.SOME_WORD}", {"text": corpus.SOME_WORD}),
        ("sent_after/sent_before (30 days)", window),
    ]:
        first = path + ("?" + urlencode(query) if query else "")
        deep = follow(client, first, API_DEEP_PAGES)
        result += [(f"api: streams messages {name}, first page", first), (f"api: streams messages {name}, deep", deep)]
    log(f"API: deep pages are {API_DEEP_PAGES} `next` links on; far back is {far_back:%Y-%m-%d}")
    result += [
        (f"api: streams messages text={corpus.UNCOMMON_WORD}", path + "?" + urlencode({"text": corpus.UNCOMMON_WORD})),
        ("api: streams messages, cursor far back", path + "?" + urlencode({"cursor": cursor_at(far_back)})),
        (
            "api: streams messages namespace+author_id, cursor far back",
            path + "?" + urlencode({"namespace": namespace.name, "author_id": author, "cursor": cursor_at(far_back)}),
        ),
    ]
    return result


def bench_user():
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True}
    )
    if not (user.is_staff and user.is_superuser and user.is_active):
        raise RuntimeError(f"User {BENCH_USER!r} exists but is not an active superuser.")
    return user


def explain(query):
    if query is None:
        return ""
    if connection.vendor == "postgresql":
        sql, prefix = query.sql, "EXPLAIN (ANALYZE, BUFFERS) "
    elif connection.vendor == "sqlite":
        sql, prefix = query.sql, "EXPLAIN QUERY PLAN "
    else:
        return "(no EXPLAIN on this database)"
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, query.params)
        rows = cursor.fetchall()
    if connection.vendor == "sqlite":
        return "\n".join(" ".join(str(c) for c in row) for row in rows)
    return "\n".join(row[0] for row in rows)


def time_pages(page_list, runs=5, with_plans=True, progress=None, timeout_s=None):
    """Render each page once to warm up, then `runs` times, timed. On
    PostgreSQL a statement running past `timeout_s` is cancelled and the page
    reported as failed, so that one bad plan cannot hang the whole run."""
    client = Client()
    client.force_login(bench_user())

    def statement_timeout(sender=None, connection=connection, **kwargs):
        if timeout_s and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{int(timeout_s * 1000)}ms"])

    statement_timeout()  # this connection, and any that replaces it
    results = []
    connection_created.connect(statement_timeout)
    try:
        _time(client, page_list, runs, with_plans, progress, results)
    finally:
        connection_created.disconnect(statement_timeout)
    return results


def _time(client, page_list, runs, with_plans, progress, results):
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for label, url, *note in page_list:
            result = Result(label, url or "")
            if url is None:
                result.error, result.skipped = f"SKIPPED: {note[0]}", True
                results.append(result)
                if progress:
                    progress(result)
                continue
            try:
                for run in range(runs + 1):  # run 0 warms up
                    log = QueryLog()
                    with connection.execute_wrapper(log):
                        started = time.perf_counter()
                        response = client.get(url)
                        elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        hint = " (see the error logged above)" if response.status_code == 500 else ""
                        raise RuntimeError(f"{url} answered {response.status_code}{hint}")
                    if run:
                        result.times_ms.append(elapsed)
                        result.queries = log.queries
                if with_plans:
                    result.plan = explain(result.slowest)
            except (DatabaseError, RuntimeError) as error:
                result.error = " ".join(str(error).split())[:200]
                result.times_ms, result.queries = [], log.queries
            results.append(result)
            if progress:
                progress(result)


def table(results, target_ms=None):
    width = max(len(r.label) for r in results)
    head = f"{'page':<{width}}  {'median ms':>9}  {'min':>7}  {'max':>7}  {'queries':>7}  {'slowest q ms':>12}"
    lines = [head, "-" * len(head)]
    for r in results:
        if r.error:
            lines.append(f"{r.label:<{width}}  " + (r.error if r.skipped else f"FAILED: {r.error}"))
            continue
        slowest = r.slowest.ms if r.slowest else 0
        flag = "  OVER TARGET" if target_ms and r.median > target_ms else ""
        lines.append(
            f"{r.label:<{width}}  {r.median:9.1f}  {min(r.times_ms):7.1f}  {max(r.times_ms):7.1f}  "
            f"{len(r.queries):7d}  {slowest:12.1f}{flag}"
        )
    return "\n".join(lines)


def details(results):
    blocks = []
    for r in results:
        q = r.slowest
        if q is None or r.error:
            continue
        blocks.append(
            f"=== {r.label}\n{r.url}\nslowest query ({q.ms:.1f} ms of {len(r.queries)} queries):\n"
            f"{q.sql}\nparams: {q.params!r}\n" + (f"--- plan:\n{r.plan}\n" if r.plan else "")
        )
    return "\n".join(blocks)
