from django.contrib import admin

from .models import Chat, Message


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ["__str__", "namespace", "created_at"]
    list_filter = ["namespace"]
    list_select_related = ["namespace"]
    search_fields = ["=id"]
    readonly_fields = ["id", "user_ids", "members_key", "created_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "author_id", "chat", "namespace", "sent_at", "hidden"]
    list_filter = ["namespace", "hidden"]
    list_select_related = ["namespace", "chat"]
    search_fields = ["=id", "=author_id", "text"]
    raw_id_fields = ["chat"]
    readonly_fields = ["id", "sent_at"]
