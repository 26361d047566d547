from django.conf import settings
from django.db import models
from django.utils import timezone


class Namespace(models.Model):
    """A tenant: one app that uses the service. Every row of data belongs to one."""

    name = models.CharField(max_length=255, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="namespaces",
        help_text="Users who may call the API from a browser session in this namespace.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ApiKey(models.Model):
    """An API key of one namespace. Only a SHA-256 digest of the key is kept:
    keys are 256-bit random strings, so a fast hash is enough to make a leaked
    table useless, and it lets a request find its key with one indexed lookup."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests per minute this key may make; empty means the RATE_LIMIT_PER_MINUTE setting, "
        "0 means no limit.",
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.namespace.name})"

    @property
    def is_active(self):
        return self.revoked_at is None


class RateCounter(models.Model):
    """How many requests one caller ("key:<id>" or "user:<id>") made in the
    current minute: one row per caller, counted up by a single upsert in
    convoproject.rpc.throttling, so every app server shares the count."""

    bucket = models.CharField(max_length=64, primary_key=True)
    minute = models.BigIntegerField(help_text="The minute counted: Unix time // 60.")
    count = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.bucket}: {self.count} in minute {self.minute}"


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
