"""`manage.py seed --reports N` (bench): reports over the seeded messages of
both services, and the review queue built from them as
convoproject.moderation.reports keeps it."""

from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F

from bench.management.commands.seed import Command as SeedCommand
from bench.reports import REASONS
from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from chats.models import ReportedMessage as ChatReportedMessage
from streams.models import Message as StreamMessage
from streams.models import Report as StreamReport
from streams.models import ReportedMessage as StreamReportedMessage

SEED = ["--namespaces", "2", "--conversations", "6", "--chats", "8", "--messages", "1500", "--authors", "8"]
SEED += ["--days", "100", "--end", "2026-03-15T12:00:00+00:00", "--batch", "97"]
END = "2026-03-15 12:00:00+00:00"
SERVICES = [
    (StreamMessage, StreamReport, StreamReportedMessage),
    (ChatMessage, ChatReport, ChatReportedMessage),
]


def seed(*args):
    out = StringIO()
    call_command(SeedCommand(), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def seeded(db):
    return seed(*SEED, "--reports", "1000")


def check_invariants(Message, Report, Item):
    reports = list(Report.objects.select_related("message"))
    # One open report per reporter and message.
    open_pairs = Counter((r.message_id, r.reporter_id) for r in reports if r.state == "open")
    assert open_pairs and max(open_pairs.values()) == 1
    for r in reports:
        assert r.namespace_id == r.message.namespace_id
        assert getattr(r, f"{Report.PARENT}_id") == getattr(r.message, f"{Report.PARENT}_id")
        assert r.reporter_id != r.message.author_id
        assert r.message.sent_at < r.created_at <= r.message.sent_at.replace(year=2100)
        assert str(r.created_at) <= END
        assert r.reason in REASONS
        if r.state == "open":
            assert r.resolved_at is None and r.resolved_by_id is None and r.resolution_note == ""
        else:
            assert r.created_at <= r.resolved_at and str(r.resolved_at) <= END and r.resolution_note
            if r.state == "actioned":
                assert r.message.hidden
    # The queue: one item per reported message, matching its open reports.
    by_message = defaultdict(list)
    for r in reports:
        by_message[r.message_id].append(r)
    items = {item.pk: item for item in Item.objects.all()}
    assert set(items) == set(by_message)
    for message_id, message_reports in by_message.items():
        item, open_ = items[message_id], [r for r in message_reports if r.state == "open"]
        assert item.namespace_id == message_reports[0].namespace_id
        assert item.open_reports == len(open_) == len({r.reporter_id for r in open_})
        assert item.reasons == ",".join(reason for reason in REASONS if reason in {r.reason for r in open_})
        assert not item.hidden_automatically
        resolved = sorted((r for r in message_reports if r.state != "open"), key=lambda r: r.resolved_at)
        if open_:
            assert item.state == "open"
            assert item.first_reported_at == min(r.created_at for r in open_)
            assert item.last_reported_at == max(r.created_at for r in open_)
        else:
            assert item.state == resolved[-1].state
            assert item.first_reported_at is None and item.last_reported_at is None
        if resolved:
            assert (item.reviewed_at, item.reviewed_by_id) == (resolved[-1].resolved_at, resolved[-1].resolved_by_id)
        else:
            assert item.reviewed_at is None and item.reviewed_by_id is None
    return reports, items


def test_seed_reports_over_both_services_with_a_consistent_review_queue(seeded):
    assert StreamReport.objects.count() == 800 and ChatReport.objects.count() == 200  # 80/20
    assert "streams reports: 800" in seeded and "chats reports:   200" in seeded
    for Message, Report, Item in SERVICES:
        reports, items = check_invariants(Message, Report, Item)
        states = Counter(r.state for r in reports)
        assert 0.55 < states["open"] / len(reports) < 0.85, states
        assert states["actioned"] and states["dismissed"]
        assert {r.reason for r in reports} == set(REASONS)
        # Skewed: most reported messages have one reporter, some have many.
        per_message = Counter(r.message_id for r in reports)
        assert sum(n == 1 for n in per_message.values()) > len(per_message) / 2
        assert max(per_message.values()) >= 4
        assert Counter(item.state for item in items.values()).keys() == {"open", "actioned", "dismissed"}
    # Chat reporters are members of the chat.
    for report in ChatReport.objects.select_related("message__chat"):
        assert report.reporter_id in report.message.chat.user_ids
    # Some reports were resolved by a moderator, some by nobody.
    resolved = StreamReport.objects.exclude(state="open")
    assert resolved.filter(resolved_by=None).exists() and resolved.exclude(resolved_by=None).exists()
    # A queue item's namespace is its message's.
    assert not StreamReportedMessage.objects.exclude(namespace=F("message__namespace")).exists()


def test_the_same_arguments_make_the_same_reports(db):
    seed(*SEED, "--reports", "300")
    first = sorted(StreamReport.objects.values_list("id", "reporter_id", "state", "created_at"))
    for Message, Report, Item in SERVICES:
        Item.objects.all().delete()
        Report.objects.all().delete()
        Message.objects.update(hidden=False)
    # Later, over the messages already there: the same reports.
    out = seed("--reports-only", "--reports", "300")
    assert "Seeded 300 reports" in out
    assert sorted(StreamReport.objects.values_list("id", "reporter_id", "state", "created_at")) == first
    for service in SERVICES:
        check_invariants(*service)
    with pytest.raises(CommandError, match="No seeded messages without reports"):
        seed("--reports-only", "--reports", "10")


def test_reports_only_to_the_namespaces_appended(seeded):
    seed(*SEED, "--append", "--reports", "100")
    assert StreamReport.objects.count() == 880 and ChatReport.objects.count() == 220
    counts = dict(StreamReport.objects.values_list("namespace__name").annotate(n=Count("pk")))
    assert counts["bench-3"] + counts.get("bench-4", 0) == 80
    for service in SERVICES:
        check_invariants(*service)
