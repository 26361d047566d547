"""The admin of a message model (MessageBase): find, hide, unhide, delete,
and clean up after one author."""

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from convoproject.tenants.models import Namespace

from .. import services
from ..selection import author_selection
from .base import ApiDataAdmin
from .filters import ModerationStateFilter, ParentFilter
from .forms import CleanUpAuthorForm, ReasonForm
from .pages import action_carry, action_page
from .paginator import CappedCountPaginator
from .text import excerpt, parse_uuid


class MessageModerationAdmin(ApiDataAdmin):
    """The admin of a message model (MessageBase): find, hide, unhide, delete,
    and clean up after one author. Messages are written by the API only."""

    list_display = ["text_excerpt", "author", "parent_link", "namespace", "sent_at", "moderation_state"]
    list_filter = ["namespace", ParentFilter, ModerationStateFilter, "sent_at"]
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
        url = reverse(admin_urlname(parent._meta, "change"), args=[parent.pk])
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
        return reverse(admin_urlname(self.opts, name), args=args)

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
        # A URL pattern's name, as Django's get_urls() names its own (no "admin:").
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

    def confirm_delete(self, request, message):
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
        # The author's messages, as the API's and the shell's clean-up select
        # them: one FilterSet (convoproject.moderation.selection).
        author = {"namespace": namespace, "author_id": author_id}
        if confirming and form.is_valid():
            data = form.cleaned_data
            window = author_selection(self.model, {**author, "sent_after": data["since"], "sent_before": data["until"]})
            if window.is_valid():
                event = services.clean_up_author(
                    self.model,
                    namespace=namespace,
                    author_id=author_id,
                    actor=request.user,
                    reason=data["reason"],
                    since=data["since"],
                    until=data["until"],
                    delete=bool(data.get("delete")),
                )
                verb = "Deleted" if data.get("delete") else "Hid"
                self.message_user(request, f"{verb} {event.count} message(s) of {author_id}.", messages.SUCCESS)
                return HttpResponseRedirect(self.changelist_url(author_id=author_id, namespace__id__exact=namespace.pk))
            form.add_selection_errors(window.errors)
        everything = author_selection(self.model, author)
        if not everything.is_valid():
            raise Http404("No such author")
        messages_of_author = everything.qs
        total = messages_of_author.count()
        visible = messages_of_author.filter(hidden=False).count()
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
