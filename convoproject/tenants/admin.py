from django.contrib import admin, messages

from convoproject.moderation.admin import ReasonForm, action_carry, action_page
from convoproject.moderation.services import revoke_key

from .keys import new_key_for
from .models import ApiKey, Namespace


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "auto_hide_threshold", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def has_delete_permission(self, request, obj=None):
        # Deleting a namespace deletes all its data; not a click in admin.
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with `manage.py create_api_key`; the key itself is
    shown once, right after it is made. Only its prefix is ever listed."""

    list_display = ["prefix", "namespace", "created_at", "revoked_at", "rate_limit_per_minute"]
    list_filter = ["namespace", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["namespace"]
    fields = ["namespace", "prefix", "created_at", "revoked_at", "rate_limit_per_minute"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "namespace"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: it is recorded, and the key's row stays as evidence

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["rate_limit_per_minute"])  # the only editable field of a key
            return
        api_key, raw_key = new_key_for(obj.namespace, rate_limit_per_minute=obj.rate_limit_per_minute)
        obj.pk, obj.prefix, obj.created_at = api_key.pk, api_key.prefix, api_key.created_at
        self.message_user(
            request,
            f"New API key for {obj.namespace}: {raw_key} — copy it now, it is not shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys…", permissions=["change"])
    def revoke_keys(self, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            events = [revoke_key(k, actor=request.user, reason=form.cleaned_data["reason"]) for k in queryset]
            self.message_user(request, f"Revoked {sum(e.count for e in events)} key(s).", messages.SUCCESS)
            return None
        return action_page(
            request,
            self,
            title="Revoke API keys",
            summary="Revoke these keys? Apps using them are refused from their next request on.",
            items=[str(k) for k in queryset.select_related("namespace")],
            form=form,
            submit_label="Revoke",
            carry=action_carry(request, "revoke_keys"),
        )
