"""The message lists' own filters: the moderation state, with facet counts
that scale, and one conversation or chat."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Q

from ..selection import of_parent
from .text import parse_uuid


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


class ParentFilter(admin.SimpleListFilter):
    """The messages of one conversation or chat (`?conversation=<id>`,
    `?chat=<id>`, as its page links them), selected as the moderation API
    selects them (convoproject.moderation.selection.of_parent): Django's own
    `conversation_id = <id>` let PostgreSQL's planner walk the `sent_at` index
    of all parents for a parent holding most of the table. Shown only while
    it filters, by the id (no query)."""

    def __init__(self, request, params, model, model_admin):
        self.parameter_name = model.PARENT
        self.title = model._meta.get_field(model.PARENT).verbose_name
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        value = self.value()
        return [] if value is None else [(value, value)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(self.selection(queryset.model))

    def selection(self, model):
        parent_id = parse_uuid(self.value())
        if parent_id is None:
            raise IncorrectLookupParameters(f"Not a {self.parameter_name} id: {self.value()!r}")
        return of_parent(model, parent_id)

    def get_facet_counts(self, pk_attname, filtered_qs):
        # Shown only while it filters: its one choice, the parent's messages.
        return {"0__c": Count(pk_attname, filter=self.selection(filtered_qs.model))}
