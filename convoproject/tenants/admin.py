from django.contrib import admin, messages

from .keys import new_key_for, revoke
from .models import ApiKey, Namespace


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with `manage.py create_api_key`; the key itself is
    shown once, right after it is made. Only its prefix is ever listed."""

    list_display = ["prefix", "namespace", "created_at", "revoked_at"]
    list_filter = ["namespace", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["namespace"]
    fields = ["namespace", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "namespace"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing of a key is editable
        api_key, raw_key = new_key_for(obj.namespace)
        obj.pk, obj.prefix, obj.created_at = api_key.pk, api_key.prefix, api_key.created_at
        self.message_user(
            request,
            f"New API key for {obj.namespace}: {raw_key} — copy it now, it is not shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            revoke(api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
