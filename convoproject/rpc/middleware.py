from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404

from .errors import InternalError, ServiceUnavailable, envelope, logger

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
