"""Who is calling (DRF authentication) and in which namespace (CONTRACT 6)."""

from django.db.models import Q
from rest_framework import authentication, exceptions

from convoproject.tenants.keys import find_active_key
from convoproject.tenants.models import ApiKey, Namespace

from .errors import Forbidden

NAMESPACE_HEADER = "HTTP_MICRO_NAMESPACE"


class ApiKeyPrincipal:
    """The caller of a request made with an API key: authenticated, but no user."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False

    def __init__(self, api_key):
        self.api_key = api_key

    def __str__(self):
        return f"api key {self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`; a request without the header falls through
    to the session, one with a wrong or revoked key is 401."""

    keyword = "bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        raw_key = raw_key.strip()
        if scheme.lower() != self.keyword or not raw_key or len(raw_key) > 200:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <key>'")
        api_key = find_active_key(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key")
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's login session, with Django's CSRF check enforced."""

    def enforce_csrf(self, request):
        # Django's check may read request.POST; on DRF's Request that would run
        # DRF's parsers, which the RPCs do not use (RpcView parses the body).
        # The Django request answers it from the body without them.
        return super().enforce_csrf(request._request)


def resolve_namespace(request, *, asked: str | None = None):
    """The Namespace a request acts in, or Forbidden: the Micro-Namespace
    header's, else `asked` (GET /events's namespace= parameter, for a
    browser's EventSource, which cannot send headers)."""
    asked = request.META.get(NAMESPACE_HEADER, "").strip() or (asked or "").strip()
    if isinstance(request.auth, ApiKey):
        namespace = request.auth.namespace
        if asked and asked != namespace.name:
            raise Forbidden(f"This API key belongs to another namespace than {asked!r}")
        return namespace
    user = request.user
    if not asked or "\x00" in asked:
        raise Forbidden("Browser calls must name a namespace in the Micro-Namespace header")
    candidates = Namespace.objects.filter(name=asked)
    if not user.is_superuser:
        candidates = candidates.filter(Q(members=user))
    namespace = candidates.first()
    if namespace is None:
        raise Forbidden(f"You are not a member of namespace {asked!r}")
    return namespace
