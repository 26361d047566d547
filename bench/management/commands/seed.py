"""`manage.py seed`: realistic data in bulk, for measuring the moderation admin
at scale (see docs/MODERATION_SCALE.md).

    python manage.py seed --settings=bench.settings --namespaces 5 --conversations 2000 --chats 1000 --messages 1000000

--messages is the total: (1 - --chat-share) of it goes to Streams messages,
the rest to Chats messages. Within a table the messages are spread over the
parents unevenly, as in life: the largest conversation (and chat) gets 20 %,
the next ones 8 %, 4 % and 2 %, the rest a long tail. Namespaces are uneven
too (the first one is the largest). Each namespace has --authors authors with
uneven activity and one spammer who sends 5 % of its Streams messages. A
--hidden-fraction of messages is hidden. Texts are phrases over a fixed
vocabulary plus the search words of bench.corpus, each at a known frequency.

Timestamps are made here, never by the API: each table has one timeline,
`start + i * step + jitter` with 0 <= jitter < step microseconds, which is
strictly increasing, so every parent's messages are strictly increasing too
and the unique (namespace, parent, sent_at) index is never violated. Rows are
written in time order, as the service writes them.

On PostgreSQL rows go in with COPY (bulk_create's multi-row INSERTs, which
--no-copy chooses, seeded 15,000 messages/s against COPY's 25,000 on 2
cores), elsewhere with one executemany INSERT per batch (bench.bulk); either
way one transaction per --batch rows, with a progress line on stderr. Then, on PostgreSQL, VACUUM (ANALYZE):
fresh statistics for the planner and the visibility map set, the state
autovacuum would leave the tables in. It refuses to run when there is data
already, unless --append (which adds new namespaces with their own parents).
With --seed, the same arguments make the same data (timestamps are relative
to --end, which defaults to the current hour).
"""

import bisect
import contextlib
import datetime
import itertools
import random
import sys
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from bench import bulk, corpus
from bench.reports import ReportSeeder, reports_per_service
from chats.models import Chat, members_key_of
from chats.models import Message as ChatMessage
from chats.models import Report as ChatReport
from chats.models import ReportedMessage as ChatReportedMessage
from convoproject.messaging import ordering
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage
from streams.models import Report as StreamReport
from streams.models import ReportedMessage as StreamReportedMessage

NAMESPACE_PREFIX = "bench-"
BIG_PARENT_SHARES = [0.20, 0.08, 0.04, 0.02]  # the largest parents' shares of their table
SPAM_SHARE = 0.05  # of a namespace's Streams messages
SPAMMER_IN_CHAT = 0.1  # probability that a chat includes the namespace's spammer
PHRASES = 4096


class Progress:
    """One line on stderr, rewritten per batch: count, rate and ETA. Not a
    terminal: a new line at most every 5 seconds, and the last one."""

    def __init__(self, label, total, stream=sys.stderr, enabled=True):
        self.label, self.total, self.stream, self.enabled = label, total, stream, enabled
        self.done = 0
        self.started = self.printed = time.monotonic()
        self.tty = stream.isatty()

    def advance(self, rows):
        self.done += rows
        now = time.monotonic()
        last = self.done >= self.total
        if not self.enabled or not (self.tty or last or now - self.printed >= 5):
            return
        self.printed = now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0
        line = (
            f"{self.label}: {self.done:,}/{self.total:,} ({100 * self.done / max(self.total, 1):5.1f} %)"
            f"  {rate:,.0f} rows/s  elapsed {format_seconds(elapsed)}  ETA {format_seconds(eta)}"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if last else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def format_seconds(seconds):
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def parent_weights(count):
    """Shares of a table's messages per parent: BIG_PARENT_SHARES first, then
    a 1/rank tail that shares the rest."""
    big = BIG_PARENT_SHARES[: max(count - 1, 0)]
    tail = count - len(big)
    tail_weights = [1 / (rank + 1) for rank in range(tail)]
    scale = (1 - sum(big)) / sum(tail_weights)
    return big + [w * scale for w in tail_weights]


def cumulative(weights):
    return list(itertools.accumulate(weights))


@contextlib.contextmanager
def settable_created_at(*models):
    """Let bulk_create keep the created_at we give (auto_now_add would set now)."""
    fields = [m._meta.get_field("created_at") for m in models]
    saved = [f.auto_now_add for f in fields]
    try:
        for f in fields:
            f.auto_now_add = False
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


class TextMaker:
    def __init__(self, rng):
        self.rng = rng
        weights = [1 / (rank + 1) ** 0.9 for rank in range(len(corpus.VOCABULARY))]
        vocabulary = cumulative(weights)
        self.phrases = [
            " ".join(rng.choices(corpus.VOCABULARY, cum_weights=vocabulary, k=rng.randint(3, 12)))
            for _ in range(PHRASES)
        ]
        self.search_words = list(corpus.SEARCH_WORDS.items())
        self.counts = dict.fromkeys(corpus.SEARCH_WORDS, 0)

    def text(self, spam=False):
        rng = self.rng
        parts = [rng.choice(corpus.SPAM_PHRASES)] if spam else []
        parts += rng.sample(self.phrases, rng.randint(1, 3))
        for word, probability in self.search_words:
            if rng.random() < probability:
                parts.insert(rng.randint(0, len(parts)), word)
                self.counts[word] += 1
        text = " ".join(parts)
        return text[0].upper() + text[1:] + rng.choice(".!?.")

    def topic(self, number):
        return f"{self.rng.choice(corpus.TOPIC_WORDS)} {self.rng.choice(self.phrases)[:60]} #{number}"


class Command(BaseCommand):
    help = "Seed realistic namespaces, conversations, chats and messages in bulk (for scale measurements)."

    def add_arguments(self, parser):
        parser.add_argument("--namespaces", type=int, default=3)
        parser.add_argument("--conversations", type=int, default=100, help="In all namespaces together.")
        parser.add_argument("--chats", type=int, default=50, help="In all namespaces together.")
        parser.add_argument("--messages", type=int, default=10_000, help="Streams and Chats messages together.")
        parser.add_argument("--chat-share", type=float, default=0.2, help="The share of --messages in chats.")
        parser.add_argument("--authors", type=int, default=50, help="Authors per namespace, besides its spammer.")
        parser.add_argument("--hidden-fraction", type=float, default=0.002)
        parser.add_argument("--days", type=float, default=365, help="The time span of the messages.")
        parser.add_argument("--end", help="ISO time of the newest message (default: the current hour, UTC).")
        parser.add_argument("--batch", type=int, default=5000, help="Rows per insert and transaction.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same arguments, the same data.")
        parser.add_argument("--append", action="store_true", help="Add to existing data (in new namespaces).")
        parser.add_argument("--no-copy", action="store_true", help="PostgreSQL: bulk_create instead of COPY.")
        parser.add_argument(
            "--reports", type=int, default=0, help="Reports of the seeded messages, Streams and Chats together."
        )
        parser.add_argument(
            "--reports-only",
            action="store_true",
            help="Seed only --reports, over the messages seeded before (the bench namespaces that have no reports).",
        )

    def handle(self, *args, **options):
        corpus.check()
        self.options = options
        self.progress_enabled = options["verbosity"] > 0
        self.no_statement_timeout()
        if options["reports_only"]:
            return self.handle_reports_only()
        self.validate()
        self.first_namespace = self.first_namespace_number()
        # Appending with the same --seed must not make the same ids again.
        self.rng = random.Random(f"{options['seed']}:{self.first_namespace}")
        started = time.monotonic()
        self.texts = TextMaker(self.rng)
        self.end = self.end_time()
        self.start = self.end - datetime.timedelta(days=options["days"])

        namespaces = self.make_namespaces()
        self.authors = {ns.pk: [f"{ns.name}-user{k:03d}" for k in range(options["authors"])] for ns in namespaces}
        self.spammers = {ns.pk: f"{ns.name}-spammer" for ns in namespaces}
        author_weights = [1 / (rank + 1) ** 0.8 for rank in range(options["authors"])]
        self.author_cum_weights = cumulative(author_weights)
        namespace_cum_weights = cumulative([1 / (k + 1) for k in range(len(namespaces))])
        conversations = self.make_conversations(namespaces, namespace_cum_weights)
        chats = self.make_chats(namespaces, namespace_cum_weights)

        chat_messages = round(options["messages"] * options["chat_share"]) if chats else 0
        stream_messages = options["messages"] - chat_messages if conversations else 0
        made = {}
        made["streams"] = self.make_messages(StreamMessage, conversations, stream_messages, self.stream_author)
        made["chats"] = self.make_messages(ChatMessage, chats, chat_messages, self.chat_author)
        made["reports"] = self.make_reports(namespaces, bool(conversations), bool(chats))
        seeding = time.monotonic() - started
        analyzed = self.analyze()
        self.report(namespaces, conversations, chats, made, seeding, analyzed)

    def no_statement_timeout(self):
        """PostgreSQL: no statement_timeout (the settings' DB_STATEMENT_TIMEOUT_MS,
        10 s) for this command: building the queue or VACUUM of a million rows
        may take longer on a busy machine. In a transaction (a test), for it only."""
        if connection.vendor == "postgresql":
            local = "LOCAL " if connection.in_atomic_block else ""
            with connection.cursor() as cursor:
                cursor.execute(f"SET {local}statement_timeout = 0")

    # ------------------------------------------------------------ checks

    def validate(self):
        o = self.options
        for name in ("namespaces", "batch"):
            if o[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        for name in ("conversations", "chats", "messages", "authors", "reports"):
            if o[name] < 0:
                raise CommandError(f"--{name} must not be negative.")
        if o["chats"] and o["authors"] < 1:
            raise CommandError("Chats need --authors of at least 1.")
        if not 0 <= o["hidden_fraction"] <= 1 or not 0 <= o["chat_share"] <= 1:
            raise CommandError("--hidden-fraction and --chat-share are fractions between 0 and 1.")
        if o["messages"] and not (o["conversations"] or o["chats"]):
            raise CommandError("Messages need --conversations or --chats.")
        if o["days"] * 86_400_000_000 < o["messages"]:
            raise CommandError("--days is too short for one message per microsecond.")
        existing = {
            "namespaces": Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX).exists(),
            "conversations": Conversation.objects.exists(),
            "chats": Chat.objects.exists(),
            "streams messages": StreamMessage.objects.exists(),
            "chats messages": ChatMessage.objects.exists(),
        }
        found = [name for name, exists in existing.items() if exists]
        if found and not o["append"]:
            raise CommandError(
                f"The database already has {', '.join(found)}: refusing to seed on top of it. "
                "Use --append to add new namespaces with their data, or seed an empty database."
            )

    def end_time(self):
        if self.options["end"]:
            end = datetime.datetime.fromisoformat(self.options["end"])
            return end if timezone.is_aware(end) else end.replace(tzinfo=datetime.UTC)
        return timezone.now().replace(minute=0, second=0, microsecond=0)

    # ------------------------------------------------------------ namespaces and parents

    def first_namespace_number(self):
        taken = [
            int(name[len(NAMESPACE_PREFIX) :])
            for name in Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX).values_list("name", flat=True)
            if name[len(NAMESPACE_PREFIX) :].isdigit()
        ]
        return max(taken, default=0) + 1

    def make_namespaces(self):
        first = self.first_namespace
        names = [f"{NAMESPACE_PREFIX}{n}" for n in range(first, first + self.options["namespaces"])]
        with transaction.atomic():
            Namespace.objects.bulk_create([Namespace(name=name) for name in names])
        by_name = Namespace.objects.in_bulk(names, field_name="name")
        return [by_name[name] for name in names]

    def created_at(self):
        """Parents exist before their first message: up to 30 days before the start."""
        return self.start - datetime.timedelta(seconds=self.rng.uniform(60, 30 * 86_400))

    def parent_namespaces(self, namespaces, cum_weights, count):
        # The largest parent is in the first (largest) namespace.
        return [namespaces[0], *self.rng.choices(namespaces, cum_weights=cum_weights, k=max(count - 1, 0))]

    def make_conversations(self, namespaces, cum_weights):
        count = self.options["conversations"]
        rows = [
            Conversation(
                id=self.uuid(),
                namespace=namespace,
                group_id=f"group-{self.rng.randrange(20)}",
                topic=self.texts.topic(number),
                created_at=self.created_at(),
            )
            for number, namespace in enumerate(self.parent_namespaces(namespaces, cum_weights, count)[:count], 1)
        ]
        with settable_created_at(Conversation), transaction.atomic():
            Conversation.objects.bulk_create(rows, batch_size=self.options["batch"])
        return rows

    def make_chats(self, namespaces, cum_weights):
        count = self.options["chats"]
        rows, keys = [], set()
        for namespace in self.parent_namespaces(namespaces, cum_weights, count)[:count]:
            authors = self.authors[namespace.pk]
            for attempt in itertools.count():
                size = min(len(authors), self.rng.randint(2, 6) + attempt // 20)
                members = self.rng.sample(authors, size)
                if self.rng.random() < SPAMMER_IN_CHAT:
                    members.append(self.spammers[namespace.pk])
                user_ids = sorted(set(members))
                key = members_key_of(user_ids)
                if (namespace.pk, key) not in keys:
                    break
                if attempt > 1000:
                    raise CommandError("Not enough distinct member sets: use more --authors or fewer --chats.")
            keys.add((namespace.pk, key))
            rows.append(
                Chat(
                    id=self.uuid(),
                    namespace=namespace,
                    user_ids=user_ids,
                    members_key=key,
                    created_at=self.created_at(),
                )
            )
        with settable_created_at(Chat), transaction.atomic():
            Chat.objects.bulk_create(rows, batch_size=self.options["batch"])
        return rows

    # ------------------------------------------------------------ messages

    def uuid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def stream_author(self, conversation):
        if self.rng.random() < SPAM_SHARE:
            return self.spammers[conversation.namespace_id], True
        authors = self.authors[conversation.namespace_id]
        return self.rng.choices(authors, cum_weights=self.author_cum_weights)[0], False

    def chat_author(self, chat):
        author = self.rng.choice(chat.user_ids)
        return author, author == self.spammers[chat.namespace_id]

    def make_messages(self, model, parents, total, author_of):
        """`total` messages of `model` over `parents`, in time order, in batches."""
        made = {"total": 0, "hidden": 0, "per_parent": [0] * len(parents), "authors": {}}
        if not total:
            return made
        rng, batch_size = self.rng, self.options["batch"]
        parent_cum_weights = cumulative(parent_weights(len(parents)))
        last_weight = parent_cum_weights[-1]
        span = int((self.end - self.start) / datetime.timedelta(microseconds=1))
        step = span // total
        start = self.end - datetime.timedelta(microseconds=step * total)
        hidden_fraction = self.options["hidden_fraction"]
        progress = Progress(f"{model._meta.app_label} messages", total, enabled=self.progress_enabled)
        bulk_create = connection.vendor == "postgresql" and self.options["no_copy"]
        write = self.create_rows if bulk_create else bulk.write_rows
        columns = ["id", "namespace_id", "author_id", "text", "sent_at", "hidden", "hidden_at", "hidden_reason"]
        columns.append(f"{model.PARENT}_id")
        for batch_start in range(0, total, batch_size):
            rows = []
            for i in range(batch_start, min(batch_start + batch_size, total)):
                sent_at = start + datetime.timedelta(microseconds=i * step + rng.randrange(step))
                index = bisect.bisect_left(parent_cum_weights, rng.random() * last_weight)
                index = min(index, len(parents) - 1)
                parent = parents[index]
                made["per_parent"][index] += 1
                author, spam = author_of(parent)
                made["authors"][author] = made["authors"].get(author, 0) + 1
                hidden = rng.random() < hidden_fraction
                made["hidden"] += hidden
                rows.append(
                    (
                        self.uuid(),
                        parent.namespace_id,
                        author,
                        self.texts.text(spam),
                        sent_at,
                        hidden,
                        min(sent_at + datetime.timedelta(minutes=rng.randint(1, 600)), self.end) if hidden else None,
                        rng.choice(corpus.HIDDEN_REASONS) if hidden else "",
                        parent.pk,
                    )
                )
            with transaction.atomic():
                write(model, columns, rows)
            made["total"] += len(rows)
            progress.advance(len(rows))
        # The parents' newest sent_at, as the Appender keeps it.
        parent_model = model._meta.get_field(model.PARENT).related_model
        namespace_ids = {parent.namespace_id for parent in parents}
        ordering.refresh_last_sent_at(model, parent_model.objects.filter(namespace_id__in=namespace_ids))
        return made

    def create_rows(self, model, columns, rows):
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows])

    # ------------------------------------------------------------ reports

    def make_reports(self, namespaces, have_streams, have_chats):
        """--reports over the messages of `namespaces`, and the review queue."""
        total = self.options["reports"]
        if not total:
            return None
        streams, chats = reports_per_service(total, self.options["chat_share"], have_streams, have_chats)
        write = self.create_rows if connection.vendor == "postgresql" and self.options["no_copy"] else bulk.write_rows
        seeder = ReportSeeder(
            # Its own random stream: seeding the reports later (--reports-only) makes the same ones.
            rng=random.Random(f"{self.options['seed']}:reports:{namespaces[0].name}"),
            namespaces=namespaces,
            end=self.end,
            write=write,
            batch=self.options["batch"],
            progress=lambda label, count: Progress(label, count, enabled=self.progress_enabled),
        )
        return {
            "streams": seeder.seed(StreamMessage, streams, "streams reports"),
            "chats": seeder.seed(ChatMessage, chats, "chats reports"),
        }

    def handle_reports_only(self):
        """--reports-only: reports over the messages already seeded, in the bench
        namespaces that have none yet (seed's other arguments are ignored)."""
        o = self.options
        if o["reports"] < 1:
            raise CommandError("--reports-only needs --reports of at least 1.")
        reported = set(StreamReport.objects.values_list("namespace_id", flat=True).distinct())
        reported |= set(ChatReport.objects.values_list("namespace_id", flat=True).distinct())
        namespaces = list(
            Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX).exclude(pk__in=reported).order_by("pk")
        )
        messages = [m.objects.filter(namespace__in=namespaces) for m in (StreamMessage, ChatMessage)]
        if not any(m.exists() for m in messages):
            raise CommandError(
                "No seeded messages without reports: seed messages first (or seed without --reports-only)."
            )
        started = time.monotonic()
        if o["end"]:
            self.end = self.end_time()
        else:  # the hour seed's default --end was: the one after the newest message
            newest = max(
                filter(None, (m.order_by("-sent_at").values_list("sent_at", flat=True).first() for m in messages))
            )
            self.end = newest.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)
        made = self.make_reports(namespaces, messages[0].exists(), messages[1].exists())
        seeding = time.monotonic() - started
        analyzed = self.analyze()
        w = self.stdout.write
        names = ", ".join(ns.name for ns in namespaces)
        w(f"Seeded {o['reports']:,} reports in {format_seconds(seeding)} (namespaces {names}).")
        if analyzed is not None:
            w(f"VACUUM (ANALYZE) took {analyzed:.1f} s.")
        self.report_reports(made)

    def report_reports(self, made):
        if not made:
            return
        for label, stats in made.items():
            if not stats["reports"]:
                continue
            open_share = 100 * stats["open"] / stats["reports"]
            self.stdout.write(
                f"  {label + ' reports:':<17}{stats['reports']:,} ({open_share:.0f} % open) of {stats['messages']:,} "
                f"messages; {stats['items']:,} review queue items; {stats['hidden']:,} messages hidden (actioned)"
            )

    # ------------------------------------------------------------ the end

    def analyze(self):
        """PostgreSQL: VACUUM (ANALYZE), i.e. fresh planner statistics and the
        visibility map set, the state autovacuum leaves a table in."""
        if connection.vendor != "postgresql":
            return None
        started = time.monotonic()
        models = (Namespace, Conversation, StreamMessage, Chat, ChatMessage)
        if self.options["reports"]:
            models += (StreamReport, StreamReportedMessage, ChatReport, ChatReportedMessage)
        tables = [m._meta.db_table for m in models]
        # VACUUM cannot run in a transaction (as in a test): then ANALYZE alone.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{command} {', '.join(tables)}")
        return time.monotonic() - started

    def report(self, namespaces, conversations, chats, made, seeding, analyzed):
        w = self.stdout.write
        total = made["streams"]["total"] + made["chats"]["total"]
        w(f"Seeded {total:,} messages in {format_seconds(seeding)} ({total / max(seeding, 1e-9):,.0f} messages/s).")
        if analyzed is not None:
            w(f"VACUUM (ANALYZE) took {analyzed:.1f} s.")
        w(
            f"  namespaces:    {len(namespaces)} ({namespaces[0].name} .. {namespaces[-1].name}, ids "
            f"{namespaces[0].pk}..{namespaces[-1].pk})"
        )
        w(f"  time span:     {self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC")
        for label, parents, stats in (
            ("conversations", conversations, made["streams"]),
            ("chats", chats, made["chats"]),
        ):
            w(f"  {label + ':':<15}{len(parents):,}, with {stats['total']:,} messages ({stats['hidden']:,} hidden)")
            if stats["total"]:
                largest = max(range(len(parents)), key=stats["per_parent"].__getitem__)
                w(
                    f"    largest:     {parents[largest].pk} ({stats['per_parent'][largest]:,} messages, namespace "
                    f"{parents[largest].namespace_id})"
                )
        streams_authors = made["streams"]["authors"]
        for namespace in namespaces[:3]:
            spammer = self.spammers[namespace.pk]
            w(f"  spammer:       {spammer} ({streams_authors.get(spammer, 0):,} Streams messages)")
        w("  search words:  " + ", ".join(f"{word} ({n:,})" for word, n in self.texts.counts.items()))
        self.report_reports(made["reports"])
