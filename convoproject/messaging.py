"""What Streams messages and Chats messages share: the model's shape, the
ordering guarantee, the newest-first page, and the wire form.

A message belongs to a parent (a conversation or a chat); `PARENT` names the
foreign key. Both apps call these functions, so the rules of CONTRACT 3
("sent_at is unique and strictly increasing", "hidden is never returned")
exist once.
"""

import datetime
import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import serializers

from convoproject.rpc.fields import TimestampOut
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


def next_sent_at(message_model, parent):
    """now, or one microsecond after the parent's newest message if the clock
    is not past it. The caller holds the parent's row lock, so no other writer
    of this parent can read the same newest sent_at."""
    assert transaction.get_connection().in_atomic_block
    newest = message_model.objects.filter(**{message_model.PARENT: parent}).aggregate(newest=Max("sent_at"))["newest"]
    now = timezone.now()
    return now if newest is None or now > newest else newest + ONE_MICROSECOND


def append_message(message_model, parent, *, author_id, text):
    """Create a message in a parent whose row lock the caller holds."""
    return message_model.objects.create(
        namespace_id=parent.namespace_id,
        author_id=author_id,
        text=text,
        sent_at=next_sent_at(message_model, parent),
        **{message_model.PARENT: parent},
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


def message_serializer(message_model):
    """The wire form {id, author_id, <parent>_id, text, sent_at} of a message model."""
    parent_key = f"{message_model.PARENT}_id"

    class MessageSerializer(serializers.ModelSerializer):
        sent_at = TimestampOut()

        class Meta:
            model = message_model
            fields = ["id", "author_id", parent_key, "text", "sent_at"]

    return MessageSerializer
