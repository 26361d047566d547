from rest_framework import serializers

from convoproject.messaging.reports import report_serializer
from convoproject.messaging.serializers import author_id_field, message_serializer, text_field
from convoproject.rpc import fields
from convoproject.rpc.render import renderer, rows_renderer

from .models import Chat, Message, Report

MISSING_USER_IDS = ("MISSING_USER_IDs", "Two or more user IDs are required")
MISSING_CHAT_ID = ("MISSING_CHAT_ID", "Missing Chat ID")


class ChatSerializer(serializers.ModelSerializer):
    # Declared rather than derived from the JSONField, so that the OpenAPI
    # document knows its shape; renders the stored list as it is.
    user_ids = serializers.ListField(
        child=serializers.CharField(max_length=fields.CLIENT_ID_MAX),
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

# What the views render with: derived from the serializers above.
render_chat = renderer(ChatSerializer)
render_message = renderer(MessageSerializer)
render_message_rows = rows_renderer(MessageSerializer)
ReportSerializer = report_serializer(Report)
render_report = renderer(ReportSerializer)


class ChatResponse(serializers.Serializer):
    chat = ChatSerializer()


class ReportResponse(serializers.Serializer):
    report = ReportSerializer()


class MessageResponse(serializers.Serializer):
    message = MessageSerializer()


class MessagesResponse(serializers.Serializer):
    messages = MessageSerializer(many=True, help_text="Newest first.")


class CreateChatRequest(serializers.Serializer):
    user_ids = fields.UserIdList(missing=MISSING_USER_IDS)


class CreateMessageRequest(serializers.Serializer):
    author_id = author_id_field()
    chat_id = fields.RowId(missing=MISSING_CHAT_ID)
    text = text_field()


class ListMessagesRequest(serializers.Serializer):
    chat_id = fields.RowId(missing=MISSING_CHAT_ID)
    sent_before = fields.Timestamp()
    limit = fields.Limit()
