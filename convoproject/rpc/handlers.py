"""Django's error handlers (handler400/403/404/500) for paths outside the RPC
views: they answer in the same envelope as everything else."""

from .errors import BadRequest, Forbidden, InternalError, NotFound, envelope


def bad_request(request, exception=None):
    return envelope(BadRequest("Bad request"))


def permission_denied(request, exception=None):
    return envelope(Forbidden("Forbidden"))


def not_found(request, exception=None):
    return envelope(NotFound(f"No such path: {request.path}"))


def server_error(request):
    return envelope(InternalError())
