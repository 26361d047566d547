"""A paginator that never counts millions of rows."""

from django.core.paginator import Paginator
from django.db.models import F, OrderBy, Subquery
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows (`SELECT count(*) FROM (... LIMIT CAP)`), so a
    list over millions of messages never counts them all; pages go up to CAP.

    With `sort_found_rows` (a text search), a selection found smaller than CAP
    is sorted after it is found: its page is ordered by COALESCE(field, field)
    instead of the field, which no index provides. The rows and their order
    are the same; what changes is PostgreSQL's plan. It cannot estimate how
    many messages contain a word, and a guess of ~1,000 where there are 100
    made it walk the sent_at index for the 50 newest matches through half the
    table (230 ms, and more as the table grows) instead of reading the 100
    from the trigram index and sorting them (2 ms). The count has just shown
    how many there are, so the choice need not be left to a guess."""

    CAP = 10_000
    sort_found_rows = False

    @cached_property
    def count(self):
        return self.object_list.order_by()[: self.CAP].count()

    def page(self, number):
        if self.sort_found_rows and self.count < self.CAP:
            self.object_list = sorted_after_filtering(self.object_list)
        page = super().page(number)
        if page.number > 1:
            page.object_list = rows_of_page(self.object_list, (page.number - 1) * self.per_page, self.per_page)
        return page


def rows_of_page(queryset, offset, limit):
    """The rows [offset, offset + limit) of a queryset, in one query that
    skips the offset on the table's own index and joins only the page's rows:
    `WHERE pk IN (SELECT pk ... ORDER BY ... LIMIT ... OFFSET ...)`. values()
    drops select_related's joins, so the subquery walks the ordering's index
    alone. Plain slicing would join every skipped row: page 100 of the review
    queue joined 5,000 items to their messages, conversations, namespaces and
    reviewers (180 ms in EXPLAIN ANALYZE, under load), to keep 50."""
    page_keys = queryset.values("pk")[offset : offset + limit]
    return queryset.filter(pk__in=Subquery(page_keys))


def sorted_after_filtering(queryset):
    """The queryset ordered by COALESCE(f, f) for its first ordering field f:
    the same order, but no index can provide it (an optimisation fence)."""
    ordering = list(queryset.query.order_by)
    if not ordering or not isinstance(ordering[0], str) or "__" in ordering[0] or ordering[0].startswith("?"):
        return queryset
    name = ordering[0].lstrip("-")
    fenced = OrderBy(Coalesce(F(name), F(name)), descending=ordering[0].startswith("-"))
    return queryset.order_by(fenced, *(term for term in ordering[1:] if term != ordering[0]))
