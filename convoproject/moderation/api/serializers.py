"""The moderation API's JSON: a message of either service, a moderation
event, and the bodies of the actions. Timestamps as the RPCs answer them
(UTC, `Z`, six fractional digits)."""

import functools

from rest_framework import serializers

from convoproject.rpc.fields import TimestampOut

from ..models import ModerationEvent
from ..selection import author_selection


class TimestampOrNull(TimestampOut):
    """TimestampOut, or null (DRF renders None without calling the field)."""


@functools.cache
def message_serializer(message_model):
    """The serializer of a message model (MessageBase) for moderators."""
    parent_key = f"{message_model.PARENT}_id"
    meta = type(
        "Meta",
        (),
        {
            "model": message_model,
            "fields": [
                "id",
                "namespace",
                "author_id",
                parent_key,
                "text",
                "sent_at",
                "hidden",
                "hidden_at",
                "hidden_by",
                "hidden_reason",
            ],
        },
    )
    attributes = {
        "__module__": __name__,
        "__doc__": "A message, with its moderation state.",
        "namespace": serializers.CharField(source="namespace.name", read_only=True),
        parent_key: serializers.UUIDField(read_only=True),
        "sent_at": TimestampOut(),
        "hidden_at": TimestampOrNull(),
        "hidden_by": serializers.CharField(
            source="hidden_by.username", read_only=True, allow_null=True, help_text="Who hid it (a username)."
        ),
        "Meta": meta,
    }
    name = f"{message_model._meta.app_label.title()}ModerationMessage"
    return type(name, (serializers.ModelSerializer,), attributes)


class ModerationEventSerializer(serializers.ModelSerializer):
    """One entry of the moderation log: who did what to which messages, when, why."""

    actor = serializers.CharField(source="actor_name", read_only=True, help_text="A username, or 'system'.")
    namespace = serializers.CharField(source="namespace.name", read_only=True, allow_null=True)
    created_at = TimestampOut()

    class Meta:
        model = ModerationEvent
        fields = [
            "id",
            "action",
            "actor",
            "namespace",
            "count",
            "target_type",
            "target",
            "reason",
            "created_at",
            "details",
        ]


class ReasonRequest(serializers.Serializer):
    """Every moderation action says why; it is recorded in the moderation log."""

    reason = serializers.CharField(allow_blank=False, trim_whitespace=True, help_text="Why (required, not blank).")


class TimestampText(serializers.CharField):
    """A timestamp in a body: parsed by the selection, as in a query string."""


class CleanUpRequest(serializers.Serializer):
    """Hide (or, for superusers, delete) one author's messages in a namespace,
    optionally only those sent in [sent_after, sent_before)."""

    namespace = serializers.CharField(help_text="The namespace's name.")
    author_id = serializers.CharField(help_text="The author id, exactly.")
    sent_after = TimestampText(
        required=False, allow_null=True, help_text="Only messages sent at or after this time (RFC 3339)."
    )
    sent_before = TimestampText(
        required=False, allow_null=True, help_text="Only messages sent before this time (RFC 3339)."
    )
    delete = serializers.BooleanField(
        default=False, help_text="Delete them instead of hiding them (superusers only; cannot be undone)."
    )
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True, help_text="Why (required, not blank).")

    def validate(self, attrs):
        """The author's messages are the selection's (convoproject.moderation.selection)."""
        selection = author_selection(self.context["message_model"], attrs)
        if not selection.is_valid():
            raise serializers.ValidationError(selection.errors)
        return {**attrs, **selection.form.cleaned_data}
