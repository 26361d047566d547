"""The moderation-state list filter, with facet counts that scale."""

from django.contrib import admin
from django.db.models import Count, Q


class ModerationStateFilter(admin.SimpleListFilter):
    title = "moderation state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("visible", "Visible"), ("hidden", "Hidden")]

    def queryset(self, request, queryset):
        if self.value() in ("visible", "hidden"):
            return queryset.filter(hidden=self.value() == "hidden")
        return queryset

    def get_facet_counts(self, pk_attname, filtered_qs):
        # "Show counts": one COUNT ... FILTER (WHERE hidden) per choice. Django's
        # default, COUNT ... FILTER (WHERE id IN (<this filter's queryset>)),
        # ran for more than 15 minutes on a million messages without finishing.
        return {
            f"{i}__c": Count(pk_attname, filter=Q(hidden=value == "hidden"))
            for i, (value, _) in enumerate(self.lookup_choices)
        }
