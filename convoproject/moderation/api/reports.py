"""The moderation API's reports (CONTRACT 10): list and read a service's
reports, and resolve them: confirm (the message is hidden) or dismiss, for
every open report of the reported message at once, through
convoproject.moderation.reports (recorded as from admin)."""

import functools

from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from convoproject.rpc.fields import TimestampOut

from ..reports import confirm_reports, dismiss_reports
from ..selection import report_filterset
from .errors import NoOpenReports
from .pages import NewestFirst
from .permissions import CanModerate, IsActiveStaff
from .serializers import ModerationEventSerializer, ReasonRequest, TimestampOrNull
from .views import UUID_PATTERN, ModerationViewSet, documented

EXCERPT = 100


class Excerpt(serializers.CharField):
    """The first EXCERPT characters of a text."""

    def to_representation(self, value):
        return super().to_representation(value)[:EXCERPT]


@functools.cache
def report_serializer(report_model):
    """The serializer of a report model for moderators."""
    fields = [
        "id",
        "namespace",
        "message_id",
        "message_excerpt",
        "reporter_id",
        "reason",
        "description",
        "created_at",
        "state",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    ]
    attributes = {
        "__module__": __name__,
        "__doc__": "A report of a message, and how a moderator resolved it.",
        "namespace": serializers.CharField(source="namespace.name", read_only=True),
        "message_id": serializers.UUIDField(read_only=True),
        "message_excerpt": Excerpt(
            source="message.text", read_only=True, help_text=f"The first {EXCERPT} characters of the message."
        ),
        "created_at": TimestampOut(),
        "resolved_at": TimestampOrNull(),
        "resolved_by": serializers.CharField(
            source="resolved_by.username", read_only=True, allow_null=True, help_text="Who resolved it (a username)."
        ),
        "Meta": type("Meta", (), {"model": report_model, "fields": fields}),
    }
    name = f"{report_model._meta.app_label.title()}ModerationReport"
    return type(name, (serializers.ModelSerializer,), attributes)


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ModerationViewSet):
    """A service's reports, newest first."""

    lookup_value_regex = UUID_PATTERN
    pagination_class = NewestFirst

    @property
    def service_label(self):
        return self.model._meta.app_label

    def get_queryset(self):
        return self.model.objects.select_related("namespace", "message", "resolved_by")

    def _resolve(self, step):
        reason = self.valid(ReasonRequest)["reason"]
        report = self.get_object()
        messages = type(report.message).objects.filter(pk=report.message_id)
        event = step(messages, actor=self.request.user, reason=reason)
        if event is None:
            raise NoOpenReports()
        return Response(ModerationEventSerializer(event).data)

    @documented(request=ReasonRequest, responses={200: ModerationEventSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsActiveStaff, CanModerate])
    def confirm(self, request, pk=None):
        """Confirm the reports of this report's message: every open one is
        actioned and the message hidden. Recorded."""
        return self._resolve(confirm_reports)

    @documented(request=ReasonRequest, responses={200: ModerationEventSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsActiveStaff, CanModerate])
    def dismiss(self, request, pk=None):
        """Dismiss the open reports of this report's message. Recorded."""
        return self._resolve(dismiss_reports)


def report_viewset(report_model) -> type[ReportViewSet]:
    label = report_model._meta.app_label
    return type(
        f"{label.title()}ReportViewSet",
        (ReportViewSet,),
        {
            "__module__": __name__,
            "__doc__": ReportViewSet.__doc__,
            "model": report_model,
            "serializer_class": report_serializer(report_model),
            "filterset_class": report_filterset(report_model),
        },
    )
