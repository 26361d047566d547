"""The base of the admins of rows the API writes."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied, SuspiciousOperation

from .text import parse_uuid


def reject_nul_in_query(request):
    """Admin filters go straight into SQL; PostgreSQL cannot take a NUL."""
    if any("\x00" in value for values in request.GET.lists() for value in values[1]):
        raise SuspiciousOperation("NUL character in the query string")


class ApiDataAdmin(admin.ModelAdmin):
    """Admin of rows the API writes (conversations, chats, messages): never added
    or edited here; found by exact UUID or by `search_text`; deleted only by
    the subclass's own action and delete page (`confirm_delete`), which ask a
    reason and record it (Django's delete_selected and delete page would do
    neither)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, str(parse_uuid(object_id) or ""), from_field) if object_id else None

    def delete_view(self, request, object_id, extra_context=None):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if obj is None:  # Django's own answer: back to the index, saying it does not exist
            return super().delete_view(request, object_id, extra_context)
        return self.confirm_delete(request, obj)

    def confirm_delete(self, request, obj):
        """The page that asks a reason, then deletes `obj` and records it; none here."""
        raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        reject_nul_in_query(request)
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        row_id = parse_uuid(term)
        if row_id is not None:
            return queryset.filter(pk=row_id), False
        return self.search_text(queryset, term), False

    def search_text(self, queryset, term):
        return queryset.none()
