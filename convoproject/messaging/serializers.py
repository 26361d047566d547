"""The wire form of a message (CONTRACT 3), one DRF serializer per message
model: {id, author_id, <parent>_id, text, sent_at}. The RPCs render with the
plain function derived from it (convoproject.rpc.render), and the OpenAPI
document shows it."""

from rest_framework import serializers

from convoproject.rpc.fields import TimestampOut


def message_serializer(message_model):
    """The serializer class of `message_model`'s wire form."""
    parent_key = f"{message_model.PARENT}_id"
    meta = type("Meta", (), {"model": message_model, "fields": ["id", "author_id", parent_key, "text", "sent_at"]})
    attributes = {
        "__module__": message_model.__module__,
        "__doc__": "A message, as every RPC answers it.",
        parent_key: serializers.UUIDField(read_only=True),
        "sent_at": TimestampOut(),
        "Meta": meta,
    }
    return type("MessageSerializer", (serializers.ModelSerializer,), attributes)
