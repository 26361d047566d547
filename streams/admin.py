from django.contrib import admin

from .models import Conversation, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["topic", "group_id", "namespace", "created_at"]
    list_filter = ["namespace"]
    list_select_related = ["namespace"]
    search_fields = ["=id", "=group_id", "topic"]
    readonly_fields = ["id", "created_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "author_id", "conversation", "namespace", "sent_at", "hidden"]
    list_filter = ["namespace", "hidden"]
    list_select_related = ["namespace", "conversation"]
    search_fields = ["=id", "=author_id", "text"]
    raw_id_fields = ["conversation"]
    readonly_fields = ["id", "sent_at"]
