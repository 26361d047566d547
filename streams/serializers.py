from rest_framework import serializers

from convoproject.messaging.reports import report_serializer
from convoproject.messaging.serializers import author_id_field, message_serializer, text_field
from convoproject.rpc import fields
from convoproject.rpc.render import renderer, rows_renderer

from .models import Conversation, Message, Report

MISSING_ID = ("MISSING_ID", "Missing ID")
MISSING_GROUP_ID = ("MISSING_GROUP_ID", "Missing GroupID")
MISSING_TOPIC = ("MISSING_TOPIC", "Missing Topic")
MISSING_CONVERSATION_ID = ("MISSING_CONVERSATION_ID", "Missing Conversation ID")
MISSING_CONVERSATION_IDS = (
    "MISSING_CONVERSATION_IDS",
    "One or more Conversation IDs are required",
)

TOPIC_MAX = 255


# ---------------------------------------------------------------- responses
# Each shape once, as a serializer (what the OpenAPI document shows); the
# views render with the plain functions derived from them.


class ConversationSerializer(serializers.ModelSerializer):
    created_at = fields.TimestampOut()

    class Meta:
        model = Conversation
        fields = ["id", "group_id", "topic", "created_at"]


MessageSerializer = message_serializer(Message)

render_conversation = renderer(ConversationSerializer)
render_message = renderer(MessageSerializer)
render_message_rows = rows_renderer(MessageSerializer)
ReportSerializer = report_serializer(Report)
render_report = renderer(ReportSerializer)


class ConversationResponse(serializers.Serializer):
    conversation = ConversationSerializer()


class ConversationsResponse(serializers.Serializer):
    conversations = ConversationSerializer(many=True, help_text="Newest first.")


class ReportResponse(serializers.Serializer):
    report = ReportSerializer()


class MessageResponse(serializers.Serializer):
    message = MessageSerializer()


class MessagesResponse(serializers.Serializer):
    messages = MessageSerializer(many=True)


class EmptyResponse(serializers.Serializer):
    """Always the empty object {}."""


# ---------------------------------------------------------------- requests, fields in validation order


class CreateConversationRequest(serializers.Serializer):
    group_id = fields.ClientId(missing=MISSING_GROUP_ID, wrapped=True)
    topic = fields.Text(max_length=TOPIC_MAX, missing=MISSING_TOPIC)


class ReadConversationRequest(serializers.Serializer):
    id = fields.RowId(missing=MISSING_ID)
    group_id = fields.ClientId(wrapped=True)


class UpdateConversationRequest(serializers.Serializer):
    id = fields.RowId(missing=MISSING_ID)
    topic = fields.Text(max_length=TOPIC_MAX, missing=MISSING_TOPIC)


class DeleteConversationRequest(serializers.Serializer):
    id = fields.RowId(missing=MISSING_ID)


class ListConversationsRequest(serializers.Serializer):
    group_id = fields.ClientId(missing=MISSING_GROUP_ID, wrapped=True)


class CreateMessageRequest(serializers.Serializer):
    author_id = author_id_field()
    conversation_id = fields.RowId(missing=MISSING_CONVERSATION_ID)
    text = text_field()


class ListMessagesRequest(serializers.Serializer):
    conversation_id = fields.RowId(missing=MISSING_CONVERSATION_ID)
    sent_before = fields.Timestamp()
    limit = fields.Limit()


class RecentMessagesRequest(serializers.Serializer):
    conversation_ids = fields.RowIdList(missing=MISSING_CONVERSATION_IDS)
    limit_per_conversation = fields.Limit()
