"""The contract's errors (CONTRACT 2) as typed exceptions, and the one place
that turns any error into the micro envelope

    {"id": "MISSING_TOPIC", "code": 400, "detail": "Missing Topic", "status": "Bad Request"}
"""

import logging
import math
from http import HTTPStatus

from django.http import JsonResponse
from rest_framework import exceptions as drf

logger = logging.getLogger("convoproject.rpc")


class RpcError(Exception):
    """An error the contract names: raise it anywhere, the envelope follows."""

    id = "INTERNAL_SERVER_ERROR"
    code = 500
    detail = "The server could not answer this request."

    def __init__(self, detail=None, *, id=None):
        if detail is not None:
            self.detail = detail
        if id is not None:
            self.id = id
        super().__init__(self.detail)


class BadRequest(RpcError):
    id, code = "BAD_REQUEST", 400


class MissingField(RpcError):
    """A required field is absent, null or blank: MISSING_GROUP_ID and friends."""

    code = 400

    def __init__(self, id, detail):
        super().__init__(detail, id=id)


class InvalidLimit(RpcError):
    id, code = "INVALID_LIMIT", 400


class InvalidTimestamp(RpcError):
    id, code = "INVALID_TIMESTAMP", 400


class TooLong(RpcError):
    id, code = "TOO_LONG", 400


class TooManyIds(RpcError):
    id, code = "TOO_MANY_IDS", 400


class Unauthorized(RpcError):
    id, code, detail = "UNAUTHORIZED", 401, "Missing, unknown or revoked credentials"


class NoCredentials(Unauthorized):
    """A call with neither an API key nor a logged-in session: says how to authenticate."""

    detail = (
        "No credentials: send 'Authorization: Bearer <API key>', or call from a logged-in browser session "
        "with Django's CSRF token in X-CSRFToken"
    )


class Forbidden(RpcError):
    id, code = "FORBIDDEN", 403


class NotFound(RpcError):
    id, code, detail = "NOT_FOUND", 404, "Not found"


class MethodNotAllowed(RpcError):
    id, code, detail = "METHOD_NOT_ALLOWED", 405, "Only POST is allowed"


class IdempotencyKeyReused(RpcError):
    id, code, detail = (
        "IDEMPOTENCY_KEY_REUSED",
        409,
        "This Idempotency-Key was already used with a different method or body",
    )


class PayloadTooLarge(RpcError):
    id, code, detail = (
        "PAYLOAD_TOO_LARGE",
        413,
        "The request body is larger than 1 MiB (1048576 bytes)",
    )


class TooManyRequests(RpcError):
    """Over the caller's rate limit (convoproject.rpc.throttling); not in the
    contract's table, which predates rate limits. Retry-After says when to retry."""

    id, code, detail = "TOO_MANY_REQUESTS", 429, "Rate limit exceeded"

    def __init__(self, retry_after):
        self.retry_after = retry_after
        super().__init__(f"Rate limit exceeded: retry in {retry_after} s")


class InternalError(RpcError):
    pass


class ServiceUnavailable(RpcError):
    id, code, detail = "SERVICE_UNAVAILABLE", 503, "The service cannot answer now"


def envelope_body(error):
    """The envelope of an RpcError as a dict: what `envelope` answers, and the
    examples of the OpenAPI document (convoproject.rpc.schema)."""
    return {
        "id": error.id,
        "code": error.code,
        "detail": str(error.detail),
        "status": HTTPStatus(error.code).phrase,
    }


def envelope(error):
    """The JSON response for an RpcError."""
    response = JsonResponse(
        envelope_body(error),
        status=error.code,
        json_dumps_params={"separators": (",", ":")},
    )
    if error.code == 405:
        response["Allow"] = "POST"
    if isinstance(error, TooManyRequests):
        response["Retry-After"] = str(error.retry_after)
    return response


# DRF raises its own exceptions for authentication and permission failures;
# each maps to the contract's error of the same meaning.
_FROM_DRF = {
    drf.AuthenticationFailed: Unauthorized,
    drf.PermissionDenied: Forbidden,
    drf.MethodNotAllowed: MethodNotAllowed,
    drf.NotFound: NotFound,
    drf.ParseError: BadRequest,
}


def as_rpc_error(exc):
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, drf.NotAuthenticated):
        return NoCredentials()  # rather than DRF's stock sentence, which does not say how
    if isinstance(exc, drf.Throttled):
        return TooManyRequests(math.ceil(exc.wait or 1))
    for drf_class, rpc_class in _FROM_DRF.items():
        if isinstance(exc, drf_class):
            detail = exc.detail if isinstance(exc.detail, str) else None
            return rpc_class(detail)
    if isinstance(exc, drf.APIException):
        error = RpcError(str(exc.detail), id=exc.default_code.upper())
        error.code = exc.status_code
        return error
    return None


def drf_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error raised inside an RPC view."""
    error = as_rpc_error(exc)
    if error is None:
        return None  # a crash: ErrorEnvelopeMiddleware logs it and answers 500
    response = envelope(error)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
