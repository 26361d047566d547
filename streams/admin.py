from django.contrib import admin
from django.db.models import Q

from convoproject.moderation.admin import (
    MessageModerationAdmin,
    ReportListAdmin,
    ReviewQueueAdmin,
    WithMessagesAdmin,
    excerpt,
)

from .models import Conversation, Message, Report, ReportedMessage


@admin.register(Conversation)
class ConversationAdmin(WithMessagesAdmin):
    message_model = Message
    list_display = ["topic_excerpt", "group_id", "namespace", "created_at"]
    fields = ["id", "namespace", "group_id", "topic", "created_at", "latest_messages"]
    readonly_fields = ["latest_messages"]
    search_fields = ["topic"]
    search_help_text = "Topic (contains), an exact group id, or an exact conversation id."

    @admin.display(description="topic", ordering="topic")
    def topic_excerpt(self, conversation):
        return excerpt(conversation.topic, 60)

    def search_text(self, queryset, term):
        return queryset.filter(Q(topic__icontains=term) | Q(group_id=term))


@admin.register(Message)
class MessageAdmin(MessageModerationAdmin):
    pass


@admin.register(ReportedMessage)
class ReportedMessageAdmin(ReviewQueueAdmin):
    parent_field = "conversation"


@admin.register(Report)
class ReportAdmin(ReportListAdmin):
    pass
