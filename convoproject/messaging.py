"""What Streams messages and Chats messages share: the model's shape, the
ordering guarantee, the newest-first page, and the wire form.

A message belongs to a parent (a conversation or a chat); `PARENT` names the
foreign key. Both apps call these functions, so the rules of CONTRACT 3
("sent_at is unique and strictly increasing", "hidden is never returned")
exist once.
"""

import datetime
import functools
import uuid

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from rest_framework import serializers

from convoproject.prepared import PreparedRead
from convoproject.rpc.fields import TimestampOut
from convoproject.rpc.timestamps import format_timestamp
from convoproject.tenants.models import Namespace

ONE_MICROSECOND = datetime.timedelta(microseconds=1)


class MessageBase(models.Model):
    PARENT = None  # the name of the foreign key to the conversation or chat

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed as the first column of the (namespace, parent, sent_at) index.
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    author_id = models.CharField(max_length=255)
    text = models.TextField()
    sent_at = models.DateTimeField()
    hidden = models.BooleanField(default=False, help_text="Hidden messages are never returned by the API.")
    # Who hid it, when and why: set by convoproject.moderation, cleared on unhide
    # (the audit trail keeps the history).
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    hidden_reason = models.TextField(blank=True)

    class Meta:
        abstract = True
        permissions = [("moderate_message", "Can hide and unhide messages")]

    def __str__(self):
        return f"{self.author_id}: {self.text[:60]}"


def ordered_message_constraints(parent):
    """The unique (namespace, parent, sent_at) index: it is both the ordering
    guarantee's safety net and the index every newest-first page reads."""
    return [
        models.UniqueConstraint(
            fields=["namespace", parent, "sent_at"],
            name=f"%(app_label)s_%(class)s_{parent}_sent_at_uniq",
        )
    ]


def moderation_indexes():
    """What moderators' pages read, newest first, on millions of messages: all
    messages, one namespace's, one author's (also the spam clean-up), and the
    few hidden ones. Text search has a trigram index on PostgreSQL (migration)."""
    return [
        models.Index(fields=["-sent_at"], name="%(app_label)s_%(class)s_sent_idx"),
        models.Index(fields=["namespace", "-sent_at"], name="%(app_label)s_%(class)s_ns_sent_idx"),
        models.Index(fields=["author_id", "namespace", "sent_at"], name="%(app_label)s_%(class)s_author_idx"),
        models.Index(fields=["-sent_at"], condition=models.Q(hidden=True), name="%(app_label)s_%(class)s_hidden_idx"),
    ]


def locked_parent(parent_model, namespace, parent_id):
    """The parent row, locked until the transaction ends, or None. Must run
    inside transaction.atomic()."""
    if parent_id is None:
        return None
    return parent_model.objects.select_for_update().filter(namespace=namespace, id=parent_id).first()


def locked_parent_row(parent_model, namespace, parent_id, columns=("id", "namespace_id")):
    """locked_parent for writers that need only some columns: a row of them
    (a PreparedRead, compiled once), or None."""
    assert transaction.get_connection().in_atomic_block
    if parent_id is None:
        return None
    rows = _prepared_lock(parent_model, columns).run(None, namespace_id=namespace.pk, parent_id=parent_id)
    return rows[0] if rows else None


@functools.cache
def _prepared_lock(parent_model, columns):
    return PreparedRead(
        lambda shape, *, namespace_id, parent_id: (
            parent_model.objects.select_for_update().filter(namespace=namespace_id, id=parent_id).values_list(*columns)
        ),
        list(columns),
        namespace_id=("int", parent_model._meta.get_field("namespace")),
        parent_id=("uuid", parent_model._meta.get_field("id")),
    )


def next_sent_at(message_model, namespace_id, parent_id):
    """now, or one microsecond after the parent's newest message if the clock
    is not past it. The caller holds the parent's row lock, so no other writer
    of this parent can read the same newest sent_at. The newest is read from
    the end of the (namespace, parent, sent_at) index: one index entry, however
    long the history (without the namespace no index fits, and the newest is
    searched for among every message of every parent)."""
    assert transaction.get_connection().in_atomic_block
    newest = _prepared_newest(message_model).run(None, namespace_id=namespace_id, parent_id=parent_id)
    now = timezone.now()
    return now if not newest or now > newest[0].sent_at else newest[0].sent_at + ONE_MICROSECOND


@functools.cache
def _prepared_newest(message_model):
    field = message_model._meta.get_field
    return PreparedRead(
        lambda shape, *, namespace_id, parent_id: newest_sent_at(message_model, namespace_id, parent_id),
        ["sent_at"],
        namespace_id=("int", field("namespace")),
        parent_id=("uuid", field(message_model.PARENT)),
    )


def newest_sent_at(message_model, namespace_id, parent_id):
    """The queryset of a parent's newest sent_at (hidden messages included)."""
    messages = message_model.objects.filter(namespace=namespace_id, **{message_model.PARENT: parent_id})
    return messages.order_by("-sent_at").values_list("sent_at")[:1]


def append_message(message_model, parent, *, author_id, text):
    """Create a message in a parent (a row with id and namespace_id) whose row
    lock the caller holds."""
    return message_model.objects.create(
        namespace_id=parent.namespace_id,
        author_id=author_id,
        text=text,
        sent_at=next_sent_at(message_model, parent.namespace_id, parent.id),
        **{f"{message_model.PARENT}_id": parent.id},
    )


def newest_messages(message_model, namespace, parent_id, *, sent_before=None, limit=25):
    """The queryset of a parent's newest visible messages, newest first,
    read from the (namespace, parent, sent_at) index."""
    messages = message_model.objects.filter(
        namespace=namespace, hidden=False, **{f"{message_model.PARENT}_id": parent_id}
    )
    if sent_before is not None:
        messages = messages.filter(sent_at__lt=sent_before)
    return messages.order_by("-sent_at")[:limit]


def page_of(message_model, parent_model, namespace, parent_id, *, sent_before=None, limit=25):
    """A page of newest_messages (rows with the wire form's fields), or None
    if the parent does not exist in the namespace. One query when the page has
    messages (a message of the namespace proves its parent is there); an empty
    page takes a second, to tell an emptied-out history from a missing parent."""
    if parent_id is None:
        return None
    page = prepared_page(message_model).run(
        (limit, sent_before is not None), namespace_id=namespace.pk, parent_id=parent_id, sent_before=sent_before
    )
    if not page and not parent_model.objects.filter(namespace=namespace, id=parent_id).exists():
        return None
    return page


def message_row(message_model):
    """The row type of pages: a namedtuple of the wire form's fields."""
    return prepared_page(message_model).row


@functools.cache
def prepared_page(message_model):
    """newest_messages as a PreparedRead: what every ListMessages runs."""
    field = message_model._meta.get_field
    columns = ["id", "author_id", f"{message_model.PARENT}_id", "text", "sent_at"]

    def build(shape, *, namespace_id, parent_id, sent_before=None):
        limit, has_sent_before = shape
        before = sent_before if has_sent_before else None
        return newest_messages(message_model, namespace_id, parent_id, sent_before=before, limit=limit).values_list(
            *columns
        )

    return PreparedRead(
        build,
        columns,
        namespace_id=("int", field("namespace")),
        parent_id=("uuid", field(message_model.PARENT)),
        sent_before=("datetime", field("sent_at")),
    )


def message_wire(message_model):
    """The function that renders a message in its wire form: what
    message_serializer describes (and the OpenAPI document shows), without
    DRF's per-field machinery, which costs several times more per message.
    tests/test_wire.py holds the two equal."""
    parent_key = f"{message_model.PARENT}_id"

    def as_wire(message):
        return {
            "id": str(message.id),
            "author_id": message.author_id,
            parent_key: str(getattr(message, parent_key)),
            "text": message.text,
            "sent_at": format_timestamp(message.sent_at),
        }

    return as_wire


def message_serializer(message_model):
    """The wire form {id, author_id, <parent>_id, text, sent_at} of a message model."""
    parent_key = f"{message_model.PARENT}_id"

    class MessageSerializer(serializers.ModelSerializer):
        sent_at = TimestampOut()

        class Meta:
            model = message_model
            fields = ["id", "author_id", parent_key, "text", "sent_at"]

    return MessageSerializer
