"""The data of the growth series: in namespace `bench.growth`, for each size N
one conversation and one chat with exactly N messages, and 100 conversations
of a few messages each for RecentMessages.

Made once and found again on later runs (a parent whose message count is not
its size, e.g. after an interrupted run, is deleted and made again). Rows go
in as `manage.py seed` writes them (bench.bulk: COPY on PostgreSQL, one
executemany per batch elsewhere, a transaction per batch, a progress line).
Messages are one second apart, ending a day before the current hour, none
hidden, so that a page is always 25 rows.
"""

import dataclasses
import datetime
import random
import time
import uuid

from django.db import connection, transaction
from django.utils import timezone

from bench import bulk
from bench.management.commands.seed import Progress, TextMaker
from chats.models import Chat, members_key_of
from chats.models import Message as ChatMessage
from convoproject.messaging import ordering
from convoproject.tenants.models import Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage

NAMESPACE = "bench.growth"
GROUP = "growth"
RECENT_GROUP = "recent"
STEP = datetime.timedelta(seconds=1)
DEEP_OFFSET = 50  # the deep page asks for messages before the 51st oldest: 25 of the 50 oldest
COLUMNS = ["id", "namespace_id", "author_id", "text", "sent_at", "hidden", "hidden_at", "hidden_reason"]


@dataclasses.dataclass
class Parent:
    size: int
    id: uuid.UUID
    deep_before: datetime.datetime  # sent_before of a page near the oldest message


@dataclasses.dataclass
class GrowthData:
    namespace: Namespace
    conversations: dict  # size -> Parent
    chats: dict  # size -> Parent
    recent_ids: list  # the conversations for RecentMessages


def ensure(sizes, *, recent_conversations=100, recent_messages=30, batch=20_000, log=None, progress=True):
    """The growth parents, made where missing. `log(text)` reports what is done."""
    log = log or (lambda text: None)
    namespace, _ = Namespace.objects.get_or_create(name=NAMESPACE)
    maker = Maker(namespace, batch=batch, progress=progress)
    conversations, chats = {}, {}
    for size in sorted(set(sizes)):
        conversations[size] = maker.conversation(f"growth {size:,} messages", GROUP, size, log)
        chats[size] = maker.chat([f"growth-{size}-a", f"growth-{size}-b"], size, log)
    recent_ids = maker.recent(recent_conversations, recent_messages, log)
    if maker.made:
        analyze(log)
    return GrowthData(namespace, conversations, chats, recent_ids)


def analyze(log):
    """PostgreSQL: fresh planner statistics and visibility map after a bulk load
    (VACUUM cannot run inside a transaction, as in a test: then ANALYZE alone)."""
    if connection.vendor != "postgresql":
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    tables = [m._meta.db_table for m in (Conversation, StreamMessage, Chat, ChatMessage)]
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {', '.join(tables)}")
    log(f"{command} took {time.monotonic() - started:.1f} s.")


class Maker:
    def __init__(self, namespace, *, batch, progress):
        self.namespace, self.batch, self.progress = namespace, batch, progress
        self.rng = random.Random(f"growth:{namespace.pk}")
        maker = TextMaker(self.rng)
        self.texts = [maker.text() for _ in range(4096)]
        self.made = 0
        self.end = timezone.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(days=1)

    # ------------------------------------------------------------ parents

    def conversation(self, topic, group, size, log):
        existing = Conversation.objects.filter(namespace=self.namespace, group_id=group, topic=topic).first()
        if existing is not None and StreamMessage.objects.filter(conversation=existing).count() == size:
            return self.parent(StreamMessage, existing, size)
        if existing is not None:
            log(f"Remaking conversation {topic!r}: its message count is not {size:,}.")
            existing.delete()
        conversation = Conversation.objects.create(namespace=self.namespace, group_id=group, topic=topic)
        self.fill(StreamMessage, conversation, size, [f"author-{k}" for k in range(20)], log)
        return self.parent(StreamMessage, conversation, size)

    def chat(self, user_ids, size, log):
        key = members_key_of(user_ids)
        existing = Chat.objects.filter(namespace=self.namespace, members_key=key).first()
        if existing is not None and ChatMessage.objects.filter(chat=existing).count() == size:
            return self.parent(ChatMessage, existing, size)
        if existing is not None:
            log(f"Remaking chat {user_ids}: its message count is not {size:,}.")
            existing.delete()
        chat = Chat.objects.create(namespace=self.namespace, user_ids=sorted(user_ids), members_key=key)
        self.fill(ChatMessage, chat, size, sorted(user_ids), log)
        return self.parent(ChatMessage, chat, size)

    def recent(self, count, messages, log):
        existing = list(
            Conversation.objects.filter(namespace=self.namespace, group_id=RECENT_GROUP).order_by("topic")[: count + 1]
        )
        total = StreamMessage.objects.filter(namespace=self.namespace, conversation__group_id=RECENT_GROUP).count()
        if len(existing) == count and total == count * messages:
            return [c.pk for c in existing]
        if existing:
            log(f"Remaking the {RECENT_GROUP!r} conversations.")
            Conversation.objects.filter(namespace=self.namespace, group_id=RECENT_GROUP).delete()
        made = []
        for k in range(count):
            conversation = Conversation.objects.create(
                namespace=self.namespace, group_id=RECENT_GROUP, topic=f"recent {k:03d}"
            )
            self.fill(StreamMessage, conversation, messages, ["alice", "bob", "carol"], log, quiet=True)
            made.append(conversation.pk)
        return made

    def parent(self, model, parent, size):
        field = model.PARENT
        oldest = model.objects.filter(**{field: parent}).order_by("sent_at").values_list("sent_at", flat=True)
        deep = oldest[min(DEEP_OFFSET, size - 1)] if size else timezone.now()
        return Parent(size, parent.pk, deep)

    # ------------------------------------------------------------ messages

    def fill(self, model, parent, size, authors, log, quiet=False):
        """Exactly `size` messages in `parent`, one second apart, ending at self.end."""
        if not quiet:
            log(f"Seeding {size:,} {model._meta.label} rows in {parent.pk}.")
        rng, texts = self.rng, self.texts
        columns = [*COLUMNS, f"{model.PARENT}_id"]
        start = self.end - STEP * size
        progress = Progress(
            f"{model._meta.app_label} messages, {size:,} in one {model.PARENT}",
            size,
            enabled=self.progress and not quiet,
        )
        namespace_id = self.namespace.pk
        for first in range(0, size, self.batch):
            rows = [
                (
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    namespace_id,
                    authors[i % len(authors)],
                    texts[rng.randrange(len(texts))],
                    start + STEP * i,
                    False,
                    None,
                    "",
                    parent.pk,
                )
                for i in range(first, min(first + self.batch, size))
            ]
            with transaction.atomic():
                bulk.write_rows(model, columns, rows)
            progress.advance(len(rows))
        ordering.refresh_last_sent_at(model, type(parent).objects.filter(pk=parent.pk))  # as the Appender keeps it
        self.made += size
