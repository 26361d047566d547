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
    # Indexed only where set (moderation_indexes): a full index would take an
    # entry for every message, all NULL but the few hidden ones.
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
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
    few hidden ones; and who hid them, for deleting a user (SET_NULL's
    `hidden_by_id IN (...)`), only where set, so that a message's insert writes
    no entry there. Text search has a trigram index on PostgreSQL (migration)."""
    return [
        models.Index(fields=["-sent_at"], name="%(app_label)s_%(class)s_sent_idx"),
        models.Index(fields=["namespace", "-sent_at"], name="%(app_label)s_%(class)s_ns_sent_idx"),
        models.Index(fields=["author_id", "namespace", "sent_at"], name="%(app_label)s_%(class)s_author_idx"),
        models.Index(fields=["-sent_at"], condition=models.Q(hidden=True), name="%(app_label)s_%(class)s_hidden_idx"),
        models.Index(
            fields=["hidden_by"],
            condition=models.Q(hidden_by__isnull=False),
            name="%(app_label)s_%(class)s_hidden_by_idx",
        ),
    ]


def parent_index(parent: str):
    """(parent, sent_at), in place of the index Django makes for the foreign
    key: it serves the cascade's `DELETE ... WHERE parent_id IN (...)` as that
    one did, and it gives a page's order as the unique (namespace, parent,
    sent_at) index does, so that PostgreSQL's walk of a page ends at the
    parent's end whichever of the two it reads (pages.parent_stretch)."""
    return models.Index(fields=[parent, "sent_at"], name="%(app_label)s_%(class)s_parent_idx")


class Reason(models.TextChoices):
    """Why a user reports a message (CONTRACT 10)."""

    SPAM = "spam", "Spam"
    HARASSMENT = "harassment", "Harassment"
    INAPPROPRIATE = "inappropriate", "Inappropriate"
    OTHER = "other", "Other"


class ReportBase(models.Model):
    """A user's report of a message (CONTRACT 10). Open until a moderator
    resolves it: "actioned" (the message was hidden) or "dismissed"; a resolved
    report keeps who resolved it, when and why. One open report per reporter
    and message (a partial unique index, so that racing repeats make one)."""

    # The name of the foreign key to the message's conversation or chat (as the
    # message model's PARENT): a copy of the message's, which never changes, set
    # when the report is made, so that one parent's reports are an index walk.
    PARENT = None

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    reporter_id = models.CharField(max_length=255)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True, help_text="The moderator's reason.")

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.reporter_id}: {self.reason} ({self.state})"

    @classmethod
    def parent_of(cls, message) -> dict:
        """The report's copy of `message`'s conversation or chat, as field values."""
        attname = f"{cls.PARENT}_id"
        return {attname: getattr(message, attname)}


def report_constraints_and_indexes(parent):
    """(constraints, indexes) of a report model: one open report per reporter
    and message; all reports, or by state, namespace or `parent` (the
    conversation or chat), newest first (the moderation API's lists)."""
    constraints = [
        models.UniqueConstraint(
            fields=["message", "reporter_id"],
            condition=models.Q(state="open"),
            name="%(app_label)s_%(class)s_one_open_uniq",
        )
    ]
    indexes = [
        # All reports, newest first: the moderation API's unfiltered list and
        # its cursor pages (ordered by created_at, then id), without a sort.
        models.Index(fields=["-created_at", "-id"], name="%(app_label)s_%(class)s_created_idx"),
        models.Index(fields=["state", "-created_at"], name="%(app_label)s_%(class)s_state_idx"),
        models.Index(fields=["namespace", "state", "-created_at"], name="%(app_label)s_%(class)s_ns_idx"),
        # One conversation's or chat's reports in the list's order. Through the
        # message, PostgreSQL's planner walked the created_at index of all
        # reports for a parent holding many old ones, reading every newer
        # report of the others first (docs/PERFORMANCE.md). Also the foreign
        # key's index (its own is off).
        models.Index(fields=[parent, "-created_at", "-id"], name="%(app_label)s_%(class)s_parent_idx"),
    ]
    return constraints, indexes


class ReportedMessageBase(models.Model):
    """The review queue's item: one row per message that was ever reported,
    kept up to date with its open reports by convoproject.moderation.reports,
    so that the queue is an index walk (oldest open first) and not a GROUP BY
    over every report."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.OPEN, help_text="Open while it has open reports."
    )
    open_reports = models.PositiveIntegerField(default=0, help_text="Distinct reporters with an open report.")
    reasons = models.CharField(max_length=64, blank=True, help_text="The reasons of the open reports.")
    first_reported_at = models.DateTimeField(null=True, blank=True, help_text="The oldest open report.")
    last_reported_at = models.DateTimeField(null=True, blank=True, help_text="The newest open report.")
    hidden_automatically = models.BooleanField(
        default=False, help_text="Hidden by the namespace's report threshold, waiting for a moderator."
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True

    def __str__(self):
        return f"Reports of message {self.pk}"  # the pk is the message's id; no query


def reported_message_indexes():
    """The queue's orders (convoproject.moderation.admin.queue): oldest open
    first, of all namespaces or of one; the resolved ones of a state newest
    reviewed first; all items, the never reviewed first, then newest reviewed
    (a descending column puts NULLs first on PostgreSQL, as that order asks)."""
    return [
        models.Index(fields=["state", "first_reported_at"], name="%(app_label)s_queue_idx"),
        models.Index(fields=["namespace", "state", "first_reported_at"], name="%(app_label)s_ns_queue_idx"),
        models.Index(fields=["state", "-reviewed_at", "message"], name="%(app_label)s_queue_reviewed_idx"),
        models.Index(fields=["-reviewed_at", "first_reported_at", "message"], name="%(app_label)s_queue_all_idx"),
    ]
