from rest_framework import serializers

from convoproject.messaging import message_serializer, message_wire
from convoproject.rpc import fields
from convoproject.rpc.timestamps import format_timestamp

from .models import Chat, Message

MISSING_USER_IDS = ("MISSING_USER_IDs", "Two or more user IDs are required")
MISSING_AUTHOR_ID = ("MISSING_AUTHOR_ID", "Missing Author ID")
MISSING_CHAT_ID = ("MISSING_CHAT_ID", "Missing Chat ID")
MISSING_TEXT = ("MISSING_TEXT", "Missing text")

TEXT_MAX = 10_000


class ChatSerializer(serializers.ModelSerializer):
    # Declared rather than derived from the JSONField, so that the OpenAPI
    # document knows its shape; renders the stored list as it is.
    user_ids = serializers.ListField(
        child=serializers.CharField(max_length=255),
        min_length=2,
        max_length=fields.MAX_IDS,
        read_only=True,
        help_text="The members, sorted by code point.",
    )
    created_at = fields.TimestampOut()

    class Meta:
        model = Chat
        fields = ["id", "user_ids", "created_at"]


MessageSerializer = message_serializer(Message)


# What the views render with: the same as the serializers above (which the
# OpenAPI document shows), as plain functions, several times faster.


def chat_wire(chat):
    return {"id": str(chat.id), "user_ids": chat.user_ids, "created_at": format_timestamp(chat.created_at)}


message_wire = message_wire(Message)


# The answers of the RPCs (what the views return, for the OpenAPI document).


class ChatResponse(serializers.Serializer):
    chat = ChatSerializer()


class MessageResponse(serializers.Serializer):
    message = MessageSerializer()


class MessagesResponse(serializers.Serializer):
    messages = MessageSerializer(many=True, help_text="Newest first.")


class CreateChatRequest(serializers.Serializer):
    user_ids = fields.UserIdList(missing=MISSING_USER_IDS)


class CreateMessageRequest(serializers.Serializer):
    author_id = fields.ClientId(missing=MISSING_AUTHOR_ID)
    chat_id = fields.RowId(missing=MISSING_CHAT_ID)
    text = fields.Text(max_length=TEXT_MAX, missing=MISSING_TEXT)


class ListMessagesRequest(serializers.Serializer):
    chat_id = fields.RowId(missing=MISSING_CHAT_ID)
    sent_before = fields.Timestamp()
    limit = fields.Limit()
