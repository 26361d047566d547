"""Django admin for moderators: the bases that Streams' and Chats' admins
share, and the read-only moderation log.

Every change goes through convoproject.moderation.services (the same
functions a person calls from `manage.py shell`), which records it.
Built for millions of messages: no full-table COUNT (CappedCountPaginator),
no date drill-down on messages (Django's passes over the whole selection;
the sent_at date filter runs no query of its own), related rows joined in
the list query, and every list ordering and filter served by an index
(convoproject.messaging.moderation_indexes). `manage.py admin_timings` (the
bench app) times these pages; docs/MODERATION_SCALE.md has the figures.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.paginator import Paginator
from django.db.models import Count, F, OrderBy, Q
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from convoproject.tenants.models import Namespace

from . import services
from .models import ModerationEvent

ACTION_TEMPLATE = "admin/moderation/action_form.html"
LATEST_ON_PAGE = 20


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
        return super().page(number)


def sorted_after_filtering(queryset):
    """The queryset ordered by COALESCE(f, f) for its first ordering field f:
    the same order, but no index can provide it (an optimisation fence)."""
    ordering = list(queryset.query.order_by)
    if not ordering or not isinstance(ordering[0], str) or "__" in ordering[0] or ordering[0].startswith("?"):
        return queryset
    name = ordering[0].lstrip("-")
    fenced = OrderBy(Coalesce(F(name), F(name)), descending=ordering[0].startswith("-"))
    return queryset.order_by(fenced, *(term for term in ordering[1:] if term != ordering[0]))


def parse_uuid(text):
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def excerpt(text, length=80):
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


# ---------------------------------------------------------------- forms


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the moderation log with your name and the time.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class CleanUpAuthorForm(ReasonForm):
    since = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional: only messages sent at or after this time (UTC).",
    )
    until = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional: only messages sent before this time (UTC).",
    )
    delete = forms.BooleanField(required=False, label="Delete them instead of hiding them (cannot be undone)")

    def __init__(self, *args, may_delete=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_delete:
            del self.fields["delete"]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            raise forms.ValidationError("'Since' must be before 'until'.")
        return cleaned


def action_page(request, model_admin, *, title, summary, form, submit_label, carry=(), items=(), cancel_url=None):
    """The confirmation page of a moderation step: what will happen, a form
    (the reason, and more), and the hidden fields that carry an admin action."""
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "summary": summary,
        "items": items,
        "form": form,
        "carry": carry,
        "submit_label": submit_label,
        "cancel_url": cancel_url or reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, ACTION_TEMPLATE, context)


def action_carry(request, action_name):
    """Hidden fields that make the confirmation page post the same admin action
    again, as Django's "action with confirmation" expects: the action, the
    selected ids as posted, select_across (then the action applies to the whole
    filtered list, which the URL's query string carries), and no "index"."""
    carry = [("action", action_name), ("select_across", "1" if request.POST.get("select_across") == "1" else "0")]
    return carry + [
        (admin.helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    ]


def reject_nul_in_query(request):
    """Admin filters go straight into SQL; PostgreSQL cannot take a NUL."""
    if any("\x00" in value for values in request.GET.lists() for value in values[1]):
        raise SuspiciousOperation("NUL character in the query string")


# ---------------------------------------------------------------- filters


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


# ---------------------------------------------------------------- the base of both


class ApiDataAdmin(admin.ModelAdmin):
    """Admin of rows the API writes (conversations, chats, messages): never added
    or edited here; found by exact UUID or by `search_text`; deleted only by
    the subclass's own action, which asks a reason and records it (Django's
    delete_selected would do neither)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, str(parse_uuid(object_id) or ""), from_field) if object_id else None

    def changelist_view(self, request, extra_context=None):
        reject_nul_in_query(request)
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        row_id = parse_uuid(term)
        if row_id is not None:
            return queryset.filter(pk=row_id), False
        return self.search_text(queryset, term), False

    def search_text(self, queryset, term):
        return queryset.none()


# ---------------------------------------------------------------- messages


class MessageModerationAdmin(ApiDataAdmin):
    """The admin of a message model (MessageBase): find, hide, unhide, delete,
    and clean up after one author. Messages are written by the API only."""

    list_display = ["text_excerpt", "author", "parent_link", "namespace", "sent_at", "moderation_state"]
    list_filter = ["namespace", ModerationStateFilter, "sent_at"]
    ordering = ["-sent_at"]
    list_per_page = 50
    paginator = CappedCountPaginator
    show_full_result_count = False
    search_fields = ["text"]  # turns the search box on; get_search_results does the searching
    search_help_text = "Text (contains), an exact author id, or an exact message id."
    actions = ["hide_selected", "unhide_selected", "delete_selected_messages", "clean_up_author"]
    change_list_template = "admin/moderation/message_change_list.html"
    change_form_template = "admin/moderation/message_change_form.html"
    readonly_fields = ["moderation_state"]

    @property
    def parent_field(self):
        return self.model.PARENT

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        paginator.sort_found_rows = bool(request.GET.get(SEARCH_VAR, "").strip())
        return paginator

    def get_list_select_related(self, request):
        return ["namespace", self.parent_field, "hidden_by"]

    def get_fields(self, request, obj=None):
        return ["id", "namespace", self.parent_field, "author_id", "text", "sent_at", "moderation_state"]

    def has_moderate_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.moderate_message")

    def search_text(self, queryset, term):
        # On PostgreSQL the text half reads the trigram index on UPPER(text)
        # (convoproject.moderation.trigram), the author half the author index.
        return queryset.filter(Q(text__icontains=term) | Q(author_id=term))

    # ------------------------------------------------------------ columns

    @admin.display(description="text")
    def text_excerpt(self, message):
        return excerpt(message.text)

    @admin.display(description="author", ordering="author_id")
    def author(self, message):
        url = self.changelist_url(author_id=message.author_id, namespace__id__exact=message.namespace_id)
        return format_html('<a href="{}" title="All messages of this author">{}</a>', url, message.author_id)

    @admin.display(description="in")
    def parent_link(self, message):
        parent = getattr(message, self.parent_field)
        opts = parent._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[parent.pk])
        return format_html('<a href="{}">{}</a>', url, excerpt(str(parent), 40))

    @admin.display(description="state")
    def moderation_state(self, message):
        if not message.hidden:
            return "Visible"
        by = message.hidden_by.get_username() if message.hidden_by else "someone"
        when = message.hidden_at.strftime("%Y-%m-%d %H:%M") if message.hidden_at else "?"
        return format_html("<strong>Hidden</strong> by {} at {}: {}", by, when, excerpt(message.hidden_reason, 60))

    # ------------------------------------------------------------ urls and helpers

    def url_of(self, name, *args):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    def changelist_url(self, **params):
        return self.url_of("changelist") + "?" + urlencode(params)

    @staticmethod
    def author_query(message):
        return urlencode({"namespace": message.namespace_id, "author_id": message.author_id})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/hide/", view(self.hide_view), name=self.url_name("hide_message")),
            path("<path:object_id>/unhide/", view(self.unhide_view), name=self.url_name("unhide_message")),
            path("clean-up-author/", view(self.clean_up_author_view), name=self.url_name("clean_up_author")),
            *super().get_urls(),
        ]

    def url_name(self, name):
        return f"{self.opts.app_label}_{self.opts.model_name}_{name}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = self.get_object(request, object_id)
        links = []
        if message is not None and self.has_moderate_permission(request):
            step = "unhide" if message.hidden else "hide"
            links.append((self.url_of(f"{step}_message", message.pk), f"{step.capitalize()} this message…"))
            cleanup = self.url_of("clean_up_author") + "?" + self.author_query(message)
            links.append((cleanup, f"Clean up all messages of {message.author_id}…"))
        extra_context = {**(extra_context or {}), "moderation_links": links}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        # Filtered to one author in one namespace: offer the one-step clean-up.
        author_id, namespace = request.GET.get("author_id"), request.GET.get("namespace__id__exact")
        extra_context = extra_context or {}
        if author_id and namespace and self.has_moderate_permission(request):
            query = urlencode({"namespace": namespace, "author_id": author_id})
            extra_context["clean_up_author_url"] = self.url_of("clean_up_author") + "?" + query
            extra_context["clean_up_author"] = author_id
        return super().changelist_view(request, extra_context)

    # ------------------------------------------------------------ hide / unhide one message

    def hide_view(self, request, object_id):
        return self._one_message_view(request, object_id, hide=True)

    def unhide_view(self, request, object_id):
        return self._one_message_view(request, object_id, hide=False)

    def _one_message_view(self, request, object_id, *, hide):
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        message = get_object_or_404(self.model, pk=parse_uuid(object_id))
        step = services.hide_messages if hide else services.unhide_messages
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            event = step(
                self.model.objects.filter(pk=message.pk), actor=request.user, reason=form.cleaned_data["reason"]
            )
            self.message_user(request, f"{'Hid' if hide else 'Unhid'} {event.count} message.", messages.SUCCESS)
            return HttpResponseRedirect(self.url_of("change", message.pk))
        verb = "Hide" if hide else "Unhide"
        return action_page(
            request,
            self,
            title=f"{verb} a message",
            summary=f"{verb} this message by {message.author_id}: the API {'stops' if hide else 'starts'} returning it"
            " at once.",
            items=[excerpt(message.text, 200)],
            form=form,
            submit_label=verb,
            cancel_url=self.url_of("change", message.pk),
        )

    def delete_view(self, request, object_id, extra_context=None):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        message = self.get_object(request, object_id)
        if message is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            services.delete_messages(
                self.model.objects.filter(pk=message.pk), actor=request.user, reason=form.cleaned_data["reason"]
            )
            self.message_user(request, "Deleted 1 message.", messages.SUCCESS)
            return HttpResponseRedirect(self.url_of("changelist"))
        return action_page(
            request,
            self,
            title="Delete a message",
            summary=f"Delete this message by {message.author_id}? This cannot be undone.",
            items=[excerpt(message.text, 200)],
            form=form,
            submit_label="Delete",
            cancel_url=self.url_of("change", message.pk),
        )

    # ------------------------------------------------------------ bulk actions

    @admin.action(description="Hide the selected messages…", permissions=["moderate"])
    def hide_selected(self, request, queryset):
        return self._bulk(request, queryset, "hide_selected", services.hide_messages, "Hide", "Hid")

    @admin.action(description="Unhide the selected messages…", permissions=["moderate"])
    def unhide_selected(self, request, queryset):
        return self._bulk(request, queryset, "unhide_selected", services.unhide_messages, "Unhide", "Unhid")

    @admin.action(description="Delete the selected messages…", permissions=["delete"])
    def delete_selected_messages(self, request, queryset):
        return self._bulk(request, queryset, "delete_selected_messages", services.delete_messages, "Delete", "Deleted")

    def _bulk(self, request, queryset, action_name, step, verb, done):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            event = step(queryset, actor=request.user, reason=form.cleaned_data["reason"])
            self.message_user(request, f"{done} {event.count} message(s).", messages.SUCCESS)
            return None
        count = queryset.order_by()[: CappedCountPaginator.CAP].count()
        shown = f"{count:,}" if count < CappedCountPaginator.CAP else f"{count:,} or more"
        return action_page(
            request,
            self,
            title=f"{verb} messages",
            summary=f"{verb} {shown} selected message(s)?",
            items=[f"{m.author_id}: {excerpt(m.text)}" for m in queryset[:10]],
            form=form,
            submit_label=verb,
            carry=action_carry(request, action_name),
        )

    @admin.action(description="Clean up the author of the selected message…", permissions=["moderate"])
    def clean_up_author(self, request, queryset):
        authors = list(queryset.order_by().values_list("namespace", "author_id").distinct()[:2])
        if len(authors) != 1:
            self.message_user(request, "Select messages of exactly one author in one namespace.", messages.WARNING)
            return None
        namespace, author_id = authors[0]
        return HttpResponseRedirect(
            self.url_of("clean_up_author") + "?" + urlencode({"namespace": namespace, "author_id": author_id})
        )

    # ------------------------------------------------------------ clean up after one author

    def clean_up_author_view(self, request):
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        params = request.POST if request.method == "POST" else request.GET
        namespace_pk = params.get("namespace", "")
        if not namespace_pk.isdigit():
            raise Http404("No such namespace")
        namespace = get_object_or_404(Namespace, pk=int(namespace_pk))
        author_id = params.get("author_id") or ""
        may_delete = self.has_delete_permission(request)
        confirming = request.method == "POST" and "confirm" in request.POST
        form = CleanUpAuthorForm(request.POST if confirming else None, may_delete=may_delete)
        if confirming and form.is_valid():
            data = form.cleaned_data
            event = services.clean_up_author(
                self.model,
                namespace,
                author_id,
                actor=request.user,
                reason=data["reason"],
                since=data.get("since"),
                until=data.get("until"),
                delete=bool(data.get("delete")),
            )
            verb = "Deleted" if data.get("delete") else "Hid"
            self.message_user(request, f"{verb} {event.count} message(s) of {author_id}.", messages.SUCCESS)
            return HttpResponseRedirect(self.changelist_url(author_id=author_id, namespace__id__exact=namespace.pk))
        total = services.author_messages(self.model, namespace, author_id).count()
        visible = services.author_messages(self.model, namespace, author_id).filter(hidden=False).count()
        return action_page(
            request,
            self,
            title=f"Clean up the messages of {author_id}",
            summary=(
                f"{author_id} has {total:,} message(s) in namespace {namespace.name}, {visible:,} of them visible. "
                "Hide them all (or only those in a time window) in one step; it is recorded once, with the count."
            ),
            form=form,
            submit_label="Clean up",
            carry=[("namespace", namespace.pk), ("author_id", author_id)],
            cancel_url=self.changelist_url(author_id=author_id, namespace__id__exact=namespace.pk),
        )


# ---------------------------------------------------------------- conversations and chats


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
        messages_admin = self.admin_site._registry[self.message_model]
        rows = (
            self.message_model.objects.filter(namespace=parent.namespace_id, **{self.message_model.PARENT: parent})
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
        items = [f"{p} ({p.messages.count():,} messages)" for p in parents[:20]]
        total = sum(p.messages.count() for p in parents[:100]) if len(parents) <= 100 else None
        summary = f"Delete {len(parents)} {self.opts.verbose_name_plural} " + (
            f"and their {total:,} message(s)?" if total is not None else "and all their messages?"
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

    def delete_view(self, request, object_id, extra_context=None):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        parent = self.get_object(request, object_id)
        if parent is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        response = self._delete_page(
            request,
            [parent],
            carry=[],
            cancel_url=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[parent.pk]),
        )
        if response is None:
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        return response


# ---------------------------------------------------------------- the moderation log


@admin.register(ModerationEvent)
class ModerationEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the moderation functions alone."""

    list_display = ["created_at", "actor_name", "action", "target", "count", "namespace", "reason_excerpt"]
    list_filter = ["action", "namespace", "created_at"]
    list_select_related = ["namespace"]
    search_fields = ["actor_name", "target", "reason"]
    date_hierarchy = "created_at"
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="reason")
    def reason_excerpt(self, event):
        return excerpt(event.reason, 60)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
