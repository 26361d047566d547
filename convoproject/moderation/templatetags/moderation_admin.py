"""{% moderation_date_hierarchy cl %}: admin's date drill-down, the same as
Django's {% date_hierarchy cl %} (same function, same template), but asking
its questions of a SelectionPeriods, which answers them with index probes on
a large selection instead of a pass over every row."""

from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.templatetags.base import InclusionAdminNode

from convoproject.moderation.admin import CappedCountPaginator, SelectionPeriods

register = template.Library()


class _ChangeListWithPeriods:
    """The changelist as date_hierarchy() sees it: `queryset` answered by SelectionPeriods."""

    def __init__(self, cl):
        self._cl = cl
        field = cl.date_hierarchy
        self.queryset = SelectionPeriods(
            cl.queryset,
            field,
            cl.result_count,
            getattr(cl.paginator, "CAP", CappedCountPaginator.CAP),
            year=cl.params.get(f"{field}__year"),
            month=cl.params.get(f"{field}__month"),
        )

    def __getattr__(self, name):
        return getattr(self._cl, name)


def moderation_date_hierarchy(cl):
    return date_hierarchy(_ChangeListWithPeriods(cl)) if cl.date_hierarchy else None


@register.tag(name="moderation_date_hierarchy")
def moderation_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=moderation_date_hierarchy, template_name="date_hierarchy.html", takes_context=False
    )
