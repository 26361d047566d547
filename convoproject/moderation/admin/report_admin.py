"""The reports themselves (a service's Report), read-only: the evidence
behind the review queue, found by reporter or by message."""

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from .base import ApiDataAdmin
from .paginator import CappedCountPaginator
from .text import excerpt, parse_uuid


class ReportListAdmin(ApiDataAdmin):
    """A service's reports, newest first; never added, changed or deleted
    here (they are resolved through the review queue)."""

    list_display = ["created_at", "reporter_id", "reason", "state", "queue_link", "namespace", "resolved"]
    list_filter = ["state", "reason", "namespace", "created_at"]
    ordering = ["-created_at", "-pk"]
    list_per_page = 50
    list_select_related = ["namespace", "resolved_by"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    search_fields = ["reporter_id"]  # turns the search box on; get_search_results does the searching
    search_help_text = "An exact reporter id, or an exact message id."
    fields = [
        "id",
        "namespace",
        "queue_link",
        "reporter_id",
        "reason",
        "description",
        "created_at",
        "state",
        "resolved",
    ]
    readonly_fields = ["queue_link", "resolved"]

    def has_delete_permission(self, request, obj=None):
        return False  # evidence; it goes with its message only

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        row_id = parse_uuid(term)
        if row_id is not None:
            return queryset.filter(Q(message_id=row_id) | Q(pk=row_id)), False
        return queryset.filter(reporter_id=term), False

    @admin.display(description="message")
    def queue_link(self, report) -> str:
        """The message's item in the review queue (its pk is the message's)."""
        queue_model = self.model._meta.get_field("message").related_model._meta.get_field("review").related_model
        url = reverse(admin_urlname(queue_model._meta, "change"), args=[report.message_id])
        return format_html('<a href="{}" title="Its item in the review queue">{}</a>', url, report.message_id)

    @admin.display(description="resolved")
    def resolved(self, report) -> str:
        if report.resolved_at is None:
            return "—"
        by = report.resolved_by.get_username() if report.resolved_by else "someone"
        note = f": {excerpt(report.resolution_note, 60)}" if report.resolution_note else ""
        return f"{report.get_state_display()} by {by} at {report.resolved_at:%Y-%m-%d %H:%M}{note}"
