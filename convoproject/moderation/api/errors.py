"""The moderation API's errors in the service's envelope
({"id", "code", "detail", "status"}, convoproject.rpc.errors.envelope): a
validation error names its fields ("sent_after: Enter a valid date/time.")."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf

from convoproject.rpc.errors import BadRequest, Forbidden, NotFound, RpcError, Unauthorized, as_rpc_error, envelope

AUTHENTICATE = 'Token realm="moderation"'


class NoCredentials(Unauthorized):
    detail = (
        "No credentials: send 'Authorization: Token <moderation token>' (manage.py create_moderation_token), "
        "or call from a logged-in staff session with Django's CSRF token in X-CSRFToken"
    )


class NoOpenReports(RpcError):
    """Confirm or dismiss of a report whose message has no open reports left."""

    id, code, detail = "NO_OPEN_REPORTS", 409, "This report's message has no open reports"


def described(detail, field=None) -> str:
    """A DRF ValidationError's detail as one sentence that names each field."""
    if isinstance(detail, dict):
        return "; ".join(
            described(value, None if name in ("non_field_errors", "__all__") else name)
            for name, value in detail.items()
        )
    if isinstance(detail, list):
        return (
            " ".join(described(item, field) for item in detail)
            if field is None
            else f"{field}: " + " ".join(described(item) for item in detail)
        )
    return f"{field}: {detail}" if field else str(detail)


def as_error(exc):
    if isinstance(exc, drf.ValidationError):
        return BadRequest(described(exc.detail))
    if isinstance(exc, drf.NotAuthenticated):
        return NoCredentials()
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, PermissionDenied):
        return Forbidden("You do not have permission to do this")
    return as_rpc_error(exc)


def exception_handler(exc, context):
    """The moderation viewsets' exception handler (get_exception_handler)."""
    error = as_error(exc)
    if error is None:
        return None  # a crash: ErrorEnvelopeMiddleware logs it and answers 500
    response = envelope(error)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        response["WWW-Authenticate"] = AUTHENTICATE
    return response
