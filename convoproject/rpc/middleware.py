from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404

from .errors import InternalError, ServiceUnavailable, envelope, logger
from .request_log import RPC_PREFIX

# Exceptions Django itself turns into 400/403/404 (through handler400/403/404).
HTTP_EXCEPTIONS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


class ErrorEnvelopeMiddleware:
    """Outermost middleware: an unexpected exception in a view becomes a 500
    envelope (logged here with its traceback), never an HTML page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, HTTP_EXCEPTIONS):
            return None
        if isinstance(exception, OperationalError | InterfaceError):
            # The database is down or unreachable: the client may retry later.
            logger.error("database unavailable in %s %s: %s", request.method, request.path, exception)
            return envelope(ServiceUnavailable("The database does not answer; try again later."))
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return envelope(InternalError())


def is_api_key_rpc(request) -> bool:
    """An RPC called with `Authorization`: DRF's API-key authentication
    answers it (or refuses it with 401), never the session."""
    return request.path_info.startswith(RPC_PREFIX) and "HTTP_AUTHORIZATION" in request.META


class BrowserOnly:
    """A Django middleware that steps aside for API-key RPCs: sessions,
    authentication and messages serve browsers (admin, the pages, the RPCs a
    logged-in page calls), and cost an app backend's call about 18 us of CPU
    together for nothing (docs/PERFORMANCE.md). Everything else goes through
    them as before. CSRF and clickjacking (5 us) stay as Django ships them:
    `check --deploy` looks for them by name."""

    def __call__(self, request):
        if is_api_key_rpc(request):
            return self.get_response(request)  # a coroutine under ASGI, as the caller expects
        return super().__call__(request)


class SessionMiddleware(BrowserOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnly, messages.MessageMiddleware):
    pass
