"""The review queue (issue 12): one row per reported message (a
ReportedMessage), oldest open first; confirm (hide), dismiss, or clean up
after the author, each asking a reason, each through
convoproject.moderation.reports or the message admin's clean-up, so the
moderation log records it and the live events go out.

Built for 100,000 reports: the open queue is a walk of the (state,
first_reported_at) index, or (namespace, state, first_reported_at) with the
namespace filter. Its rows come with their message, conversation or chat, namespace
and reviewer in the same query; no full count, no facet counts."""

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from .. import reports
from ..services import report_model_of
from .base import ApiDataAdmin
from .forms import ReasonForm
from .pages import action_carry, action_page
from .paginator import CappedCountPaginator
from .queue_filters import ALL, OPEN, QueueStateFilter, ReasonFilter, state_of
from .text import excerpt, parse_uuid

REPORTS_ON_PAGE = 200  # an item's page lists its newest reports up to this many
LISTED_ON_CONFIRM = 10


class ReviewQueueAdmin(ApiDataAdmin):
    """The admin of a service's ReportedMessage: the review queue. Read-only
    rows (the reports write them); moderators act on them with the actions
    and the buttons of an item's page, never by editing."""

    list_display = [
        "message_excerpt",
        "author",
        "parent_link",
        "namespace",
        "open_reports",
        "reason_list",
        "hidden_state",
        "first_reported",
        "last_reported",
    ]
    list_display_links = ["message_excerpt"]
    list_filter = [QueueStateFilter, "namespace", ReasonFilter, "first_reported_at"]
    sortable_by = ["open_reports", "first_reported", "last_reported"]
    list_per_page = 50
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # Django's facet counts would count the whole queue per choice
    search_fields = ["message__author_id"]  # turns the search box on; get_search_results does the searching
    search_help_text = "An exact message id or an exact author id."
    actions = ["confirm_selected", "dismiss_selected", "clean_up_author"]
    change_form_template = "admin/moderation/queue_change_form.html"
    parent_field = ""  # the message's foreign key to its conversation or chat: set by each service's admin

    # ------------------------------------------------------------ models and permissions

    @property
    def message_model(self):
        return self.model._meta.get_field("message").related_model

    @property
    def reason_choices(self) -> list[tuple[str, str]]:
        return report_model_of(self.message_model)._meta.get_field("reason").choices

    @property
    def message_admin(self):
        return self.admin_site.get_model_admin(self.message_model)

    def has_delete_permission(self, request, obj=None):
        return False  # an item goes with its message; reports are evidence

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.message_model._meta.app_label}.moderate_message")

    # ------------------------------------------------------------ the list

    def get_queryset(self, request):
        related = ["namespace", "message", f"message__{self.parent_field}", "reviewed_by"]
        return super().get_queryset(request).select_related(*related)

    def get_ordering(self, request):
        """Open: oldest first (the (state, first_reported_at) indexes).
        Confirmed or dismissed: latest reviewed first (a resolved item's
        first_reported_at is cleared). All: the never reviewed first, then
        latest reviewed. The orders of the indexes bench's scale work adds."""
        state = state_of(request)
        if state == OPEN:
            return ["first_reported_at", "pk"]
        if state == ALL:
            return [F("reviewed_at").desc(nulls_first=True), "first_reported_at", "pk"]
        return ["-reviewed_at", "pk"]

    def get_list_display(self, request):
        """Resolved items also say who resolved them and when."""
        shown = list(super().get_list_display(request))
        return shown if state_of(request) == OPEN else [*shown, "review_state"]

    def search_text(self, queryset, term):
        # An exact message id is the item's pk (ApiDataAdmin.get_search_results);
        # anything else an exact author id (the messages' author index).
        return queryset.filter(message__author_id=term)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Review queue", **(extra_context or {})})

    # ------------------------------------------------------------ columns

    @admin.display(description="message")
    def message_excerpt(self, item) -> str:
        return excerpt(item.message.text)

    @admin.display(description="author")
    def author(self, item) -> str:
        message = item.message
        query = urlencode({"author_id": message.author_id, "namespace__id__exact": item.namespace_id})
        url = reverse(admin_urlname(self.message_model._meta, "changelist")) + "?" + query
        return format_html('<a href="{}" title="All messages of this author">{}</a>', url, message.author_id)

    @admin.display(description="in")
    def parent_link(self, item) -> str:
        parent = getattr(item.message, self.parent_field)
        url = reverse(admin_urlname(parent._meta, "change"), args=[parent.pk])
        return format_html('<a href="{}">{}</a>', url, excerpt(str(parent), 40))

    @admin.display(description="reporters", ordering="open_reports")
    def open_reports(self, item) -> int:
        return item.open_reports

    @admin.display(description="first reported", ordering="first_reported_at")
    def first_reported(self, item) -> str:
        return short_time(item.first_reported_at)

    @admin.display(description="last reported", ordering="last_reported_at")
    def last_reported(self, item) -> str:
        return short_time(item.last_reported_at)

    @admin.display(description="reasons")
    def reason_list(self, item) -> str:
        labels = dict(self.reason_choices)
        return ", ".join(labels.get(r, r) for r in item.reasons.split(",") if r) or "—"

    @admin.display(description="message state")
    def hidden_state(self, item) -> str:
        if not item.message.hidden:
            return "Visible"
        if item.hidden_automatically:
            return format_html(
                '<strong class="auto-hidden" title="{}">Hidden automatically</strong>',
                "The namespace's report threshold hid it; confirm to keep it hidden, dismiss to show it again.",
            )
        return mark_safe("<strong>Hidden</strong>")

    @admin.display(description="review")
    def review_state(self, item) -> str:
        if item.state == OPEN:
            return "Open"
        by = item.reviewed_by.get_username() if item.reviewed_by else "someone"
        return f"{item.get_state_display()} by {by} at {short_time(item.reviewed_at)}"

    # ------------------------------------------------------------ an item's page

    def get_fields(self, request, obj=None):
        return [
            "message_text",
            "author",
            "parent_link",
            "namespace",
            "hidden_state",
            "review_state",
            "open_reports",
            "reason_list",
            "first_reported_at",
            "last_reported_at",
            "report_list",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="message")
    def message_text(self, item) -> str:
        return format_html(
            '<div class="reported-message">{}</div><p><a href="{}">The message in its admin →</a></p>',
            item.message.text,
            reverse(admin_urlname(self.message_model._meta, "change"), args=[item.pk]),
        )

    @admin.display(description="reports")
    def report_list(self, item) -> str:
        """Every report of the message, newest first, resolved ones too."""
        rows = item.message.reports.select_related("resolved_by").order_by("-created_at")[:REPORTS_ON_PAGE]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    r.reporter_id,
                    r.get_reason_display(),
                    r.description or "—",
                    r.get_state_display(),
                    resolution(r),
                )
                for r in rows
            ),
        )
        return format_html(
            '<table class="report-list"><thead><tr><th>reported</th><th>reporter</th><th>reason</th>'
            "<th>description</th><th>state</th><th>resolved</th></tr></thead><tbody>{}</tbody></table>"
            "<p>Newest first, up to {}.</p>",
            body or format_html('<tr><td colspan="6">No reports.</td></tr>'),
            REPORTS_ON_PAGE,
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        """The item's buttons: each leads to its confirmation page."""
        links = []
        if obj is not None and self.has_moderate_permission(request):
            if obj.state == OPEN:
                links += [(self.url_of("confirm", obj.pk), "Confirm…"), (self.url_of("dismiss", obj.pk), "Dismiss…")]
            links.append((self.url_of("clean_up_author", obj.pk), f"Clean up author {obj.message.author_id}…"))
        context["moderation_links"] = links
        return super().render_change_form(request, context, add, change, form_url, obj)

    # ------------------------------------------------------------ urls

    def url_of(self, name: str, *args) -> str:
        return reverse(admin_urlname(self.opts, name), args=args)

    def url_name(self, name: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{name}"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/confirm/", view(self.confirm_view), name=self.url_name("confirm")),
            path("<path:object_id>/dismiss/", view(self.dismiss_view), name=self.url_name("dismiss")),
            path("<path:object_id>/clean-up-author/", view(self.clean_up_view), name=self.url_name("clean_up_author")),
            *super().get_urls(),
        ]

    # ------------------------------------------------------------ one item: its buttons

    def confirm_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._one_item(request, object_id, confirm=True)

    def dismiss_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._one_item(request, object_id, confirm=False)

    def _one_item(self, request, object_id, *, confirm):
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        item = get_object_or_404(self.get_queryset(request), pk=parse_uuid(object_id))
        form = self._resolve(request, self.model.objects.filter(pk=item.pk), confirm=confirm)
        if form is None:
            return HttpResponseRedirect(self.url_of("changelist"))
        cancel = self.url_of("change", item.pk)
        return self._resolve_page(request, form, [item], 1, confirm=confirm, carry=(), cancel=cancel)

    def clean_up_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The message admin's clean-up of the item's author (its own page)."""
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        item = get_object_or_404(self.model, pk=parse_uuid(object_id))
        return self.clean_up_author(request, self.model.objects.filter(pk=item.pk))

    # ------------------------------------------------------------ bulk actions

    @admin.action(description="Confirm the selected reports (hide the messages)…", permissions=["moderate"])
    def confirm_selected(self, request, queryset):
        return self._bulk(request, queryset, "confirm_selected", confirm=True)

    @admin.action(description="Dismiss the selected reports…", permissions=["moderate"])
    def dismiss_selected(self, request, queryset):
        return self._bulk(request, queryset, "dismiss_selected", confirm=False)

    @admin.action(description="Clean up the author of the selected message…", permissions=["moderate"])
    def clean_up_author(self, request, queryset):
        """The message admin's clean-up (its form and page): the selected items'
        messages go to its action, which takes exactly one author."""
        return self.message_admin.clean_up_author(request, self.messages_of(queryset))

    def _bulk(self, request, queryset, action_name, *, confirm):
        form = self._resolve(request, queryset, confirm=confirm)
        if form is None:
            return None
        count = queryset.order_by()[: CappedCountPaginator.CAP].count()
        shown = queryset[:LISTED_ON_CONFIRM]
        carry = action_carry(request, action_name)
        return self._resolve_page(request, form, shown, count, confirm=confirm, carry=carry)

    def messages_of(self, items: QuerySet) -> QuerySet:
        """The messages of a queryset of items (an item's pk is its message's)."""
        return self.message_model.objects.filter(pk__in=items.order_by().values("pk"))

    def _resolve(self, request, items, *, confirm) -> ReasonForm | None:
        """Confirm or dismiss the items' open reports when a reason is posted
        (then None), else the reason's form to show."""
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            return form
        step = reports.confirm_reports if confirm else reports.dismiss_reports
        event = step(self.messages_of(items), actor=request.user, reason=form.cleaned_data["reason"])
        if event is None:
            self.message_user(request, "None of the selected messages has open reports.", messages.WARNING)
        elif confirm:
            notice = f"Confirmed the reports of {event.details['messages']} message(s): hidden."
            self.message_user(request, notice, messages.SUCCESS)
        else:
            notice = f"Dismissed the reports of {event.details['messages']} message(s)."
            self.message_user(request, notice, messages.SUCCESS)
        return None

    def _resolve_page(self, request, form, items, count, *, confirm, carry, cancel=None):
        verb = "Confirm" if confirm else "Dismiss"
        what = (
            "The messages are hidden and their open reports marked confirmed."
            if confirm
            else "Their open reports are marked dismissed; the messages stay visible (one the namespace's report "
            "threshold hid is shown again)."
        )
        shown = f"{count:,}" if count < CappedCountPaginator.CAP else f"{count:,} or more"
        return action_page(
            request,
            self,
            title=f"{verb} reports",
            summary=f"{verb} the open reports of {shown} reported message(s)? {what}",
            items=[
                f"{i.message.author_id}: {excerpt(i.message.text)} ({i.open_reports} reporter(s): "
                f"{self.reason_list(i)})"
                for i in items
            ],
            form=form,
            submit_label=verb,
            carry=carry,
            cancel_url=cancel,
        )


def short_time(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


def resolution(report) -> str:
    """Who resolved a report, when, and their note; "—" while it is open."""
    if report.resolved_at is None:
        return "—"
    by = report.resolved_by.get_username() if report.resolved_by else "someone"
    note = f": {report.resolution_note}" if report.resolution_note else ""
    return f"{by} at {short_time(report.resolved_at)}{note}"
