"""What the protocol remembers between requests, in the database so that every
app server shares it."""

from django.db import models
from django.utils import timezone

from convoproject.tenants.models import Namespace


class IdempotentResponse(models.Model):
    """The remembered answer to a create RPC sent with an Idempotency-Key
    header (CONTRACT 7). Only successful answers are kept: the row is inserted
    in the same transaction as the work it guards, so a failure rolls it back.
    See convoproject.rpc.idempotency."""

    # The unique (namespace, key) index leads with namespace_id, so the
    # foreign key needs no index of its own.
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=255, help_text="The RPC path, e.g. /protobuf/Streams/CreateConversation.")
    body_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON of the request body.")
    response = models.TextField(blank=True, help_text="The JSON of the 200 answer; empty while it is being made.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key"], name="unique_idempotency_key_per_namespace"),
        ]

    def __str__(self):
        return f"{self.key} ({self.method})"


class RateCounter(models.Model):
    """How many requests one caller ("key:<id>" or "user:<id>") made in the
    current minute: one row per caller, counted up by a single upsert in
    convoproject.rpc.throttling, so every app server shares the count."""

    bucket = models.CharField(max_length=64, primary_key=True)
    minute = models.BigIntegerField(help_text="The minute counted: Unix time // 60.")
    count = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.bucket}: {self.count} in minute {self.minute}"
