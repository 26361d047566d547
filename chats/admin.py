from django.contrib import admin

from convoproject.moderation.admin import (
    MessageModerationAdmin,
    ReportListAdmin,
    ReviewQueueAdmin,
    WithMessagesAdmin,
    excerpt,
)

from .models import Chat, Message, Report, ReportedMessage


@admin.register(Chat)
class ChatAdmin(WithMessagesAdmin):
    message_model = Message
    list_display = ["members", "namespace", "created_at"]
    fields = ["id", "namespace", "user_ids", "created_at", "latest_messages"]
    readonly_fields = ["latest_messages"]
    search_fields = ["id"]
    search_help_text = "An exact chat id."

    @admin.display(description="users")
    def members(self, chat):
        return excerpt(", ".join(chat.user_ids), 80)


@admin.register(Message)
class MessageAdmin(MessageModerationAdmin):
    pass


@admin.register(ReportedMessage)
class ReportedMessageAdmin(ReviewQueueAdmin):
    parent_field = "chat"


@admin.register(Report)
class ReportAdmin(ReportListAdmin):
    pass
