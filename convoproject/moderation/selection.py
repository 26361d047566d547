"""Which messages a moderator means, defined once: django-filter FilterSets
over a message model (MessageBase). The moderation API's lists and clean-up,
admin's clean-up page and the shell's `services.author_messages` /
`clean_up_author` all build their queryset here, so that "the messages of
author X in namespace N between T1 and T2" is the same rows everywhere:
`sent_after` inclusive (>=), `sent_before` exclusive (<).

Every filter is served by an index (convoproject.messaging.models): the
namespace is resolved to its row first (so the message query compares
namespace_id), a conversation or chat adds its own namespace (the unique
(namespace, parent, sent_at) index then gives the order), the author filter
reads the author index, and `text` (contains, any case) reads the trigram
index on UPPER(text) on PostgreSQL (convoproject.moderation.trigram).

Values are strings (a query string, a JSON body) or, from Python, the
objects themselves (a Namespace, an aware datetime, a bool).
"""

import datetime
import functools

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models

from convoproject.rpc.timestamps import parse_timestamp
from convoproject.tenants.models import Namespace

from .models import ModerationEvent

# The fields of one author's messages in a namespace within a time window.
AUTHOR_WINDOW = ("namespace", "author_id", "sent_after", "sent_before")


class InvalidSelection(ValueError):
    """A selection with invalid values: `errors` maps each field to its messages."""

    def __init__(self, errors):
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in self.errors.items()))


# ------------------------------------------------------------------ form fields


class NamespaceField(forms.CharField):
    """A namespace by its name (one query), or a Namespace object as is."""

    def clean(self, value):
        if isinstance(value, Namespace):
            return value
        name = super().clean(value)
        if not name:
            return None
        namespace = Namespace.objects.filter(name=name).first()
        if namespace is None:
            raise ValidationError(f"No namespace named {name!r}.", code="invalid_choice")
        return namespace


class TimestampField(forms.Field):
    """RFC 3339 with an offset (as the RPCs take it), or an aware datetime."""

    default_error_messages = {"invalid": "Enter a valid date/time."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                raise ValidationError("Give the time with its offset (e.g. Z).", code="invalid")
            return value
        try:
            return parse_timestamp(str(value).strip())
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class StrictBooleanField(forms.Field):
    """true/false (or 1/0, any case); anything else is an error, not "no filter"."""

    default_error_messages = {"invalid": "Enter true or false."}
    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


# ------------------------------------------------------------------ filters


class NamespaceFilter(django_filters.Filter):
    field_class = NamespaceField

    def filter(self, qs, value):
        return qs if value is None else qs.filter(namespace=value)


class TimestampFilter(django_filters.Filter):
    field_class = TimestampField


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class Opaque(models.Func):
    """A value as a scalar subquery, `(SELECT %s)`: the same value, but one
    PostgreSQL's planner does not look up in the column's statistics."""

    template = "(SELECT %(expressions)s)"
    arity = 1


def of_parent(message_model: type[models.Model], parent_id) -> models.Q:
    """The messages of one conversation or chat: its id and its namespace
    (looked up), so that the unique (namespace, parent, sent_at) index both
    finds and orders them. An unknown id selects nothing. The id is a value
    the planner does not look into (Opaque): given a parent holding most of
    the table, PostgreSQL's planner took it for most of any newest-first walk
    and read the `sent_at` index of all parents instead, through every newer
    message of the others (test_a_big_quiet_parents_messages_are_read_from_
    the_unique_index, in tests/test_moderation_api.py and _admin.py)."""
    parent = message_model._meta.get_field(message_model.PARENT)
    namespace = parent.related_model.objects.filter(pk=parent_id).values("namespace_id")[:1]
    opaque_id = Opaque(models.Value(parent_id, output_field=parent.target_field))
    return models.Q(**{parent.attname: opaque_id, "namespace_id": models.Subquery(namespace)})


def parent_filter(queryset, name, value):
    """The filter method of a conversation or chat id (of_parent)."""
    return queryset.filter(of_parent(queryset.model, value))


class WindowForm(forms.Form):
    """The one rule between fields: a time window ends after it starts."""

    WINDOWS = [("sent_after", "sent_before"), ("created_after", "created_before")]

    def clean(self):
        cleaned = super().clean()
        for start, end in self.WINDOWS:
            after, before = cleaned.get(start), cleaned.get(end)
            if after and before and after >= before:
                self.add_error(end, f"Must be later than {start}.")
        return cleaned


class MessageFilterSet(django_filters.FilterSet):
    """The filters of a message model; `message_filterset(model)` adds the
    parent's (`conversation` or `chat`, after the model's PARENT)."""

    namespace = NamespaceFilter(help_text="The namespace's name.")
    author_id = django_filters.CharFilter(help_text="The author id, exactly.")
    hidden = StrictBooleanFilter(help_text="true: only hidden messages; false: only visible ones.")
    sent_after = TimestampFilter(
        field_name="sent_at", lookup_expr="gte", help_text="Sent at or after this time (RFC 3339, with an offset)."
    )
    sent_before = TimestampFilter(
        field_name="sent_at", lookup_expr="lt", help_text="Sent before this time (RFC 3339, with an offset)."
    )
    text = django_filters.CharFilter(
        field_name="text", lookup_expr="icontains", help_text="Text contains this, in any case."
    )

    class Meta:
        form = WindowForm
        fields = []


@functools.cache
def message_filterset(message_model: type[models.Model]) -> type[MessageFilterSet]:
    """The FilterSet class of a message model (made once per model)."""
    parent = message_model.PARENT
    meta = type("Meta", (MessageFilterSet.Meta,), {"model": message_model})
    attributes = {
        "Meta": meta,
        "__module__": __name__,
        parent: django_filters.UUIDFilter(method=parent_filter, help_text=f"The {parent}'s id."),
    }
    return type(f"{message_model._meta.app_label.title()}MessageFilterSet", (MessageFilterSet,), attributes)


def select_messages(message_model: type[models.Model], data: dict, *, required: tuple = ()) -> MessageFilterSet:
    """A bound FilterSet of `message_model` on `data` (absent or None: not
    filtered), with the fields of `required` required. Check `is_valid()`
    before its `qs`: an invalid field would otherwise be left out."""
    data = {name: value for name, value in data.items() if value is not None}
    selection = message_filterset(message_model)(data=data, queryset=message_model.objects.all())
    for name in required:
        selection.form.fields[name].required = True
    return selection


def author_selection(message_model: type[models.Model], data: dict) -> MessageFilterSet:
    """One author's messages in one namespace, optionally sent in
    [sent_after, sent_before): what every clean-up acts on."""
    return select_messages(
        message_model, {name: data.get(name) for name in AUTHOR_WINDOW}, required=("namespace", "author_id")
    )


def selected(selection: MessageFilterSet) -> models.QuerySet:
    """The queryset of a valid selection, or InvalidSelection."""
    if not selection.is_valid():
        raise InvalidSelection(selection.errors)
    return selection.qs


# ------------------------------------------------------------------ the moderation log


def by_username(queryset, name, value):
    """The events of one user (by username): the (actor, created_at) index."""
    users = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: value}).values("pk")[:1]
    return queryset.filter(**{f"{name}_id": models.Subquery(users)})


class ModerationEventFilterSet(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=ModerationEvent.Action.choices, help_text="What was done.")
    namespace = NamespaceFilter(help_text="The namespace's name.")
    actor = django_filters.CharFilter(method=by_username, help_text="Who did it (a username).")
    created_after = TimestampFilter(
        field_name="created_at", lookup_expr="gte", help_text="Recorded at or after this time (RFC 3339)."
    )
    created_before = TimestampFilter(
        field_name="created_at", lookup_expr="lt", help_text="Recorded before this time (RFC 3339)."
    )

    class Meta:
        model = ModerationEvent
        form = WindowForm
        fields = []


# ------------------------------------------------------------------ reports


class ReportFilterSet(django_filters.FilterSet):
    """The filters of a report model (streams.Report, chats.Report);
    `report_filterset(model)` adds the choices of its state and reason."""

    namespace = NamespaceFilter(help_text="The namespace's name.")
    reporter_id = django_filters.CharFilter(help_text="The reporter's id, exactly.")
    message = django_filters.UUIDFilter(field_name="message_id", help_text="The reported message's id.")
    author_id = django_filters.CharFilter(
        field_name="message__author_id", help_text="The reported message's author, exactly."
    )
    created_after = TimestampFilter(
        field_name="created_at", lookup_expr="gte", help_text="Reported at or after this time (RFC 3339)."
    )
    created_before = TimestampFilter(
        field_name="created_at", lookup_expr="lt", help_text="Reported before this time (RFC 3339)."
    )

    class Meta:
        form = WindowForm
        fields = []


def reports_of_parent(queryset, name, value):
    """The reports of one conversation or chat: the report's own copy of its
    message's parent, so that the (parent, created_at, id) index finds them in
    the list's order, with no join to the messages. The id is a value the
    planner does not look into (Opaque), as in of_parent: given a parent
    holding many old reports, PostgreSQL's planner otherwise still walked the
    created_at index of all reports, through every newer one of the others
    (test_a_big_quiet_parents_reports_are_read_from_the_parent_index, in
    tests/test_moderation_api_reports.py)."""
    parent = queryset.model._meta.get_field(queryset.model.PARENT)
    return queryset.filter(**{parent.attname: Opaque(models.Value(value, output_field=parent.target_field))})


@functools.cache
def report_filterset(report_model: type[models.Model]) -> type[ReportFilterSet]:
    """The FilterSet class of a report model (made once per model)."""

    def choices(name):
        return report_model._meta.get_field(name).choices

    parent = report_model.PARENT
    attributes = {
        "Meta": type("Meta", (ReportFilterSet.Meta,), {"model": report_model}),
        "__module__": __name__,
        parent: django_filters.UUIDFilter(method=reports_of_parent, help_text=f"The {parent} of the reported message."),
        "state": django_filters.ChoiceFilter(choices=choices("state"), help_text="open, actioned or dismissed."),
        "reason": django_filters.ChoiceFilter(choices=choices("reason"), help_text="What the reporter said it is."),
    }
    return type(f"{report_model._meta.app_label.title()}ReportFilterSet", (ReportFilterSet,), attributes)
