"""The review queue's list filters: its state (open by default) and a reason.
The choices come from the queue's models (a ReportedMessage's State, its
reports' reason field)."""

from django.contrib import admin
from django.db.models import Q, QuerySet

OPEN = "open"
ALL = "all"
STATES = ("open", "actioned", "dismissed")  # ReportedMessageBase.State's values


class QueueStateFilter(admin.SimpleListFilter):
    """Open items unless asked otherwise: the queue is the work still to do.
    No "All" link of Django's (it would mean "open" here); "all" is a choice."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*model_admin.model.State.choices, (ALL, "All")]

    def value(self) -> str:
        value = super().value()
        return value if value in {*STATES, ALL} else OPEN

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value == ALL else queryset.filter(state=value)

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


def state_of(request) -> str:
    """The queue state a changelist request shows (QueueStateFilter's value)."""
    value = request.GET.get(QueueStateFilter.parameter_name)
    return value if value in {*STATES, ALL} else OPEN


class ReasonFilter(admin.SimpleListFilter):
    """Items whose open reports include a reason (`reasons` is a comma list)."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return model_admin.reason_choices

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        reason = self.value()
        if reason not in dict(self.lookup_choices):
            return queryset
        return queryset.filter(
            Q(reasons=reason)
            | Q(reasons__startswith=f"{reason},")
            | Q(reasons__endswith=f",{reason}")
            | Q(reasons__contains=f",{reason},")
        )
