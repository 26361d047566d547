"""The moderation API's viewsets: thin (parse, call one function of
convoproject.moderation.services, render). Each sets its own authentication,
parsers, negotiation, pagination and exception handler; the project's
REST_FRAMEWORK defaults are the RPCs'."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .. import services
from ..models import ModerationEvent
from ..selection import ModerationEventFilterSet, message_filterset
from .auth import ModerationTokenAuthentication, StaffSessionAuthentication
from .errors import exception_handler
from .pages import NewestFirst, NewestSent
from .permissions import CanModerate, CanView, IsActiveStaff, IsSuperuser, SuperuserToDelete
from .schema import ModerationAutoSchema
from .serializers import CleanUpRequest, ModerationEventSerializer, ReasonRequest, message_serializer

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def documented(**kwargs):
    """extend_schema on ModerationAutoSchema (extend_schema's default base
    would be the project's DEFAULT_SCHEMA_CLASS, DRF's own)."""

    def decorator(method):
        method.schema = ModerationAutoSchema
        return extend_schema(**kwargs)(method)

    return decorator


ANSWERS_EVENT = {"request": ReasonRequest, "responses": {200: ModerationEventSerializer}}


class JsonAnswers(DefaultContentNegotiation):
    """Bodies are parsed by Content-Type (JSON only: else 415); answers are
    JSON whatever the Accept header asks for."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ModerationViewSet(viewsets.GenericViewSet):
    model = None
    authentication_classes = [ModerationTokenAuthentication, StaffSessionAuthentication]
    permission_classes = [IsActiveStaff, CanView]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAnswers
    throttle_classes = []
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirst
    schema = ModerationAutoSchema()

    def get_exception_handler(self):
        return exception_handler

    def valid(self, serializer_class, **context):
        """The request body's values, or a 400 naming the fields."""
        serializer = serializer_class(data=self.request.data, context=context)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ModerationViewSet):
    """A service's messages, newest first, with their moderation state."""

    pagination_class = NewestSent
    lookup_value_regex = UUID_PATTERN

    @property
    def service_label(self):
        return self.model._meta.app_label

    def get_queryset(self):
        return self.model.objects.select_related("namespace", "hidden_by")

    def _change(self, step):
        reason = self.valid(ReasonRequest)["reason"]
        message = self.get_object()
        event = step(self.model.objects.filter(pk=message.pk), actor=self.request.user, reason=reason)
        return Response(ModerationEventSerializer(event).data)

    @documented(**ANSWERS_EVENT)
    @action(detail=True, methods=["post"], permission_classes=[IsActiveStaff, CanModerate])
    def hide(self, request, pk=None):
        """Hide a message: gone from every API read at once. Recorded."""
        return self._change(services.hide_messages)

    @documented(**ANSWERS_EVENT)
    @action(detail=True, methods=["post"], permission_classes=[IsActiveStaff, CanModerate])
    def unhide(self, request, pk=None):
        """Unhide a message: back in API reads at once. Recorded."""
        return self._change(services.unhide_messages)

    @documented(**ANSWERS_EVENT)
    def destroy(self, request, pk=None):
        """Delete a message (superusers only; cannot be undone). Recorded."""
        return self._change(services.delete_messages)

    @documented(request=CleanUpRequest, responses={200: ModerationEventSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="clean-up-author",
        permission_classes=[IsActiveStaff, CanModerate, SuperuserToDelete],
    )
    def clean_up_author(self, request):
        """Hide (or delete) every message of one author in a namespace, optionally
        only those sent in [sent_after, sent_before): one step, recorded once."""
        data = self.valid(CleanUpRequest, message_model=self.model)
        event = services.clean_up_author(
            self.model,
            namespace=data["namespace"],
            author_id=data["author_id"],
            actor=request.user,
            reason=data["reason"],
            since=data["sent_after"],
            until=data["sent_before"],
            delete=data["delete"],
        )
        return Response(ModerationEventSerializer(event).data)

    def get_permissions(self):
        if self.action == "destroy":
            return [IsActiveStaff(), IsSuperuser()]
        return super().get_permissions()


def message_viewset(message_model) -> type[MessageViewSet]:
    """The viewset of one service's messages."""
    label = message_model._meta.app_label
    return type(
        f"{label.title()}MessageViewSet",
        (MessageViewSet,),
        {
            "__module__": __name__,
            "__doc__": MessageViewSet.__doc__,
            "model": message_model,
            "serializer_class": message_serializer(message_model),
            "filterset_class": message_filterset(message_model),
        },
    )


class ModerationEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ModerationViewSet):
    """The moderation log, newest first: read only."""

    model = ModerationEvent
    serializer_class = ModerationEventSerializer
    filterset_class = ModerationEventFilterSet
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        return ModerationEvent.objects.select_related("namespace")
