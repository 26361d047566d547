"""What a GET /events asks for, checked in CONTRACT 9's order before the
stream starts: credentials and namespace, the ids, the resume point, then
the lookups. Sync code (DRF's authentication, the ORM): the view runs it
on the hub's database threads."""

import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.request import Request

from convoproject.rpc.auth import ApiKeyAuthentication, SessionAuthentication, resolve_namespace
from convoproject.rpc.errors import NoCredentials, NotFound, TooManyIds, Unauthorized
from convoproject.tenants.models import ApiKey, Namespace

from . import channels
from .cursor import BadCursor, Cursor
from .errors import InvalidEventId, MissingIds

MAX_IDS = 100


@dataclass
class Opening:
    namespace: Namespace
    caller: tuple  # ("key", id) or ("user", id): whose streams count against one limit
    stream_ids: list[uuid.UUID]  # the ids to show (deleted ones that the resume point covers included)
    resumed: dict[uuid.UUID, int]  # the resume point's positions of those ids
    reset: bool  # the resume point is too old: every id starts from now


def _caller(request: Request) -> tuple:
    try:
        user = request.user
    except exceptions.AuthenticationFailed as error:
        raise Unauthorized(str(error.detail)) from None
    if isinstance(request.auth, ApiKey):
        return ("key", request.auth.pk)
    if user is None or not user.is_authenticated:
        raise NoCredentials(
            "No credentials: send 'Authorization: Bearer <API key>', or open the stream from a logged-in "
            "browser session with namespace= in the query (no CSRF token: a GET changes nothing)"
        )
    return ("user", user.pk)


def _requested_ids(query) -> list[tuple[channels.Channel, str]]:
    asked = {}
    for channel in channels.all_channels():
        for value in query.getlist(channel.query_parameter):
            value = value.strip()
            if value:
                asked.setdefault((channel.query_parameter, value), channel)
    if not asked:
        raise MissingIds()
    if len(asked) > MAX_IDS:
        raise TooManyIds(f"At most {MAX_IDS} distinct conversation_id and chat_id values")
    return [(channel, value) for (_, value), channel in asked.items()]


def _resume_point(request, namespace: Namespace) -> Cursor | None:
    text = request.META.get("HTTP_LAST_EVENT_ID", "").strip() or request.GET.get("last_event_id", "").strip()
    if not text:
        return None
    try:
        cursor = Cursor.decode(text)
    except BadCursor:
        raise InvalidEventId() from None
    if cursor.namespace_id != namespace.pk:
        raise InvalidEventId("The resume point was made for another namespace")
    return cursor


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def open_request(django_request) -> Opening:
    """The Opening of a GET /events request, or the RpcError to answer."""
    request = Request(django_request, authenticators=[ApiKeyAuthentication(), SessionAuthentication()])
    caller = _caller(request)
    namespace = resolve_namespace(request, asked=django_request.GET.get("namespace"))
    asked = _requested_ids(django_request.GET)
    cursor = _resume_point(django_request, namespace)
    reset = cursor is not None and time.time() - cursor.issued_at > settings.LIVE_RETENTION_SECONDS
    covered = {} if cursor is None else cursor.positions

    stream_ids, resumed = [], {}
    by_channel: dict[channels.Channel, list[uuid.UUID]] = {}
    for channel, value in asked:
        stream_id = _as_uuid(value)
        if stream_id is None:
            raise NotFound(f"{channel.parent_model._meta.verbose_name.capitalize()} not found")
        by_channel.setdefault(channel, []).append(stream_id)
    for channel, ids in by_channel.items():
        found = set(channel.parent_model.objects.filter(namespace=namespace, pk__in=ids).values_list("pk", flat=True))
        for stream_id in ids:
            # A deleted one that the resume point covers (the signed id says
            # it was this namespace's) is no 404: its deletion event is due,
            # or was sent already.
            if stream_id not in found and stream_id not in covered:
                raise NotFound(f"{channel.parent_model._meta.verbose_name.capitalize()} not found")
            if stream_id in found or not reset:
                stream_ids.append(stream_id)
            if stream_id in covered and not reset:
                resumed[stream_id] = covered[stream_id]
    return Opening(namespace, caller, stream_ids, resumed, reset)
