from django.conf import settings
from django.db import models

from convoproject.tenants.models import Namespace


class ModerationEvent(models.Model):
    """One moderation action: who did what to which object(s), when and why.
    Written only by convoproject.moderation.services; read-only in admin."""

    class Action(models.TextChoices):
        HIDE = "hide", "Hide messages"
        UNHIDE = "unhide", "Unhide messages"
        DELETE = "delete", "Delete messages"
        HIDE_AUTHOR = "hide_author", "Hide an author's messages"
        DELETE_AUTHOR = "delete_author", "Delete an author's messages"
        DELETE_CONVERSATION = "delete_conversation", "Delete a conversation"
        DELETE_CHAT = "delete_chat", "Delete a chat"
        REVOKE_KEY = "revoke_key", "Revoke an API key"
        AUTO_HIDE = "auto_hide", "Hide a reported message automatically"
        CONFIRM_REPORTS = "confirm_reports", "Confirm reports"
        DISMISS_REPORTS = "dismiss_reports", "Dismiss reports"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Kept as text too, so the trail still names a user who was deleted since.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    namespace = models.ForeignKey(Namespace, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    target_type = models.CharField(max_length=64, help_text="What was acted on, e.g. streams.message.")
    target = models.TextField(help_text="The object, or a description of the objects, acted on.")
    count = models.PositiveIntegerField(help_text="How many rows the action changed.")
    reason = models.TextField()
    details = models.JSONField(default=dict, blank=True, help_text="Ids, author, time window, as applicable.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="moderation_actor_idx")]

    def __str__(self):
        return f"{self.actor_name} {self.get_action_display().lower()} ({self.count}): {self.target}"


class ModerationToken(models.Model):
    """A token of the moderation API (convoproject.moderation.api), for one
    staff user: what it may do is what the user may do. As with API keys
    (tenants.ApiKey), only its SHA-256 digest and a prefix are kept; it is
    shown once, when made (`manage.py create_moderation_token USERNAME`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_tokens")
    prefix = models.CharField(max_length=16, help_text="The first characters of the token, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self):
        return self.revoked_at is None
