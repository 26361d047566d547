"""GET /healthz: 200 {"status": "ok"} when the database answers, else a 503
envelope. No credentials: load balancers and uptime checks call it."""

from django.db import DatabaseError, connection
from django.http import JsonResponse

from convoproject.rpc.errors import MethodNotAllowed, ServiceUnavailable, envelope, logger


def healthz(request):
    if request.method not in ("GET", "HEAD"):
        response = envelope(MethodNotAllowed("Only GET and HEAD are allowed"))
        response["Allow"] = "GET, HEAD"
        return response
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("healthz: the database does not answer: %s", type(error).__name__)
        response = envelope(ServiceUnavailable("The database does not answer"))
    else:
        response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response
