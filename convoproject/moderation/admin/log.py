"""The moderation log: read-only."""

from django.contrib import admin

from ..models import ModerationEvent
from .paginator import CappedCountPaginator
from .text import excerpt


@admin.register(ModerationEvent)
class ModerationEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the moderation functions alone."""

    list_display = ["created_at", "actor_name", "action", "target", "count", "namespace", "reason_excerpt"]
    list_filter = ["action", "namespace", "created_at"]
    list_select_related = ["namespace"]
    search_fields = ["actor_name", "target", "reason"]
    date_hierarchy = "created_at"
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="reason")
    def reason_excerpt(self, event):
        return excerpt(event.reason, 60)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
