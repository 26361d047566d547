"""The abstract message model both apps' Message models extend, and its indexes."""

import uuid

from django.conf import settings
from django.db import models

from convoproject.tenants.models import Namespace


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
