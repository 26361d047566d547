"""The admin of a conversation or chat: a parent with messages."""

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .. import services
from ..selection import of_parent
from .base import ApiDataAdmin
from .forms import ReasonForm
from .pages import action_carry, action_page
from .paginator import CappedCountPaginator
from .text import excerpt

LATEST_ON_PAGE = 20
LISTED_ON_DELETE = 20  # parents listed, each with its number of messages
TOTALLED_ON_DELETE = 100  # up to this many parents, their messages are counted in all


class WithMessagesAdmin(ApiDataAdmin):
    """The admin of a conversation or chat: its page shows its latest messages
    (never all of them), and deleting it says how many messages go with it,
    asks a reason, and removes them in one transaction."""

    list_filter = ["namespace", "created_at"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_per_page = 50
    list_select_related = ["namespace"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["delete_with_messages"]
    message_model = None  # the message model whose PARENT is this model

    @admin.display(description="latest messages")
    def latest_messages(self, parent):
        messages_admin = self.admin_site.get_model_admin(self.message_model)
        # Selected as the message list selects them (of_parent: an id the
        # planner does not look into, which keeps this a walk of the unique
        # index for a parent holding most of the table).
        rows = (
            self.message_model.objects.filter(of_parent(self.message_model, parent.pk))
            .select_related("hidden_by")
            .order_by("-sent_at")[:LATEST_ON_PAGE]
        )
        table = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    messages_admin.url_of("change", m.pk),
                    m.sent_at.strftime("%Y-%m-%d %H:%M:%S"),
                    m.author_id,
                    excerpt(m.text),
                    messages_admin.moderation_state(m),
                )
                for m in rows
            ),
        )
        all_url = messages_admin.changelist_url(
            **{self.message_model.PARENT: parent.pk, "namespace__id__exact": parent.namespace_id}
        )
        return format_html(
            '<table class="latest-messages"><thead><tr><th>sent</th><th>author</th><th>text</th><th>state</th>'
            "</tr></thead><tbody>{}</tbody></table><p>The latest {} shown, newest first. "
            '<a href="{}">All messages of this {} →</a></p>',
            table or format_html('<tr><td colspan="4">No messages.</td></tr>'),
            LATEST_ON_PAGE,
            all_url,
            self.opts.verbose_name,
        )

    def message_counts(self, parents):
        """{parent pk: its number of messages}, in one grouped query."""
        parent_field = self.message_model.PARENT
        rows = (
            self.message_model.objects.filter(**{f"{parent_field}__in": [p.pk for p in parents]})
            .order_by()
            .values_list(parent_field)
            .annotate(Count("pk"))
        )
        return dict(rows)

    def _delete_page(self, request, parents, carry, cancel_url):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            events = [
                services.delete_with_messages(p, actor=request.user, reason=form.cleaned_data["reason"])
                for p in parents
            ]
            events = [e for e in events if e is not None]
            deleted = sum(e.count for e in events)
            notice = f"Deleted {len(events)} {self.opts.verbose_name_plural} and {deleted:,} message(s)."
            self.message_user(request, notice, messages.SUCCESS)
            return None
        totalled = len(parents) <= TOTALLED_ON_DELETE
        counts = self.message_counts(parents if totalled else parents[:LISTED_ON_DELETE])
        items = [f"{p} ({counts.get(p.pk, 0):,} messages)" for p in parents[:LISTED_ON_DELETE]]
        summary = f"Delete {len(parents)} {self.opts.verbose_name_plural} " + (
            f"and their {sum(counts.values()):,} message(s)?" if totalled else "and all their messages?"
        )
        return action_page(
            request,
            self,
            title=f"Delete {self.opts.verbose_name_plural}",
            summary=summary + " This cannot be undone.",
            items=items,
            form=form,
            submit_label="Delete",
            carry=carry,
            cancel_url=cancel_url,
        )

    @admin.action(description="Delete the selected with their messages…", permissions=["delete"])
    def delete_with_messages(self, request, queryset):
        parents = list(queryset.select_related("namespace"))
        return self._delete_page(request, parents, action_carry(request, "delete_with_messages"), None)

    def confirm_delete(self, request, parent):
        response = self._delete_page(
            request, [parent], carry=[], cancel_url=reverse(admin_urlname(self.opts, "change"), args=[parent.pk])
        )
        return response or HttpResponseRedirect(reverse(admin_urlname(self.opts, "changelist")))
