from rest_framework import serializers

from convoproject.messaging import message_serializer
from convoproject.rpc import fields

from .models import Chat, Message

MISSING_USER_IDS = ("MISSING_USER_IDs", "Two or more user IDs are required")
MISSING_AUTHOR_ID = ("MISSING_AUTHOR_ID", "Missing Author ID")
MISSING_CHAT_ID = ("MISSING_CHAT_ID", "Missing Chat ID")
MISSING_TEXT = ("MISSING_TEXT", "Missing text")

TEXT_MAX = 10_000


class ChatSerializer(serializers.ModelSerializer):
    created_at = fields.TimestampOut()

    class Meta:
        model = Chat
        fields = ["id", "user_ids", "created_at"]


MessageSerializer = message_serializer(Message)


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
