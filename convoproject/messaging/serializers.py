"""What the two services' messages share on the wire (CONTRACT 3): the
request fields of a new message, and the answer's form, one DRF serializer
per message model: {id, author_id, <parent>_id, text, sent_at}. The RPCs
render with the plain function derived from it (convoproject.rpc.render),
and the OpenAPI document shows it."""

from rest_framework import serializers

from convoproject.rpc import fields
from convoproject.rpc.fields import TimestampOut

TEXT_MAX = 10_000
MISSING_AUTHOR_ID = ("MISSING_AUTHOR_ID", "Missing Author ID")
MISSING_TEXT = ("MISSING_TEXT", "Missing text")


def author_id_field():
    """A CreateMessage's `author_id`."""
    return fields.ClientId(missing=MISSING_AUTHOR_ID)


def text_field():
    """A CreateMessage's `text`: 1 to TEXT_MAX code points."""
    return fields.Text(max_length=TEXT_MAX, missing=MISSING_TEXT)


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
