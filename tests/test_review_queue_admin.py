"""The review queue in Django admin (issue 12), with Django's test client:
one row per reported message, oldest open first, its filters and search;
confirm, dismiss and the author clean-up, in bulk and from an item's page,
each asking a reason and going through convoproject.moderation.reports (so
logged); the read-only reports list; what each role may do; the namespace's
auto-hide threshold set in admin; and the queue's query count, the same for
5 rows and 50."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse
from django.utils.http import urlencode

from chats import services as chat_services
from chats.models import Message as ChatMessage
from chats.models import ReportedMessage as ChatItem
from convoproject.moderation import reports
from convoproject.moderation.models import ModerationEvent
from convoproject.tenants.models import Namespace
from streams import services as stream_services
from streams.models import Message, Report, ReportedMessage
from tests.support.factories import BASE, MINUTE, add, chat, conversation, ns
from tests.support.staff import logged_in, url

QUEUE = "admin:streams_reportedmessage_changelist"
CHAT_QUEUE = "admin:chats_reportedmessage_changelist"
REPORTS = "admin:streams_report_changelist"


# ---------------------------------------------------------------- users and data


def listed(response):
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return [str(item.pk) for item in response.context["cl"].result_list]


def notices(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def html(response):
    return response.content.decode()


def report(message, reporter, reason="spam", description=None):
    """A report filed as the API files it (the service's report_message)."""
    services = stream_services if isinstance(message, Message) else chat_services
    namespace = Namespace.objects.get(pk=message.namespace_id)
    return services.report_message(
        namespace, message_id=message.pk, reporter_id=reporter, reason=reason, description=description
    )


@pytest.fixture
def queue(db):
    """micro: three messages of a conversation, two of them reported:
    `first` reported first (by two users: spam, then other), `second` by one
    for harassment, `quiet` never; other: one message reported."""
    micro, other = ns("micro"), ns("other")
    conv = conversation(micro, topic="Weekend plans")
    first, second, quiet = add(conv, 3, author="spammer", text="buy pills {i}")
    elsewhere = add(conversation(other, topic="Elsewhere"), 1, author="troll")[0]
    report(first, "rita", "spam")
    report(second, "tom", "harassment")
    report(first, "tom", "other", "ads again")
    report(elsewhere, "uma", "inappropriate")
    return {"micro": micro, "other": other, "conv": conv, "first": first, "second": second, "quiet": quiet,
            "elsewhere": elsewhere}  # fmt: skip


def post_action(browser, action, items, reason=None, query=""):
    """Post a changelist action on the items; with a reason, its confirmation too."""
    data = {"action": action, "_selected_action": [str(i.pk) for i in items], "select_across": "0", "index": "0"}
    if reason is not None:
        data = {**data, "confirm": "yes", "reason": reason}
        del data["index"]
    return browser.post(reverse(QUEUE) + query, data)


# ---------------------------------------------------------------- the list


def test_the_queue_lists_one_row_per_reported_message_oldest_open_first(queue, moderator):
    response = logged_in(moderator).get(reverse(QUEUE))
    assert listed(response) == [str(queue["first"].pk), str(queue["second"].pk), str(queue["elsewhere"].pk)]
    page = html(response)
    assert "<h1>Review queue</h1>" in page
    first = ReportedMessage.objects.get(pk=queue["first"].pk)
    assert (first.open_reports, first.reasons) == (2, "spam,other")
    assert "Spam, Other" in page
    # The author links to the message admin's list of their messages in the namespace.
    author_url = url("admin:streams_message_changelist", author_id="spammer", namespace__id__exact=queue["micro"].pk)
    assert author_url.replace("&", "&amp;") in page
    assert reverse("admin:streams_conversation_change", args=[queue["conv"].pk]) in page
    assert reverse("admin:streams_reportedmessage_change", args=[queue["first"].pk]) in page


def test_the_state_filter_shows_open_by_default_and_resolved_on_request(queue, superuser):
    reports.dismiss_reports(Message.objects.filter(pk=queue["second"].pk), actor=superuser, reason="banter")
    reports.confirm_reports(Message.objects.filter(pk=queue["elsewhere"].pk), actor=superuser, reason="rude")
    browser = logged_in(superuser)
    assert listed(browser.get(reverse(QUEUE))) == [str(queue["first"].pk)]
    assert listed(browser.get(url(QUEUE, state="open"))) == [str(queue["first"].pk)]
    assert listed(browser.get(url(QUEUE, state="dismissed"))) == [str(queue["second"].pk)]
    confirmed = browser.get(url(QUEUE, state="actioned"))
    assert listed(confirmed) == [str(queue["elsewhere"].pk)]
    assert "Confirmed by root at " in html(confirmed)
    assert listed(browser.get(url(QUEUE, state="all")))[0] == str(queue["first"].pk)  # open first
    assert len(listed(browser.get(url(QUEUE, state="all")))) == 3


def test_filters_by_namespace_reason_and_date_and_search_by_author_or_message(queue, moderator):
    browser = logged_in(moderator)
    first, second, elsewhere = (str(queue[k].pk) for k in ("first", "second", "elsewhere"))
    assert listed(browser.get(url(QUEUE, namespace__id__exact=queue["other"].pk))) == [elsewhere]
    assert listed(browser.get(url(QUEUE, reason="spam"))) == [first]
    assert listed(browser.get(url(QUEUE, reason="other"))) == [first]
    assert listed(browser.get(url(QUEUE, reason="harassment"))) == [second]
    assert listed(browser.get(url(QUEUE, reason="inappropriate"))) == [elsewhere]
    today = datetime.datetime.now(datetime.UTC).date()
    tomorrow = today + datetime.timedelta(days=1)
    day = {"first_reported_at__gte": f"{today} 00:00:00+00:00", "first_reported_at__lt": f"{tomorrow} 00:00:00+00:00"}
    assert len(listed(browser.get(url(QUEUE, **day)))) == 3
    assert listed(browser.get(url(QUEUE, first_reported_at__lt="2000-01-01 00:00:00+00:00"))) == []
    assert listed(browser.get(url(QUEUE, q="troll"))) == [elsewhere]
    assert listed(browser.get(url(QUEUE, q=f" {second} "))) == [second]
    assert listed(browser.get(url(QUEUE, q="nobody"))) == []


def test_an_automatically_hidden_message_is_marked(queue, moderator):
    Namespace.objects.filter(pk=queue["micro"].pk).update(auto_hide_threshold=2)
    report(queue["second"], "uma", "spam")  # its second reporter: at the threshold
    page = html(logged_in(moderator).get(reverse(QUEUE)))
    assert page.count('class="auto-hidden"') == 1
    assert "Hidden automatically" in page


# ---------------------------------------------------------------- bulk actions


def test_confirm_selected_asks_a_reason_then_hides_and_logs(queue, moderator):
    browser = logged_in(moderator)
    page = post_action(browser, "confirm_selected", [queue["first"], queue["second"]])
    assert page.status_code == 200
    assert page.context["title"] == "Confirm reports"
    assert "Confirm the open reports of 2 reported message(s)?" in html(page)
    assert not Message.objects.filter(hidden=True).exists()
    refused = post_action(browser, "confirm_selected", [queue["first"]], reason="  ")
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    done = post_action(browser, "confirm_selected", [queue["first"], queue["second"]], reason="spam, as reported")
    assert done.status_code == 302
    assert notices(done) == ["Confirmed the reports of 2 message(s): hidden."]
    assert set(Message.objects.filter(hidden=True).values_list("pk", flat=True)) == {
        queue["first"].pk,
        queue["second"].pk,
    }
    assert set(Report.objects.filter(message=queue["first"]).values_list("state", flat=True)) == {"actioned"}
    event = ModerationEvent.objects.get(action="confirm_reports")
    assert (event.actor, event.count, event.reason, event.details["messages"]) == (moderator, 3, "spam, as reported", 2)
    assert ModerationEvent.objects.filter(action="hide").count() == 1


def test_dismiss_selected_shows_an_automatically_hidden_message_again(queue, moderator):
    Namespace.objects.filter(pk=queue["micro"].pk).update(auto_hide_threshold=2)
    report(queue["second"], "uma", "spam")
    assert Message.objects.get(pk=queue["second"].pk).hidden
    done = post_action(logged_in(moderator), "dismiss_selected", [queue["second"]], reason="a joke among friends")
    assert notices(done) == ["Dismissed the reports of 1 message(s)."]
    assert not Message.objects.get(pk=queue["second"].pk).hidden
    item = ReportedMessage.objects.get(pk=queue["second"].pk)
    assert (item.state, item.reviewed_by, item.hidden_automatically) == ("dismissed", moderator, False)
    assert ModerationEvent.objects.filter(action="dismiss_reports").count() == 1


def test_select_across_confirms_the_whole_filtered_queue(queue, moderator):
    browser = logged_in(moderator)
    data = {"action": "confirm_selected", "_selected_action": [str(queue["first"].pk)], "select_across": "1"}
    query = "?" + urlencode({"namespace__id__exact": queue["micro"].pk})
    done = browser.post(reverse(QUEUE) + query, {**data, "confirm": "yes", "reason": "spam wave"})
    assert notices(done) == ["Confirmed the reports of 2 message(s): hidden."]
    assert not Message.objects.get(pk=queue["elsewhere"].pk).hidden


def test_the_clean_up_action_hands_the_author_to_the_message_admins_clean_up(queue, moderator):
    browser = logged_in(moderator)
    response = post_action(browser, "clean_up_author", [queue["first"], queue["second"]])
    clean_up = reverse("admin:streams_message_clean_up_author")
    assert response.status_code == 302 and response["Location"].startswith(clean_up)
    page = browser.get(response["Location"])
    assert page.status_code == 200 and "spammer has 3 message(s)" in html(page)
    # Two authors at once: the message admin's own answer.
    mixed = post_action(browser, "clean_up_author", [queue["first"], queue["elsewhere"]])
    assert notices(mixed) == ["Select messages of exactly one author in one namespace."]


# ---------------------------------------------------------------- an item's page


def test_an_items_page_shows_the_message_every_report_and_the_buttons(queue, moderator, superuser):
    reports.dismiss_reports(Message.objects.filter(pk=queue["first"].pk), actor=superuser, reason="not spam")
    report(queue["first"], "vic", "harassment", None)  # a new round
    page = logged_in(moderator).get(reverse("admin:streams_reportedmessage_change", args=[queue["first"].pk]))
    assert page.status_code == 200
    text = html(page)
    assert "buy pills 0" in text and "spammer" in text and "Weekend plans" in text
    for reporter in ("rita", "tom", "vic"):
        assert f"<td>{reporter}</td>" in text
    assert "ads again" in text and "root at " in text and ": not spam" in text
    pk = queue["first"].pk
    for name in ("confirm", "dismiss", "clean_up_author"):
        assert reverse(f"admin:streams_reportedmessage_{name}", args=[pk]) in text


def test_the_confirm_button_asks_a_reason_then_confirms_one_item(queue, moderator):
    browser = logged_in(moderator)
    path = reverse("admin:streams_reportedmessage_confirm", args=[queue["first"].pk])
    page = browser.get(path)
    assert page.status_code == 200 and "Confirm the open reports of 1 reported message(s)?" in html(page)
    assert "buy pills 0 (2 reporter(s): Spam, Other)" in html(page)
    assert browser.post(path, {"confirm": "yes", "reason": ""}).status_code == 200
    done = browser.post(path, {"confirm": "yes", "reason": "ads"})
    assert done.status_code == 302 and done["Location"] == reverse(QUEUE)
    assert notices(done) == ["Confirmed the reports of 1 message(s): hidden."]
    assert Message.objects.get(pk=queue["first"].pk).hidden
    assert not Message.objects.get(pk=queue["second"].pk).hidden
    # A resolved item offers no confirm or dismiss; a second confirm finds nothing open.
    text = html(browser.get(reverse("admin:streams_reportedmessage_change", args=[queue["first"].pk])))
    assert path not in text
    again = browser.post(path, {"confirm": "yes", "reason": "ads"})
    assert notices(again) == ["None of the selected messages has open reports."]


def test_the_dismiss_and_clean_up_buttons(queue, moderator):
    browser = logged_in(moderator)
    path = reverse("admin:streams_reportedmessage_dismiss", args=[queue["second"].pk])
    done = browser.post(path, {"confirm": "yes", "reason": "fine"})
    assert notices(done) == ["Dismissed the reports of 1 message(s)."]
    assert ReportedMessage.objects.get(pk=queue["second"].pk).state == "dismissed"
    clean_up = browser.get(reverse("admin:streams_reportedmessage_clean_up_author", args=[queue["second"].pk]))
    assert clean_up.status_code == 302
    assert clean_up["Location"].startswith(reverse("admin:streams_message_clean_up_author"))


def test_the_chats_queue_works_the_same(db, moderator):
    room = chat(ns("micro"), user_ids=("rita", "sam"))
    message = add(room, 1, author="sam", text="chat spam")[0]
    report(message, "rita", "spam")
    browser = logged_in(moderator)
    response = browser.get(reverse(CHAT_QUEUE))
    assert listed(response) == [str(message.pk)]
    assert reverse("admin:chats_chat_change", args=[room.pk]) in html(response)
    data = {"action": "confirm_selected", "_selected_action": [str(message.pk)], "confirm": "yes", "reason": "spam"}
    assert notices(browser.post(reverse(CHAT_QUEUE), data)) == ["Confirmed the reports of 1 message(s): hidden."]
    assert ChatMessage.objects.get(pk=message.pk).hidden and ChatItem.objects.get().state == "actioned"


# ---------------------------------------------------------------- the reports list


def test_the_reports_list_is_read_only_with_filters_and_exact_search(queue, moderator):
    browser = logged_in(moderator)
    everything = listed(browser.get(reverse(REPORTS)))
    assert len(everything) == 4
    by_tom = Report.objects.filter(reporter_id="tom")
    assert sorted(listed(browser.get(url(REPORTS, q="tom")))) == sorted(str(r.pk) for r in by_tom)
    of_first = Report.objects.filter(message=queue["first"])
    assert sorted(listed(browser.get(url(REPORTS, q=str(queue["first"].pk))))) == sorted(str(r.pk) for r in of_first)
    assert len(listed(browser.get(url(REPORTS, reason="spam")))) == 1
    assert len(listed(browser.get(url(REPORTS, state="open")))) == 4
    assert len(listed(browser.get(url(REPORTS, namespace__id__exact=queue["other"].pk)))) == 1
    response = browser.get(url(REPORTS, created_at__gte="2000-01-01 00:00:00+00:00"))
    assert len(listed(response)) == 4 and not response.context["action_form"]
    one = of_first.first()
    page = browser.get(reverse("admin:streams_report_change", args=[one.pk]))
    assert page.status_code == 200
    assert reverse("admin:streams_reportedmessage_change", args=[queue["first"].pk]) in html(page)


# ---------------------------------------------------------------- roles


def _pages(world):
    """(label, URL, status for superuser, moderator, plain staff)."""
    first, report_pk = world["first"].pk, Report.objects.filter(message=world["first"]).first().pk
    ok, no = 200, 403
    return [
        ("queue", reverse(QUEUE), ok, ok, no),
        ("chats queue", reverse(CHAT_QUEUE), ok, ok, no),
        ("item page", reverse("admin:streams_reportedmessage_change", args=[first]), ok, ok, no),
        ("item add", reverse("admin:streams_reportedmessage_add"), no, no, no),
        ("item delete", reverse("admin:streams_reportedmessage_delete", args=[first]), no, no, no),
        ("confirm page", reverse("admin:streams_reportedmessage_confirm", args=[first]), ok, ok, no),
        ("dismiss page", reverse("admin:streams_reportedmessage_dismiss", args=[first]), ok, ok, no),
        ("clean-up", reverse("admin:streams_reportedmessage_clean_up_author", args=[first]), 302, 302, no),
        ("reports", reverse(REPORTS), ok, ok, no),
        ("report page", reverse("admin:streams_report_change", args=[report_pk]), ok, ok, no),
        ("report add", reverse("admin:streams_report_add"), no, no, no),
        ("report delete", reverse("admin:streams_report_delete", args=[report_pk]), no, no, no),
    ]


@pytest.mark.parametrize("role", ["superuser", "moderator", "staff"])
def test_each_role_sees_and_does_what_the_issue_says(queue, superuser, moderator, staff, role):
    user = {"superuser": superuser, "moderator": moderator, "staff": staff}[role]
    column = {"superuser": 2, "moderator": 3, "staff": 4}[role]
    browser = logged_in(user)
    for page in _pages(queue):
        assert browser.get(page[1]).status_code == page[column], (role, page[0])
    # Nobody gets Django's delete action; actions need moderate_message.
    response = browser.get(reverse(QUEUE))
    if role == "staff":
        assert response.status_code == 403
        refused = post_action(browser, "confirm_selected", [queue["first"]], reason="x")
        assert refused.status_code == 403 and not Message.objects.filter(hidden=True).exists()
    else:
        choices = [name for name, _ in response.context["action_form"].fields["action"].choices if name]
        assert choices == ["confirm_selected", "dismiss_selected", "clean_up_author"]


def test_viewing_without_moderate_message_offers_no_action(queue):
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)

    viewer.user_permissions.add(
        Permission.objects.get(codename="view_reportedmessage", content_type__app_label="streams")
    )
    browser = logged_in(viewer)
    response = browser.get(reverse(QUEUE))
    assert len(listed(response)) == 3 and response.context["action_form"] is None
    assert browser.get(reverse("admin:streams_reportedmessage_confirm", args=[queue["first"].pk])).status_code == 403
    page = html(browser.get(reverse("admin:streams_reportedmessage_change", args=[queue["first"].pk])))
    assert reverse("admin:streams_reportedmessage_confirm", args=[queue["first"].pk]) not in page
    refused = post_action(browser, "confirm_selected", [queue["first"]], reason="x")
    assert not Message.objects.filter(hidden=True).exists() and refused.status_code in (200, 302)


# ---------------------------------------------------------------- the threshold, in the namespace admin


def test_a_superuser_sets_the_threshold_and_reports_then_hide_automatically(db, superuser, moderator):
    micro = ns("micro")
    browser = logged_in(superuser)
    path = reverse("admin:tenants_namespace_change", args=[micro.pk])
    refused = browser.post(path, {"name": "micro", "auto_hide_threshold": "0"})
    assert refused.status_code == 200 and "greater than or equal to 1" in html(refused)
    assert Namespace.objects.get(pk=micro.pk).auto_hide_threshold is None
    saved = browser.post(path, {"name": "micro", "auto_hide_threshold": "2"})
    assert saved.status_code == 302 and Namespace.objects.get(pk=micro.pk).auto_hide_threshold == 2
    assert '<td class="field-auto_hide_threshold">2</td>' in html(
        browser.get(reverse("admin:tenants_namespace_changelist"))
    )

    message = add(conversation(micro), 1, author="sam")[0]
    stream_services.report_message(micro, message_id=message.pk, reporter_id="rita", reason="spam")
    assert not Message.objects.get(pk=message.pk).hidden
    stream_services.report_message(micro, message_id=message.pk, reporter_id="tom", reason="spam")
    assert Message.objects.get(pk=message.pk).hidden
    assert ModerationEvent.objects.filter(action="auto_hide").count() == 1
    assert "Hidden automatically" in html(logged_in(moderator).get(reverse(QUEUE)))


# ---------------------------------------------------------------- query counts


# After one warm-up request: the session, the user, the namespaces of the
# namespace filter, the capped count, and the page of rows (with message,
# conversation, namespace and reviewer joined). A moderator adds the user's
# and the group's permissions.
QUEUE_QUERIES = 5
MODERATOR_EXTRA_QUERIES = 2


def _reported(total):
    micro = ns("micro")
    conv = conversation(micro)
    rows = add(conv, total, author="spammer", start=BASE, step=MINUTE)
    for i, message in enumerate(rows):
        report(message, f"user-{i % 7}", ["spam", "harassment", "other"][i % 3], "why" if i % 3 == 2 else None)
    return micro


@pytest.mark.parametrize("total", [5, 50])
def test_the_queue_runs_a_fixed_number_of_queries(db, superuser, moderator, assert_queries, total):
    micro = _reported(total)
    queries = [{}, {"namespace__id__exact": micro.pk}, {"reason": "spam"}, {"state": "all"}, {"q": "spammer"}]
    for user, expected in [(superuser, QUEUE_QUERIES), (moderator, QUEUE_QUERIES + MODERATOR_EXTRA_QUERIES)]:
        browser = logged_in(user)
        for query in queries:
            path = url(QUEUE, **query)
            assert browser.get(path).status_code == 200  # warm-up
            with assert_queries(expected):
                response = browser.get(path)
            assert len(response.context["cl"].result_list) == (total if query.get("reason") != "spam" else
                                                                 len(range(0, total, 3)))  # fmt: skip


@pytest.mark.parametrize("total", [5, 50])
def test_an_items_page_runs_a_fixed_number_of_queries(db, superuser, moderator, assert_queries, total):
    """The session, the user, the item (with its message, conversation,
    namespace and reviewer), its reports (with who resolved them)."""
    message = add(conversation(ns("micro")), 1, author="spammer")[0]
    for i in range(total):
        report(message, f"user-{i}", "other", f"reason {i}")
    path = reverse("admin:streams_reportedmessage_change", args=[message.pk])
    for user, expected in [(superuser, 4), (moderator, 4 + MODERATOR_EXTRA_QUERIES)]:
        browser = logged_in(user)
        assert browser.get(path).status_code == 200  # warm-up
        with assert_queries(expected):
            response = browser.get(path)
        assert html(response).count("<td>reason ") == total


@pytest.mark.parametrize("total", [5, 50])
def test_the_reports_list_runs_a_fixed_number_of_queries(db, moderator, assert_queries, total):
    _reported(total)
    browser = logged_in(moderator)
    assert browser.get(reverse(REPORTS)).status_code == 200
    with assert_queries(QUEUE_QUERIES + MODERATOR_EXTRA_QUERIES):
        response = browser.get(reverse(REPORTS))
    assert len(response.context["cl"].result_list) == total


# ---------------------------------------------------------------- query plans


def _page_plan(browser, path):
    """The database's plan of the changelist's page query (its last query)."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert browser.get(path).status_code == 200
    sql = captured.captured_queries[-1]["sql"]
    assert "ORDER BY" in sql, sql
    with connection.cursor() as cursor:
        # Scans and whole sorts priced out, as tests/support/plans.py does: on
        # tables this small the planner could pick anything.
        cursor.execute("ANALYZE streams_reportedmessage")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "query, index",
    [
        ({}, "streams_queue_idx"),
        ({"namespace__id__exact": "NS"}, "streams_ns_queue_idx"),
    ],
)
@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans (SQLite keeps no statistics)")
def test_a_queue_page_walks_an_index_in_its_order(db, superuser, query, index):
    """The page is the first rows of an index walk, whatever the queue's size:
    no sort of the whole selection (PostgreSQL may finish the ties of
    first_reported_at by message id with an incremental sort, which reads
    only as far as the page)."""
    micro = _reported(5)
    for message in add(conversation(ns("other")), 40, author="troll"):
        report(message, "rita")
    reports.confirm_reports(Message.objects.filter(pk__in=Message.objects.values("pk")[:2]), actor=None, reason="x")
    path = url(QUEUE, **{k: (micro.pk if v == "NS" else v) for k, v in query.items()})
    plan = _page_plan(logged_in(superuser), path)
    assert index in plan, plan
    assert not re.search(r"(^|->)\s*Sort\s+\(", plan, re.MULTILINE), plan
