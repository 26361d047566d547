from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


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
    auto_hide_threshold = models.PositiveIntegerField(
        null=True,
        validators=[MinValueValidator(1)],
        blank=True,
        help_text="Hide a message at once when this many distinct users have open reports on it "
        "(it stays in the review queue for a moderator to confirm or undo). Empty: off.",
    )

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
