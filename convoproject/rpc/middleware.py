from .errors import InternalError, envelope, logger


class ErrorEnvelopeMiddleware:
    """Outermost middleware: an unexpected exception anywhere below becomes a
    500 envelope (logged here with its traceback), never an HTML page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return envelope(InternalError())
