"""Reports and the review queue for `manage.py seed --reports N` (see
docs/MODERATION_SCALE.md): N reports over the seeded messages of both
services, then each service's queue items (ReportedMessage) built from them in
one INSERT ... SELECT ... GROUP BY, as convoproject.moderation.reports would
have kept them.

What the reports look like:
- Streams get (1 - chat share) of them, Chats the rest (80/20 by default).
- The reported messages are a sample of the namespaces' messages, drawn from
  the primary key index (the ids are random), about 1 in 7 of them a
  spammer's. Most reported messages have one reporter, some a few, a few
  tens (spam more often); a chat's reporters are its members (not the
  author), a conversation's are the namespace's users and readers.
- Each message's reports have a dominant reason (spam for a spammer's).
- About 70 % of the messages keep their reports open; the others were
  resolved in one go, actioned (the message was hidden, as a confirmation
  does) or dismissed, with resolved_at, resolved_by (a bench moderator or
  nobody) and a note; some of those were reported again since (open).
- A report is made after its message (minutes to days), a resolution after
  its reports, all before --end.
- One open report per reporter and message (the partial unique index).
"""

import datetime
import itertools
import math
import uuid

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from convoproject.messaging.models import Reason

REPORT_COLUMNS = [
    "id",
    "namespace_id",
    "message_id",
    "reporter_id",
    "reason",
    "description",
    "created_at",
    "state",
    "resolved_at",
    "resolved_by_id",
    "resolution_note",
]
REASONS = tuple(Reason.values)  # in the order a queue item lists them
REASON_WEIGHTS = list(itertools.accumulate([0.35, 0.25, 0.25, 0.15]))
READERS = 3000  # per namespace: users who read and report, besides the authors
OPEN_SHARE = 0.7  # of the reported messages (so about 70 % of the reports)
ACTIONED_SHARE = 0.4  # of the resolved ones; the others are dismissed
REPORTED_AGAIN = 0.15  # of the resolved ones: open reports since
SPAM_CANDIDATES = 6  # 1 in SPAM_CANDIDATES sampled messages is a spammer's
MODERATORS = ("bench-moderator-1", "bench-moderator-2", "bench-moderator-3")
NOTES = ("spam, as reported", "not a violation", "duplicate report", "harassment confirmed", "context is fine")
DESCRIPTIONS = ("", "", "", "", "keeps posting this", "offensive", "scam link", "please check")
HIDDEN_REASON = "Reports confirmed (seeded)"


def report_columns(Report) -> list[str]:
    """The columns of a seeded report's row: REPORT_COLUMNS, then its message's
    conversation or chat (the report's copy, Report.PARENT)."""
    return [*REPORT_COLUMNS, f"{Report.PARENT}_id"]


def reporter_count(rng, spam):
    """How many users report a message: mostly one, sometimes tens."""
    r = rng.random()
    if spam:
        if r < 0.5:
            return rng.randint(1, 3)
        return rng.randint(4, 15) if r < 0.85 else rng.randint(16, 60)
    if r < 0.8:
        return 1
    if r < 0.95:
        return rng.randint(2, 3)
    return rng.randint(4, 10) if r < 0.99 else rng.randint(11, 40)


class ReportSeeder:
    def __init__(self, *, rng, namespaces, end, write, batch, progress):
        self.rng, self.namespaces, self.end = rng, namespaces, end
        self.write, self.batch, self.progress = write, batch, progress
        self.namespace_ids = [ns.pk for ns in namespaces]
        self.moderators = [None, *self.moderator_ids()]
        self.readers = {
            ns.pk: [f"{ns.name}-user{k:03d}" for k in range(50)] + [f"{ns.name}-reader{k:04d}" for k in range(READERS)]
            for ns in namespaces
        }

    def moderator_ids(self):
        User = get_user_model()
        ids = []
        for name in MODERATORS:
            user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
            ids.append(user.pk)
        return ids

    def uuid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # ------------------------------------------------------------ which messages

    def candidates(self, model, count):
        """Up to `count` messages of the namespaces, (id, namespace_id, sent_at,
        author_id, parent_id), in a random order: a run of the primary key
        index from a random id (wrapping around), and a run of spammers'."""
        columns = ("id", "namespace_id", "sent_at", "author_id", f"{model.PARENT}_id")
        messages = model.objects.filter(namespace_id__in=self.namespace_ids)
        spammers = [f"{ns.name}-spammer" for ns in self.namespaces]

        def run(queryset, n):
            start = self.uuid()
            rows = list(queryset.filter(id__gte=start).order_by("id").values_list(*columns)[:n])
            if len(rows) < n:
                rows += queryset.filter(id__lt=start).order_by("id").values_list(*columns)[: n - len(rows)]
            return rows

        rows = {row[0]: row for row in run(messages.filter(author_id__in=spammers), count // SPAM_CANDIDATES)}
        for row in run(messages, count):
            rows.setdefault(row[0], row)
        ordered = sorted(rows.values())
        self.rng.shuffle(ordered)
        return ordered

    # ------------------------------------------------------------ the reports

    def when(self, after, mean_seconds):
        """A moment after `after` (an exponential delay of that mean, at least a
        second), not after --end."""
        delay = datetime.timedelta(seconds=1 + self.rng.expovariate(1 / mean_seconds))
        return min(after + delay, self.end)

    def reporters(self, model, message, members, n):
        _, namespace_id, _, author, parent = message
        pool = members[parent] if members is not None else self.readers[namespace_id]
        pool = [user for user in pool if user != author]
        return self.rng.sample(pool, min(n, len(pool)))

    def round_of(self, message, reporters, after, reason, state, resolve):
        rng = self.rng
        message_id, namespace_id, parent_id = message[0], message[1], message[4]
        made = [
            [
                self.uuid(),
                namespace_id,
                message_id,
                reporter,
                reason if rng.random() < 0.7 else rng.choices(REASONS, cum_weights=REASON_WEIGHTS)[0],
                rng.choice(DESCRIPTIONS),
                self.when(after, 6 * 3600),
                state,
                None,
                None,
                "",
                parent_id,
            ]
            for reporter in reporters
        ]
        if resolve:
            resolved_at = self.when(max(row[6] for row in made), 86_400)
            resolved_by, note = rng.choice(self.moderators), rng.choice(NOTES)
            for row in made:
                row[8:11] = [resolved_at, resolved_by, note]
        return made

    def reports_of(self, model, message, members, n, remaining):
        """The reports of one message: one round, open or resolved, and for some
        resolved ones a new open round. At most `remaining`."""
        rng = self.rng
        spam = message[3].endswith("-spammer")
        reason = "spam" if spam else rng.choices(REASONS, cum_weights=REASON_WEIGHTS)[0]
        reporters = self.reporters(model, message, members, min(n, remaining))
        if rng.random() < OPEN_SHARE:
            return self.round_of(message, reporters, message[2], reason, "open", resolve=False)
        state = "actioned" if rng.random() < ACTIONED_SHARE else "dismissed"
        rows = self.round_of(message, reporters, message[2], reason, state, resolve=True)
        left = remaining - len(rows)
        if left > 0 and rng.random() < REPORTED_AGAIN:
            again = self.reporters(model, message, members, min(rng.randint(1, 3), left))
            rows += self.round_of(message, again, rows[0][8], reason, "open", resolve=False)
        return rows

    def seed(self, model, count, progress_label):
        """`count` reports of `model`'s messages, written in batches; the
        queue items; the actioned messages hidden. Returns the counts."""
        Report = model._meta.get_field("reports").related_model
        made = {"reports": 0, "messages": 0, "open": 0}
        if not count:
            return made
        members = None
        if model.PARENT == "chat":
            Chat = model._meta.get_field("chat").related_model
            members = dict(Chat.objects.filter(namespace_id__in=self.namespace_ids).values_list("id", "user_ids"))
        progress = self.progress(progress_label, count)
        rows = []
        for message in self.candidates(model, count):
            if made["reports"] + len(rows) >= count:
                break
            n = reporter_count(self.rng, message[3].endswith("-spammer"))
            new = self.reports_of(model, message, members, n, count - made["reports"] - len(rows))
            rows += new
            made["messages"] += bool(new)
            if len(rows) >= self.batch:
                self.flush(Report, rows, made, progress)
                rows = []
        self.flush(Report, rows, made, progress)
        made["items"] = build_queue(model, self.namespace_ids)
        made["hidden"] = hide_actioned(model, self.namespace_ids)
        return made

    def flush(self, Report, rows, made, progress):
        if not rows:
            return
        with transaction.atomic():
            self.write(Report, report_columns(Report), [tuple(row) for row in rows])
        made["reports"] += len(rows)
        made["open"] += sum(row[7] == "open" for row in rows)
        progress.advance(len(rows))


def reports_per_service(total, chat_share, have_streams, have_chats):
    chats = math.floor(total * chat_share + 0.5) if have_chats else 0
    if not have_streams:
        return 0, chats
    return total - chats, chats


# ------------------------------------------------------------ the queue, in SQL


def _in(ids):
    return ", ".join(["%s"] * len(ids))


def build_queue(model, namespace_ids):
    """One INSERT ... SELECT ... GROUP BY: a queue item per reported message
    of the namespaces, counting its open reports (their reporters, reasons,
    first and last times), "open" if it has any, else the state of its latest
    resolution; reviewed when its latest resolution was. Returns the rows made."""
    Report = model._meta.get_field("reports").related_model
    Item = model._meta.get_field("review").related_model
    q = connection.ops.quote_name
    report, item = q(Report._meta.db_table), q(Item._meta.db_table)
    is_open = "CASE WHEN r.state = 'open' THEN 1 ELSE 0 END"
    reasons = " || ".join(
        f"CASE WHEN SUM(CASE WHEN r.state = 'open' AND r.reason = '{reason}' THEN 1 ELSE 0 END) > 0 "
        f"THEN '{reason},' ELSE '' END"
        for reason in REASONS
    )

    def latest(column):
        return (
            f"(SELECT l.{column} FROM {report} l WHERE l.message_id = r.message_id AND l.state <> 'open' "
            "ORDER BY l.resolved_at DESC LIMIT 1)"
        )

    sql = f"""
        INSERT INTO {item} (message_id, namespace_id, state, open_reports, reasons, first_reported_at,
                            last_reported_at, hidden_automatically, reviewed_at, reviewed_by_id)
        SELECT r.message_id, MIN(r.namespace_id),
               CASE WHEN SUM({is_open}) > 0 THEN 'open' ELSE {latest("state")} END,
               SUM({is_open}),
               RTRIM({reasons}, ','),
               MIN(CASE WHEN r.state = 'open' THEN r.created_at END),
               MAX(CASE WHEN r.state = 'open' THEN r.created_at END),
               %s,
               MAX(r.resolved_at),
               CASE WHEN MAX(r.resolved_at) IS NULL THEN NULL ELSE {latest("resolved_by_id")} END
        FROM {report} r
        WHERE r.namespace_id IN ({_in(namespace_ids)})
        GROUP BY r.message_id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [False, *namespace_ids])
        return cursor.rowcount


def hide_actioned(model, namespace_ids):
    """The messages with actioned reports are hidden (a confirmation hides),
    when and by whom their reports were actioned. One UPDATE; returns the rows."""
    Report = model._meta.get_field("reports").related_model
    q = connection.ops.quote_name
    message, report = q(model._meta.db_table), q(Report._meta.db_table)
    latest = (
        f"(SELECT a.{{}} FROM {report} a WHERE a.message_id = {message}.id AND a.state = 'actioned' "
        "ORDER BY a.resolved_at DESC LIMIT 1)"
    )
    sql = f"""
        UPDATE {message} SET hidden = %s, hidden_at = {latest.format("resolved_at")},
               hidden_by_id = {latest.format("resolved_by_id")}, hidden_reason = %s
        WHERE NOT hidden AND id IN (
            SELECT message_id FROM {report} WHERE state = 'actioned' AND namespace_id IN ({_in(namespace_ids)})
        )
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [True, HIDDEN_REASON, *namespace_ids])
        return cursor.rowcount
