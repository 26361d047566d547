"""Moderation API tokens: listed (by prefix, never the digest) and revoked
here; made with `manage.py create_moderation_token`, which shows the token once."""

from django.contrib import admin, messages

from ..models import ModerationToken
from ..tokens import revoke_token


@admin.register(ModerationToken)
class ModerationTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "created_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    fields = ["prefix", "user", "created_at", "revoked_at"]
    readonly_fields = fields
    search_fields = ["prefix", "user__username"]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False  # made with manage.py create_moderation_token, the only place it is shown

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays as evidence

    def has_revoke_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        count = sum(1 for token in queryset if token.is_active and revoke_token(token))
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
