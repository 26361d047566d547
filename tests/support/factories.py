"""Rows made directly in the database, for tests that need many or that set
what the API does not (sent_at, hidden)."""

import datetime

from chats.models import Chat, members_key_of
from chats.models import Message as ChatMessage
from convoproject.tenants.models import Namespace
from streams.models import Conversation, Message

BASE = datetime.datetime(2024, 3, 10, 12, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def ns(name="micro"):
    return Namespace.objects.get_or_create(name=name)[0]


def conversation(namespace, topic="topic", group_id="group"):
    return Conversation.objects.create(namespace=namespace, group_id=group_id, topic=topic)


def chat(namespace, user_ids=("alice", "bob")):
    return Chat.objects.create(namespace=namespace, user_ids=sorted(user_ids), members_key=members_key_of(user_ids))


def add(parent, count, *, author="alice", start=BASE, step=MINUTE, text="message {i}", hidden=False):
    """`count` messages in a conversation or chat, sent start, start+step, ..."""
    model = Message if isinstance(parent, Conversation) else ChatMessage
    rows = [
        model(
            namespace_id=parent.namespace_id,
            author_id=author,
            text=text.format(i=i),
            sent_at=start + i * step,
            hidden=hidden,
            **{model.PARENT: parent},
        )
        for i in range(count)
    ]
    return model.objects.bulk_create(rows, batch_size=2000)


def report_each(messages, *, reporter="rita", reason="spam", after=datetime.timedelta(seconds=1)):
    """One open report of each of `messages` (of one model), made `after` it
    was sent, with its conversation or chat as convoproject.moderation.reports
    sets it (Report.PARENT). No queue items: the rows only."""
    messages = list(messages)
    Report = type(messages[0])._meta.get_field("reports").related_model
    rows = [
        Report(
            namespace_id=message.namespace_id,
            message=message,
            reporter_id=reporter,
            reason=reason,
            created_at=message.sent_at + after,
            **Report.parent_of(message),
        )
        for message in messages
    ]
    return Report.objects.bulk_create(rows, batch_size=2000)


def newest_messages(model, namespace, parent_id, *, sent_before=None, limit=25):
    """The ORM's own reading of a page (CONTRACT 4): the newest `limit` visible
    messages of a parent sent strictly before `sent_before`, newest first. The
    tests hold the service's SQL (convoproject.messaging.pages) to it."""
    messages = model.objects.filter(namespace=namespace, hidden=False, **{f"{model.PARENT}_id": parent_id})
    if sent_before is not None:
        messages = messages.filter(sent_at__lt=sent_before)
    return messages.order_by("-sent_at")[:limit]


def a_big_quiet_parent(namespace, make_parent, *, size=3000, busy=50, each=6):
    """The planner's trap of tests/test_streams.py's big quiet conversation:
    one parent (`make_parent(namespace, 0)`) holding most of the namespace's
    messages, all older than those of `busy` others (`make_parent(namespace,
    i)`, `each` messages each). Given the big parent's id, PostgreSQL's column
    statistics say most messages are its, and a newest-first walk of the
    `sent_at` index of all parents looks as cheap as the unique (namespace,
    parent, sent_at) index, though it reads every newer message of the others
    first. The big parent and its messages."""
    second = datetime.timedelta(seconds=1)
    big = make_parent(namespace, 0)
    rows = add(big, size, step=second)
    for i in range(1, busy + 1):
        add(make_parent(namespace, i), each, start=BASE + datetime.timedelta(days=1), step=second)
    return big, rows
